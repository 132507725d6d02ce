"""Subscriptions end to end: the local host on Azurite, the Open-Meteo stand-in (on a clock
the test moves), real accounts for the plans, the refresh run through the admin endpoint."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from devtools.azurite import Azurite
from shared.adapters.clock import FakeClock
from shared.auth import TokenService
from tests.conftest import TEST_SIGNING_KEY
from tests.e2e.test_accounts import signed_up
from tests.support.host import LocalHost
from tests.support.smtp import SmtpServer
from tests.support.weather_standins import OpenMeteoStandIn

BERLIN = "2950159"


def bearer(token: str | None = None) -> dict[str, str]:
    if token is None:
        user = f"user-{uuid.uuid4().hex[:10]}"
        token = (
            TokenService(TEST_SIGNING_KEY, 60)
            .issue(user, f"{user}@example.com", datetime.now(UTC))
            .access_token
        )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
def meteo(clock: FakeClock) -> Iterator[OpenMeteoStandIn]:
    with OpenMeteoStandIn(clock) as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def host(
    meteo: OpenMeteoStandIn,
    smtp: SmtpServer,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> LocalHost:
    return local_host_factory(
        storage=azurite_factory(),  # a subscribed set and a cache of its own
        WEATHER_PROVIDER="open-meteo",
        OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
        EMAIL_PROVIDER="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        ADMIN_EMAILS="boss@example.com",
    )


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("the condition never held")


def wait_for_summary(host: LocalHost) -> dict[str, Any]:
    """The refresh's one summary line (written when the run ends, after the cache)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for record in host.log_records():
            if record.get("message") == "weather refresh":
                return record
        time.sleep(0.1)
    raise AssertionError("no summary line")


def subscriptions(host: LocalHost, headers: dict[str, str]) -> dict[str, Any]:
    answer = requests.get(f"{host.url}/api/subscriptions", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def subscribe(host: LocalHost, headers: dict[str, str], **body: str) -> requests.Response:
    return requests.post(f"{host.url}/api/subscriptions", json=body, headers=headers, timeout=15)


def test_subscribe_refresh_and_the_list_shows_the_fresh_weather(
    host: LocalHost, meteo: OpenMeteoStandIn, clock: FakeClock
) -> None:
    me = bearer()
    created = subscribe(host, me, city="Berlin")
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"city", "subscribed_at", "weather"}
    assert body["city"]["id"] == BERLIN
    assert created.headers["Location"] == f"/api/subscriptions/{BERLIN}"
    lat, lon = body["city"]["lat"], body["city"]["lon"]
    before = meteo.current_values(lat, lon, "celsius", "ms")["temperature_2m"]
    assert body["weather"]["temperature"] == pytest.approx(before)
    listed = subscriptions(host, me)
    assert (listed["plan"], listed["limit"], listed["used"]) == ("basic", 3, 1)
    assert listed["items"][0]["weather"]["temperature"] == pytest.approx(before)

    clock.advance(minutes=15)  # the provider's next slot: new weather
    after = meteo.current_values(lat, lon, "celsius", "ms")["temperature_2m"]
    assert after != pytest.approx(before)
    run = requests.post(f"{host.url}/admin/functions/refresh_weather", json={"input": ""},
                        timeout=10)  # fmt: skip
    assert run.status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        weather = subscriptions(host, me)["items"][0]["weather"]
        if weather["temperature"] == pytest.approx(after):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the refresh never reached GET /api/subscriptions")
    assert weather["observed_at"].endswith("Z")
    assert meteo.count("/v1/forecast") == 2  # the subscribe's lookup and one refresh batch
    summary = wait_for_summary(host)
    assert (summary["cities"], summary["requests"], summary["refreshed"]) == (1, 1, 1)
    assert summary["rate_limited"] == 0 and "duration_ms" in summary
    # /api/weather reads the same cache: no upstream call.
    looked = requests.get(f"{host.url}/api/weather", params={"city": "Berlin"}, timeout=10)
    assert looked.json()["temperature"] == pytest.approx(after)
    assert meteo.count("/v1/forecast") == 2

    # What a run leaves for later comes back through the weather-refresh queue trigger.
    clock.advance(minutes=15)
    later = meteo.current_values(lat, lon, "celsius", "ms")["temperature_2m"]
    message = json.dumps({"run": datetime.now(UTC).isoformat(), "cities": [BERLIN]})
    run = requests.post(f"{host.url}/admin/functions/refresh_weather_deferred",
                        json={"input": message}, timeout=10)  # fmt: skip
    assert run.status_code == 202
    wait_until(lambda: subscriptions(host, me)["items"][0]["weather"]["temperature"]
               == pytest.approx(later))  # fmt: skip
    assert meteo.count("/v1/forecast") == 3


def test_quota_plan_change_duplicates_and_misses_over_http(
    host: LocalHost, smtp: SmtpServer
) -> None:
    _, user_token = signed_up(host, smtp)
    _, admin_token = signed_up(host, smtp, "boss@example.com")
    me, admin = bearer(user_token), bearer(admin_token)
    user_id = requests.get(f"{host.url}/api/me", headers=me, timeout=10).json()["id"]
    for name in ("Berlin", "Paris,FR", "London"):
        assert subscribe(host, me, city=name).status_code == 201
    refused = subscribe(host, me, city="Munich")
    assert refused.status_code == 403
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.json()["type"] == "/problems/quota-exceeded"

    promoted = requests.put(f"{host.url}/api/users/{user_id}/plan", json={"plan": "premium"},
                            headers=admin, timeout=10)  # fmt: skip
    assert promoted.status_code == 200
    assert subscribe(host, me, city="Munich").status_code == 201  # at once
    listed = subscriptions(host, me)
    assert (listed["plan"], listed["limit"], listed["used"]) == ("premium", 15, 4)

    again = subscribe(host, me, city="berlin")
    assert (again.status_code, again.json()["type"]) == (409, "/problems/already-subscribed")
    missing = subscribe(host, me, city="Berlinn")
    assert (missing.status_code, missing.json()["type"]) == (404, "/problems/city-not-found")
    assert "Berlin" in missing.json()["detail"]
    assert subscribe(host, me, city="Berlin", extra="x").status_code == 400
    assert subscribe(host, me, city="  ").status_code == 400
    # Control characters: a 400, as for GET /api/weather (they reached Table keys: a 500).
    assert subscribe(host, me, city="\x9fBerlin\x15").status_code == 400

    delete = lambda city_id: requests.delete(  # noqa: E731
        f"{host.url}/api/subscriptions/{city_id}", headers=me, timeout=10
    )
    assert delete(BERLIN).status_code == 204
    assert delete(BERLIN).status_code == 404
    assert delete("ow:48.8566,2.3522").status_code == 404
    assert delete("Berlin").status_code == 404  # not a city id: routing says no
    assert delete("%2F..%2F").status_code == 404
    assert subscriptions(host, me)["used"] == 3
    assert requests.get(f"{host.url}/api/subscriptions", timeout=10).status_code == 401
