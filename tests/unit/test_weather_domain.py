"""The weather domain: WMO descriptions, the city and observation bodies, unit conversion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.weather import (
    WMO_CODES,
    City,
    Observation,
    celsius_to_fahrenheit,
    describe_wmo,
    metres_per_second_to_mph,
)


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (0, "clear sky"),
        (1, "mainly clear"),
        (2, "partly cloudy"),
        (3, "overcast"),
        (45, "fog"),
        (48, "depositing rime fog"),
        (51, "light drizzle"),
        (55, "dense drizzle"),
        (56, "light freezing drizzle"),
        (61, "slight rain"),
        (65, "heavy rain"),
        (67, "heavy freezing rain"),
        (71, "slight snow fall"),
        (77, "snow grains"),
        (80, "slight rain showers"),
        (82, "violent rain showers"),
        (85, "slight snow showers"),
        (86, "heavy snow showers"),
        (95, "thunderstorm"),
        (96, "thunderstorm with slight hail"),
        (99, "thunderstorm with heavy hail"),
    ],
)
def test_wmo_codes_are_described_as_open_meteo_documents_them(code: int, description: str) -> None:
    assert describe_wmo(code) == description


@pytest.mark.parametrize("code", [-1, 4, 50, 100, 1000])
def test_unknown_wmo_code_is_unknown(code: int) -> None:
    assert describe_wmo(code) == "unknown"


def test_every_documented_wmo_code_has_a_description() -> None:
    documented = {0, 1, 2, 3, 45, 48, 51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 71, 73, 75, 77}
    documented |= {80, 81, 82, 85, 86, 95, 96, 99}
    assert documented == WMO_CODES
    assert all(describe_wmo(code) != "unknown" for code in documented)


def test_city_to_dict_is_the_city_object_of_the_weather_body() -> None:
    city = City(
        "2988507", "Paris", "FR", 48.85341, 2.3488, population=2138551, timezone="Europe/Paris"
    )
    assert city.to_dict() == {
        "id": "2988507",
        "name": "Paris",
        "country": "FR",
        "lat": 48.85341,
        "lon": 2.3488,
    }


def test_observation_to_dict_writes_utc_times_with_z() -> None:
    observation = Observation(
        temperature=3.4,
        feels_like=-0.6,
        humidity=81,
        pressure=1012.3,
        wind_speed=4.2,
        clouds=100,
        precipitation_probability=None,
        conditions="overcast",
        observed_at=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        units="metric",
    )
    body = observation.to_dict()
    assert body["observed_at"] == "2026-01-01T12:00:00Z"
    assert body["precipitation_probability"] is None
    assert set(body) == {
        "temperature", "feels_like", "humidity", "pressure", "wind_speed", "clouds",
        "precipitation_probability", "conditions", "units", "observed_at",
    }  # fmt: skip


def test_unit_conversions() -> None:
    assert celsius_to_fahrenheit(0) == 32
    assert celsius_to_fahrenheit(100) == 212
    assert celsius_to_fahrenheit(-40) == -40
    assert metres_per_second_to_mph(0.44704) == pytest.approx(1.0)
    assert metres_per_second_to_mph(10) == pytest.approx(22.369, abs=1e-3)
