"""GET /api/cities/{city_id}/observations through the local host on Azurite, with the
Open-Meteo stand-in on a clock the test moves: two refreshes recorded, oldest first, in the
metric units of the refresh; only for followers (404 otherwise); bad input 400; and the
purge timer runs through the admin endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from devtools.azurite import Azurite
from shared.adapters.clock import FakeClock
from tests.e2e.test_subscriptions import BERLIN, bearer, clock, subscribe  # noqa: F401
from tests.support.host import LocalHost
from tests.support.weather_standins import OpenMeteoStandIn


@pytest.fixture
def meteo(clock: FakeClock) -> Iterator[OpenMeteoStandIn]:  # noqa: F811
    with OpenMeteoStandIn(clock) as stand_in:
        yield stand_in


@pytest.fixture
def host(
    meteo: OpenMeteoStandIn,
    azurite_factory: Callable[[], Azurite],
    local_host_factory: Callable[..., LocalHost],
) -> LocalHost:
    return local_host_factory(
        storage=azurite_factory(),
        WEATHER_PROVIDER="open-meteo",
        OPEN_METEO_BASE_URL=meteo.base_url,
        OPEN_METEO_GEOCODING_URL=meteo.geocoding_url,
    )


def run_refresh(host: LocalHost, runs_before: int) -> None:
    answer = requests.post(f"{host.url}/admin/functions/refresh_weather", json={"input": ""},
                           timeout=10)  # fmt: skip
    assert answer.status_code == 202
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [r for r in host.log_records() if r.get("message") == "weather refresh"]
        if len(done) > runs_before:
            return
        time.sleep(0.1)
    raise AssertionError("the refresh never finished")


def observations(host: LocalHost, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{host.url}/api/cities/{BERLIN}/observations", params=params,
                        headers=headers, timeout=10)  # fmt: skip


def test_followers_read_what_the_refreshes_recorded_oldest_first(
    host: LocalHost,
    meteo: OpenMeteoStandIn,
    clock: FakeClock,  # noqa: F811
) -> None:
    me = bearer()
    created = subscribe(host, me, city="Berlin")
    assert created.status_code == 201, created.text
    lat, lon = created.json()["city"]["lat"], created.json()["city"]["lon"]
    assert created.json()["weather"]["forecast"]["hours"]  # the forecast rides along
    expected = []
    for run in range(2):
        expected.append(meteo.current_values(lat, lon, "celsius", "ms"))
        run_refresh(host, run)
        clock.advance(minutes=15)  # the stand-in's next slot
    answer = observations(host, me, hours=24)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["next_cursor"] is None
    items = body["items"]
    assert [i["temperature"] for i in items] == [e["temperature_2m"] for e in expected]
    assert items[0]["time"] < items[1]["time"] and items[0]["time"].endswith("Z")
    assert set(items[0]) == {"time", "temperature", "feels_like", "humidity",
                             "precipitation_probability", "conditions"}  # fmt: skip
    assert observations(host, me).json() == body  # hours defaults to 24

    # Only followers: anyone else gets the 404 of a city that does not exist.
    stranger = observations(host, bearer(), hours=24)
    assert stranger.status_code == 404
    assert stranger.headers["Content-Type"].startswith("application/problem+json")
    assert observations(host, {}, hours=24).status_code == 401
    # Bad input: 400 problems, nothing read.
    for params in ({"hours": 0}, {"hours": 169}, {"hours": "a"}, {"hours": 24, "limit": 5},
                   {"cursor": "Zm9v"}, {"cursor": "!"}):  # fmt: skip
        bad = observations(host, me, **params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["type"] == "/problems/validation"
    # A city id of the wrong shape never reaches the function.
    assert requests.get(f"{host.url}/api/cities/Berlin/observations", headers=me,
                        timeout=10).status_code == 404  # fmt: skip

    # The purge timer runs (nothing is 7 days old: everything stays).
    purge = requests.post(f"{host.url}/admin/functions/purge_observations", json={"input": ""},
                          timeout=10)  # fmt: skip
    assert purge.status_code == 202
    deadline = time.monotonic() + 30
    while not any(r.get("message") == "observations purged" for r in host.log_records()):
        assert time.monotonic() < deadline, "the purge never ran"
        time.sleep(0.1)
    assert observations(host, me, hours=24).json() == body
