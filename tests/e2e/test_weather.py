"""Weather and history end to end: the local host, Azurite, and provider stand-ins."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from azure.storage.blob import BlobServiceClient

from devtools.azurite import Azurite
from shared.auth import TokenService
from tests.conftest import TEST_SIGNING_KEY
from tests.support.host import LocalHost
from tests.support.weather_standins import OpenMeteoStandIn, OpenWeatherStandIn

OPENWEATHER_KEY = "ow-secret-key-do-not-leak-0123456789"


def bearer(user_id: str | None = None) -> dict[str, str]:
    user = user_id or f"user-{uuid.uuid4().hex[:10]}"
    token = TokenService(TEST_SIGNING_KEY, 60).issue(user, f"{user}@example.com", datetime.now(UTC))
    return {"Authorization": f"Bearer {token.access_token}"}


@pytest.fixture
def meteo() -> Iterator[OpenMeteoStandIn]:
    with OpenMeteoStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def app(
    meteo: OpenMeteoStandIn,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> tuple[LocalHost, OpenMeteoStandIn, Azurite]:
    storage = azurite_factory()  # its own cache: every test starts uncached
    host = local_host_factory(
        storage=storage,
        WEATHER_PROVIDER="open-meteo",
        OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
        WEATHER_CACHE_TTL_SECONDS="600",
    )
    return host, meteo, storage


def weather(
    host: LocalHost, headers: dict[str, str] | None = None, **params: str
) -> requests.Response:
    return requests.get(f"{host.url}/api/weather", params=params, headers=headers, timeout=15)


def test_lookup_fields_and_units(app: tuple[LocalHost, OpenMeteoStandIn, Azurite]) -> None:
    host, meteo, _ = app
    metric = weather(host, city="Berlin")
    assert metric.status_code == 200
    body = metric.json()
    assert body["city"]["name"] == "Berlin"
    assert body["city"]["country"] == "DE"
    assert set(body["city"]) == {"id", "name", "country", "lat", "lon"}
    for field in ("temperature", "feels_like", "humidity", "pressure", "wind_speed", "clouds",
                  "precipitation_probability", "conditions", "observed_at"):  # fmt: skip
        assert body[field] is not None, field
    assert body["units"] == "metric"
    assert body["source"] == "open-meteo"
    assert (body["cached"], body["stale"]) == (False, False)
    assert body["observed_at"].endswith("Z")
    imperial = weather(host, city="Berlin", units="imperial").json()
    assert imperial["units"] == "imperial"
    assert imperial["temperature"] == pytest.approx(body["temperature"] * 9 / 5 + 32, abs=0.2)
    assert meteo.count("/v1/forecast") == 2  # one per units
    query = [r for r in meteo.requests if r.startswith("/v1/forecast")][1]
    assert "temperature_unit=fahrenheit" in query
    assert "current=" in query


def test_a_second_lookup_is_served_from_the_cache(
    app: tuple[LocalHost, OpenMeteoStandIn, Azurite],
) -> None:
    host, meteo, _ = app
    first = weather(host, city="Berlin").json()
    second = weather(host, city="berlin").json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["temperature"] == first["temperature"]
    assert meteo.count("/v1/forecast") == 1
    assert meteo.count("/v1/search") == 0  # the city index answered, not the geocoder


def test_twenty_concurrent_lookups_of_an_uncached_city_make_one_upstream_request(
    app: tuple[LocalHost, OpenMeteoStandIn, Azurite],
) -> None:
    host, meteo, _ = app
    meteo.delay(0.5)  # the first fetch is still running while the others arrive
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: weather(host, city="Munich"), range(20)))
    assert [a.status_code for a in answers] == [200] * 20
    assert len({a.json()["temperature"] for a in answers}) == 1
    assert meteo.count("/v1/forecast") == 1


def test_country_narrows_and_accents_do_not_matter(
    app: tuple[LocalHost, OpenMeteoStandIn, Azurite],
) -> None:
    host, _, _ = app
    assert weather(host, city="Paris,FR").json()["city"]["country"] == "FR"
    assert weather(host, city="Paris", country="US").json()["city"]["country"] == "US"
    assert weather(host, city="Paris").json()["city"]["country"] == "FR"  # most populous
    assert weather(host, city="sao paulo").json()["city"]["name"] == "São Paulo"
    assert (
        weather(host, city="MÜNCHEN").json()["city"]["id"]
        == weather(host, city="munich").json()["city"]["id"]
    )


def test_names_not_in_the_index_go_to_the_geocoder_once(
    app: tuple[LocalHost, OpenMeteoStandIn, Azurite],
) -> None:
    host, meteo, _ = app
    first = weather(host, city="Zocca", country="IT")
    assert first.status_code == 200
    assert first.json()["city"]["name"] == "Zocca"
    assert meteo.count("/v1/search") == 1
    weather(host, city="Zocca", country="IT")
    assert meteo.count("/v1/search") == 1  # the geocoding answer is cached too


def test_unknown_and_blank_cities(app: tuple[LocalHost, OpenMeteoStandIn, Azurite]) -> None:
    host, _, _ = app
    unknown = weather(host, city="Qwzxyplorf")
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "/problems/city-not-found"
    close = weather(host, city="Lodnon")
    assert close.status_code == 404
    assert "London" in close.json()["detail"]
    for params in ({"city": "  "}, {}, {"city": "Paris", "units": "kelvin"},
                   {"city": "Paris", "country": "France"}):  # fmt: skip
        response = weather(host, **params)
        assert response.status_code == 400, params
        assert response.json()["type"] == "/problems/validation"


def test_provider_failure_serves_stale_data_or_503(
    meteo: OpenMeteoStandIn,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory(
        storage=azurite_factory(),
        WEATHER_PROVIDER="open-meteo",
        OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
        WEATHER_CACHE_TTL_SECONDS="1",
    )
    fresh = weather(host, city="Berlin").json()
    time.sleep(1.2)
    meteo.fail_with(500)
    stale = weather(host, city="Berlin")
    assert stale.status_code == 200
    assert (stale.json()["cached"], stale.json()["stale"]) == (True, True)
    assert stale.json()["temperature"] == fresh["temperature"]
    none = weather(host, city="Paris")
    assert none.status_code == 503
    assert none.json()["type"] == "/problems/upstream-unavailable"
    assert int(none.headers["Retry-After"]) > 0
    meteo.clear_faults()
    assert weather(host, city="Paris").status_code == 200


def test_every_upstream_response_is_archived_without_the_api_key(
    azurite_factory: Callable[[], Azurite], local_host_factory: Callable[..., LocalHost]
) -> None:
    storage = azurite_factory()
    with OpenWeatherStandIn(api_key=OPENWEATHER_KEY) as owm:
        host = local_host_factory(
            storage=storage,
            WEATHER_PROVIDER="openweather",
            OPENWEATHER_BASE_URL=owm.base_url,
            OPENWEATHER_API_KEY=OPENWEATHER_KEY,
        )
        assert weather(host, city="Berlin").status_code == 200
        assert weather(host, city="Zocca", country="IT").status_code == 200  # geocoding too
        owm.fail_with(500)
        assert weather(host, city="Paris").status_code == 503
        upstream = owm.count("/")
        # The session retried the 500 twice (urllib3, inside one call): the caller sees and
        # archives the last answer, so two of the upstream requests have no blob.
        retried = 2
    container = BlobServiceClient.from_connection_string(
        storage.connection_string
    ).get_container_client("weather-raw")
    blobs = list(container.list_blobs(include=["metadata"]))
    assert len(blobs) == upstream - retried >= 4
    statuses = sorted(b.metadata["status"] for b in blobs)
    assert "500" in statuses and "200" in statuses
    for blob in blobs:
        assert blob.name.startswith(f"openweather/{datetime.now(UTC):%Y/%m/%d}/")
        content = container.download_blob(blob.name).readall().decode()
        assert OPENWEATHER_KEY not in content
        assert OPENWEATHER_KEY not in json.dumps(blob.metadata)
    assert OPENWEATHER_KEY not in host.logs


def test_history_order_paging_clearing_and_isolation(
    app: tuple[LocalHost, OpenMeteoStandIn, Azurite],
) -> None:
    host, _, _ = app
    ann, bob = bearer(), bearer()
    cities = ["Berlin", "Paris", "London", "Munich", "sao paulo"]
    for city in cities:
        assert weather(host, ann, city=city).status_code == 200
    weather(host, bob, city="Zocca", country="IT")
    weather(host, None, city="Berlin")  # anonymous: answered, not stored

    def history(headers: dict[str, str], **params: Any) -> requests.Response:
        return requests.get(f"{host.url}/api/history", params=params, headers=headers, timeout=15)

    everything = history(ann, limit=100).json()
    names = [e["city_name"] for e in everything["items"]]
    assert names == ["São Paulo", "Munich", "London", "Paris", "Berlin"]  # newest first
    assert everything["next_cursor"] is None
    entry = everything["items"][0]
    assert set(entry) == {"id", "city_name", "country", "city_id", "timestamp"}
    assert entry["country"] == "BR"
    page1 = history(ann, limit=2).json()
    page2 = history(ann, limit=2, cursor=page1["next_cursor"]).json()
    page3 = history(ann, limit=2, cursor=page2["next_cursor"]).json()
    assert [e["city_name"] for e in page1["items"] + page2["items"] + page3["items"]] == names
    assert page3["next_cursor"] is None
    assert history(ann, cursor="not-a-cursor").status_code == 400
    assert [e["city_name"] for e in history(bob).json()["items"]] == ["Zocca"]

    cleared = requests.delete(f"{host.url}/api/history", headers=ann, timeout=15)
    assert cleared.status_code == 204
    assert history(ann).json()["items"] == []
    assert [e["city_name"] for e in history(bob).json()["items"]] == ["Zocca"]  # untouched
    assert requests.get(f"{host.url}/api/history", timeout=15).status_code == 401
    assert requests.delete(f"{host.url}/api/history", timeout=15).status_code == 401


def test_item3_anonymous_unknown_names_hit_429_and_the_provider_sees_the_budget_only(
    meteo: OpenMeteoStandIn,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    """Issue 18, item 3: 40 anonymous lookups of distinct names the index does not know
    (each one would cost a geocoding call and a cache row). With the limits on and a
    provider budget of 20 a minute: the stand-in sees at most 20 requests, the lookups
    past the budget get 503 with Retry-After, the 31st and later 429 ``rate-limited``
    with Retry-After (problem+json), and the geocoding cache holds at most 20 rows."""
    from azure.data.tables import TableServiceClient

    from shared.services.limits import WEATHER_UPSTREAM_PER_CLIENT

    storage = azurite_factory()  # limits and budget of its own
    host = local_host_factory(
        storage=storage, WEATHER_PROVIDER="open-meteo", OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url, RATE_LIMITS_ENABLED="true",
        WEATHER_RATE_LIMIT_PER_MINUTE="20",
    )  # fmt: skip
    assert weather(host, city="Berlin").status_code == 200  # one upstream call, then cached
    answers = [weather(host, city=f"Qzx{uuid.uuid4().hex[:10]}") for _ in range(40)]
    statuses = [a.status_code for a in answers]
    limit = WEATHER_UPSTREAM_PER_CLIENT.limit - 1  # Berlin counted
    assert statuses[:19] == [404] * 19, statuses  # the rest of the budget
    assert statuses[19:limit] == [503] * (limit - 19), statuses
    assert statuses[limit:] == [429] * (40 - limit), statuses
    for answer in answers[19:]:
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answers[-1].json()["type"] == "/problems/rate-limited"
    assert meteo.count("/") <= 20
    service = TableServiceClient.from_connection_string(storage.connection_string)
    assert len(list(service.get_table_client("geocache").list_entities())) <= 20
    # A cached city is not an upstream lookup: served, not limited.
    cached = weather(host, city="Berlin")
    assert cached.status_code == 200 and cached.json()["cached"] is True


def test_item6_a_forged_x_forwarded_for_does_not_make_a_new_client(
    meteo: OpenMeteoStandIn,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> None:
    """Issue 18, item 6, through the local host, which appends the peer address to
    X-Forwarded-For as App Service's front end does (TRUSTED_PROXY_HOPS=1, as in Azure):
    a caller that sends a different forged address with every request is still one
    client, and hits the per-client limit as one."""
    from shared.services.limits import WEATHER_UPSTREAM_PER_CLIENT

    host = local_host_factory(
        storage=azurite_factory(), WEATHER_PROVIDER="open-meteo",
        OPEN_METEO_BASE_URL=meteo.base_url, OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
        RATE_LIMITS_ENABLED="true", TRUSTED_PROXY_HOPS="1",
        WEATHER_RATE_LIMIT_PER_MINUTE="1000",
    )  # fmt: skip
    statuses = [
        weather(host, {"X-Forwarded-For": f"198.51.100.{i}"},
                city=f"Qzx{uuid.uuid4().hex[:10]}").status_code
        for i in range(WEATHER_UPSTREAM_PER_CLIENT.limit + 1)
    ]  # fmt: skip
    assert statuses == [404] * WEATHER_UPSTREAM_PER_CLIENT.limit + [429], statuses
