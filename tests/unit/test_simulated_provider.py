"""The simulated provider: deterministic per 10-minute bucket, plausible, unit-consistent."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from statistics import mean

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.weather_simulated import SimulatedProvider
from shared.domain.weather import WMO_CODES, City, Observation, RawResponse, describe_wmo

BERLIN = City("2950159", "Berlin", "DE", 52.52437, 13.41053)
SINGAPORE = City("1880252", "Singapore", "SG", 1.28967, 103.85007)
NUUK = City("3421319", "Nuuk", "GL", 64.18347, -51.72157)
CITIES = [BERLIN, SINGAPORE, NUUK]
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def test_same_bucket_same_weather(clock: FakeClock) -> None:
    provider = SimulatedProvider(clock)
    first = provider.current(CITIES, "metric")
    clock.advance(minutes=9, seconds=59)
    assert provider.current(CITIES, "metric") == first
    # A fresh instance (another process) agrees: nothing depends on process state.
    assert SimulatedProvider(FakeClock(START)).current(CITIES, "metric") == first


def test_next_bucket_new_weather(clock: FakeClock) -> None:
    provider = SimulatedProvider(clock)
    first = provider.current(CITIES, "metric")
    clock.advance(minutes=10)
    second = provider.current(CITIES, "metric")

    def measured(obs: Observation) -> tuple[float, ...]:
        return (obs.temperature, obs.humidity, obs.pressure, obs.wind_speed, obs.clouds)

    assert all(measured(second[city.id]) != measured(first[city.id]) for city in CITIES)
    assert all(
        obs.observed_at == datetime(2026, 1, 1, 12, 10, tzinfo=UTC) for obs in second.values()
    )


def test_cities_differ_and_are_keyed_by_id(clock: FakeClock) -> None:
    weather = SimulatedProvider(clock).current(CITIES, "metric")
    assert set(weather) == {city.id for city in CITIES}
    temperatures = {weather[city.id].temperature for city in CITIES}
    assert len(temperatures) == 3


def test_imperial_is_the_metric_weather_converted(clock: FakeClock) -> None:
    provider = SimulatedProvider(clock)
    for _ in range(20):
        metric = provider.current(CITIES, "metric")
        imperial = provider.current(CITIES, "imperial")
        for city in CITIES:
            m, i = metric[city.id], imperial[city.id]
            assert (m.units, i.units) == ("metric", "imperial")
            assert i.temperature == pytest.approx(m.temperature * 9 / 5 + 32, abs=0.06)
            assert i.feels_like == pytest.approx(m.feels_like * 9 / 5 + 32, abs=0.06)
            assert i.wind_speed == pytest.approx(m.wind_speed / 0.44704, abs=0.06)
            same = ("humidity", "pressure", "clouds", "conditions", "precipitation_probability")
            assert all(getattr(i, name) == getattr(m, name) for name in same)
            assert i.observed_at == m.observed_at
        clock.advance(minutes=10)


def test_values_are_plausible_and_latitude_matters(clock: FakeClock) -> None:
    provider = SimulatedProvider(clock)
    known_descriptions = {describe_wmo(code) for code in WMO_CODES}
    tropical, polar = [], []
    for _ in range(150):
        weather = provider.current(CITIES, "metric")
        for obs in weather.values():
            assert -45 <= obs.temperature <= 45
            assert 0 <= obs.humidity <= 100
            assert 0 <= obs.clouds <= 100
            assert 950 <= obs.pressure <= 1050
            assert 0 <= obs.wind_speed <= 40
            assert obs.precipitation_probability is not None
            assert 0 <= obs.precipitation_probability <= 100
            assert obs.conditions in known_descriptions
            assert obs.observed_at.tzinfo is not None
            assert obs.observed_at.utcoffset() == UTC.utcoffset(None)
        tropical.append(weather[SINGAPORE.id].temperature)
        polar.append(weather[NUUK.id].temperature)
        clock.advance(minutes=10)
    assert mean(tropical) > mean(polar) + 15


def test_reports_what_it_generated(clock: FakeClock) -> None:
    reported: list[RawResponse] = []
    provider = SimulatedProvider(clock, on_response=reported.append)
    weather = provider.current([BERLIN, NUUK], "imperial")
    assert len(reported) == 1
    raw = reported[0]
    assert raw.provider == "simulated"
    assert raw.url == "simulated://current?ids=2950159,3421319&units=imperial"
    assert (raw.status, raw.content_type) == (200, "application/json")
    assert raw.city_ids == ("2950159", "3421319")
    assert raw.requested_at == START
    body = json.loads(raw.body)
    assert body[BERLIN.id]["temperature"] == weather[BERLIN.id].temperature
    assert body[NUUK.id]["units"] == "imperial"


def test_a_failing_archive_does_not_fail_the_lookup(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_archive(raw: RawResponse) -> None:
        raise RuntimeError("blob storage down")

    provider = SimulatedProvider(clock, on_response=broken_archive)
    with caplog.at_level(logging.ERROR):
        weather = provider.current([BERLIN], "metric")
    assert BERLIN.id in weather
    assert "archiving a raw simulated response failed" in caplog.text


def test_shape_of_the_provider(clock: FakeClock) -> None:
    provider = SimulatedProvider(clock)
    assert provider.name == "simulated"
    assert provider.max_batch == 100
    assert provider.geocode("Paris") == []
    assert provider.current([], "metric") == {}
