"""Hourly forecasts: from the same Open-Meteo request as the current weather (single and
batched), from OpenWeatherMap's 5 day / 3 hour forecast (a second, counted request), from
the simulation (deterministic), and through the Table cache compactly (Azurite).

Shapes relied on: Open-Meteo's ``hourly``/``hourly_units`` parallel arrays and
``forecast_hours`` ("instead of using the current day as a reference, the current hour is
used", https://open-meteo.com/en/docs); OpenWeatherMap's ``list`` of 3-hour steps with
``pop`` from 0 to 1 (https://openweathermap.org/forecast5).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.adapters.clock import FakeClock
from shared.adapters.http_client import build_session
from shared.adapters.table_weather import GeocodeCache, WeatherCache, forecast_to_json
from shared.adapters.weather_openmeteo import OpenMeteoProvider
from shared.adapters.weather_openweather import OpenWeatherProvider
from shared.adapters.weather_simulated import SimulatedProvider
from shared.container import Container
from shared.domain.errors import UpstreamRateLimited
from shared.domain.weather import CachedObservation, City, RawResponse, describe_wmo
from tests.support.weather_standins import OpenMeteoStandIn, OpenWeatherStandIn

API_KEY = "forecast-test-key"
START = datetime(2026, 1, 1, 12, 7, 30, tzinfo=UTC)
HOUR = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BERLIN = City("2950159", "Berlin", "DE", 52.52437, 13.41053)
PARIS = City("2988507", "Paris", "FR", 48.85341, 2.3488)
SAO_PAULO = City("3448439", "São Paulo", "BR", -23.5475, -46.63611)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with build_session("forecast-tests") as session:
        yield session


@pytest.fixture
def reported() -> list[RawResponse]:
    return []


@pytest.fixture
def open_meteo(clock: FakeClock) -> Iterator[OpenMeteoStandIn]:
    with OpenMeteoStandIn(clock) as standin:
        yield standin


@pytest.fixture
def meteo(
    session: requests.Session, open_meteo: OpenMeteoStandIn, clock: FakeClock,
    reported: list[RawResponse],
) -> OpenMeteoProvider:  # fmt: skip
    return OpenMeteoProvider(
        session, open_meteo.base_url, open_meteo.geocoding_url, reported.append, clock
    )


@pytest.fixture
def openweather(clock: FakeClock) -> Iterator[OpenWeatherStandIn]:
    with OpenWeatherStandIn(API_KEY, clock) as standin:
        yield standin


@pytest.fixture
def owm(
    session: requests.Session, openweather: OpenWeatherStandIn, clock: FakeClock,
    reported: list[RawResponse],
) -> OpenWeatherProvider:  # fmt: skip
    return OpenWeatherProvider(session, openweather.base_url, API_KEY, reported.append, clock)


# -- Open-Meteo -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "temperature_unit", "wind_speed_unit"),
    [("metric", "celsius", "ms"), ("imperial", "fahrenheit", "mph")],
)
def test_open_meteo_forecast_comes_in_the_same_request(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn, units: str,
    temperature_unit: str, wind_speed_unit: str,
) -> None:  # fmt: skip
    observation = meteo.current([BERLIN], units)[BERLIN.id]  # type: ignore[arg-type]
    assert open_meteo.count("/v1/forecast") == 1
    target = open_meteo.requests[0]
    assert "hourly=temperature_2m,precipitation_probability,weather_code,wind_speed_10m" in target
    assert "forecast_hours=24" in target
    assert observation.forecast is not None
    hours = observation.forecast
    assert [h.time for h in hours] == [HOUR + timedelta(hours=i) for i in range(24)]
    for hour in hours:
        expected = open_meteo.hourly_values(
            BERLIN.lat, BERLIN.lon, hour.time, temperature_unit, wind_speed_unit
        )
        assert hour.temperature == expected["temperature_2m"]
        assert hour.precipitation_probability == expected["precipitation_probability"]
        assert hour.conditions == describe_wmo(expected["weather_code"])
        assert hour.wind_speed == expected["wind_speed_10m"]


def test_open_meteo_batched_answer_carries_each_location_its_forecast(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn, reported: list[RawResponse]
) -> None:
    weather = meteo.current([BERLIN, PARIS, SAO_PAULO], "metric")
    assert open_meteo.count("/v1/forecast") == 1
    body = json.loads(reported[0].body)  # the raw answer: a list, each with its hourly block
    assert isinstance(body, list) and len(body) == 3
    assert all(set(item["hourly"]) >= {"time", "temperature_2m"} for item in body)
    assert all(item["hourly_units"]["temperature_2m"] == "°C" for item in body)
    for city in (BERLIN, PARIS, SAO_PAULO):
        forecast = weather[city.id].forecast
        assert forecast is not None and len(forecast) == 24
        expected = open_meteo.hourly_values(city.lat, city.lon, HOUR + timedelta(hours=5),
                                            "celsius", "ms")  # fmt: skip
        assert forecast[5].temperature == expected["temperature_2m"]


def test_open_meteo_numbered_batched_answer_keeps_forecasts_with_their_cities(
    session: requests.Session, clock: FakeClock
) -> None:
    with OpenMeteoStandIn(clock, number_locations=True) as standin:
        provider = OpenMeteoProvider(session, standin.base_url, standin.geocoding_url, None,
                                     clock)  # fmt: skip
        weather = provider.current([BERLIN, SAO_PAULO], "metric")
        for city in (BERLIN, SAO_PAULO):
            forecast = weather[city.id].forecast
            assert forecast is not None
            expected = standin.hourly_values(city.lat, city.lon, HOUR, "celsius", "ms")
            assert forecast[0].temperature == expected["temperature_2m"]


def test_open_meteo_standin_answers_forecast_days_from_midnight(
    session: requests.Session, open_meteo: OpenMeteoStandIn
) -> None:
    answer = session.get(
        f"{open_meteo.base_url}/forecast",
        params={"latitude": "52.52,48.85", "longitude": "13.41,2.35",
                "hourly": "temperature_2m", "forecast_days": "1", "timezone": "GMT"},
        timeout=5,
    ).json()  # fmt: skip
    assert [len(item["hourly"]["time"]) for item in answer] == [24, 24]
    assert answer[0]["hourly"]["time"][0] == "2026-01-01T00:00"
    assert "current" not in answer[0]


def test_open_meteo_without_hourly_block_has_no_forecast_but_keeps_the_weather(
    meteo: OpenMeteoProvider, open_meteo: OpenMeteoStandIn
) -> None:
    answer = open_meteo.current_values(BERLIN.lat, BERLIN.lon, "celsius", "ms")
    body = {"latitude": 52.52, "longitude": 13.41, "utc_offset_seconds": 0,
            "current": {"time": "2026-01-01T12:00", **answer},
            "hourly": {"time": ["2026-01-01T12:00"], "temperature_2m": [1.0, 2.0]}}  # fmt: skip
    open_meteo.fail_with(200, body=json.dumps(body).encode(), times=1)
    observation = meteo.current([BERLIN], "metric")[BERLIN.id]
    assert observation.temperature == answer["temperature_2m"]
    assert observation.forecast is None  # arrays of different lengths: left out


# -- OpenWeatherMap ---------------------------------------------------------------------------


def test_openweather_forecast_is_a_second_archived_request(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn, reported: list[RawResponse]
) -> None:
    assert owm.requests_per_batch == 2
    observation = owm.current([PARIS], "metric")[PARIS.id]
    assert openweather.count("/data/2.5/weather") == 1
    assert openweather.count("/data/2.5/forecast") == 1
    assert "cnt=9" in openweather.requests[1] and "units=metric" in openweather.requests[1]
    assert len(reported) == 2 and API_KEY not in reported[1].url
    expected = openweather.forecast_values(PARIS.lat, PARIS.lon, "metric", 9)["list"]
    forecast = observation.forecast
    assert forecast is not None and len(forecast) == 9
    assert forecast[0].time == datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    assert forecast[-1].time - START >= timedelta(hours=24)  # covers the next 24 hours
    for hour, step in zip(forecast, expected, strict=True):
        assert hour.temperature == step["main"]["temp"]
        assert hour.precipitation_probability == round(step["pop"] * 100)
        assert hour.conditions == step["weather"][0]["description"]
        assert hour.wind_speed == step["wind"]["speed"]


def test_openweather_forecast_failure_leaves_the_forecast_out_but_a_429_stops(
    owm: OpenWeatherProvider, openweather: OpenWeatherStandIn, reported: list[RawResponse]
) -> None:
    openweather.fail_path("/data/2.5/forecast", 404, times=1)
    observation = owm.current([PARIS], "metric")[PARIS.id]
    assert observation.forecast is None  # the current weather stays
    current = openweather.current_values(PARIS.lat, PARIS.lon, "metric")
    assert observation.temperature == current["main"]["temp"]
    assert [r.status for r in reported] == [200, 404]  # both archived
    openweather.fail_path("/data/2.5/forecast", 429, headers={"Retry-After": "42"}, times=1)
    with pytest.raises(UpstreamRateLimited) as raised:
        owm.current([PARIS], "metric")
    assert raised.value.retry_after == 42


# -- simulated --------------------------------------------------------------------------------


def test_simulated_forecast_is_deterministic_hourly_and_unit_consistent(clock: FakeClock) -> None:
    provider = SimulatedProvider(clock)
    first = provider.current([BERLIN], "metric")[BERLIN.id].forecast
    assert first is not None
    assert [h.time for h in first] == [HOUR + timedelta(hours=i) for i in range(24)]
    clock.advance(minutes=30)  # a new 10-minute bucket, the same hour: the same forecast
    assert SimulatedProvider(clock).current([BERLIN], "metric")[BERLIN.id].forecast == first
    imperial = provider.current([BERLIN], "imperial")[BERLIN.id].forecast
    assert imperial is not None
    for m, i in zip(first, imperial, strict=True):
        assert i.temperature == pytest.approx(m.temperature * 9 / 5 + 32, abs=0.06)
        assert (i.time, i.conditions, i.precipitation_probability) == (
            m.time, m.conditions, m.precipitation_probability)  # fmt: skip
    clock.advance(hours=1)
    later = provider.current([BERLIN], "metric")[BERLIN.id].forecast
    assert later is not None and later[:23] == first[1:]  # the window moved on by an hour
    temperatures = [h.temperature for h in first]
    assert max(temperatures) - min(temperatures) < 16  # a day's curve, not noise


# -- the cache --------------------------------------------------------------------------------


def test_forecast_round_trips_through_the_table_cache_compactly(
    make_container: Callable[..., Container], clock: FakeClock, owm: OpenWeatherProvider,
    meteo: OpenMeteoProvider,
) -> None:  # fmt: skip
    cache = WeatherCache(make_container(clock=clock).table("weathercache"))
    for provider in (meteo, owm, SimulatedProvider(clock)):
        observation = provider.current([SAO_PAULO], "imperial")[SAO_PAULO.id]
        assert observation.forecast
        cache.put(provider.name, "imperial", CachedObservation(SAO_PAULO, observation, START))
        again = cache.get(provider.name, "imperial", SAO_PAULO.id)
        assert again is not None and again.observation == observation
        text = forecast_to_json(observation.forecast)
        assert text is not None and len(text.encode()) < 1200  # far under 64 KB
    no_forecast = CachedObservation(PARIS, meteo.current([PARIS], "metric")[PARIS.id], START)
    from dataclasses import replace

    bare = replace(no_forecast, observation=replace(no_forecast.observation, forecast=None))
    cache.put("open-meteo", "metric", no_forecast)  # a row with a forecast, then one without:
    cache.put("open-meteo", "metric", bare)  # the old forecast must not survive (a merge kept it)
    stored = cache.get("open-meteo", "metric", PARIS.id)
    assert stored is not None and stored.observation.forecast is None


def test_a_geocoding_miss_replaces_an_earlier_hit(
    make_container: Callable[..., Container], clock: FakeClock
) -> None:
    """The SDK leaves out a property whose value is None, and its upsert merges by default:
    a miss written over a hit kept the hit's city. Both caches replace the whole row."""
    cache = GeocodeCache(make_container(clock=clock).table("geocache"))
    key = f"paris|fr|{clock.now().timestamp()}"
    cache.put("open-meteo", key, PARIS, START)
    assert cache.get("open-meteo", key, START) == (True, PARIS)
    cache.put("open-meteo", key, None, START)
    assert cache.get("open-meteo", key, START) == (True, None)
