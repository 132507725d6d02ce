"""Weather as the application sees it, whichever provider measured it.

Providers answer in their own shapes and units; adapters translate into these types so that
services, caches and the API body never depend on one provider. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Units = Literal["metric", "imperial"]
"""metric: °C and m/s; imperial: °F and mph. Pressure (hPa) and percentages in both."""

UNITS: tuple[Units, ...] = ("metric", "imperial")


@dataclass(frozen=True)
class City:
    """A place we can ask a provider about.

    ``id`` is the GeoNames id for cities of our index and of Open-Meteo's geocoder (the same
    numbering), or a provider-specific id (``ow:lat,lon``) for places only a provider knows.
    """

    id: str
    name: str
    country: str  # ISO 3166-1 alpha-2, upper case
    lat: float
    lon: float
    population: int = 0
    timezone: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``city`` object of the weather body (API.md)."""
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "lat": self.lat,
            "lon": self.lon,
        }


FORECAST_HOURS = 24
"""Hours ahead a forecast covers (API.md: at least the next 24 hours from the current hour)."""


@dataclass(frozen=True)
class ForecastHour:
    """One step of a forecast: the hour it starts (aware UTC) and what is expected then,
    in the observation's units. Open-Meteo and the simulation step hourly; OpenWeatherMap's
    free forecast steps every three hours (its steps are reported as they are)."""

    time: datetime
    temperature: float
    precipitation_probability: int | None
    conditions: str
    wind_speed: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "temperature": self.temperature,
            "precipitation_probability": self.precipitation_probability,
            "conditions": self.conditions,
            "wind_speed": self.wind_speed,
        }


@dataclass(frozen=True)
class Observation:
    """Current conditions at one city, in the units asked for.

    ``precipitation_probability`` is None when the provider does not forecast it.
    ``observed_at`` is the provider's measurement time (aware UTC), not the time we asked.
    ``forecast``: the hours ahead the same answer carried (None when the provider gave none).
    """

    temperature: float
    feels_like: float
    humidity: int
    pressure: float
    wind_speed: float
    clouds: int
    precipitation_probability: int | None
    conditions: str
    observed_at: datetime
    units: Units
    forecast: tuple[ForecastHour, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The measured fields of the weather body, ``observed_at`` as ISO 8601 with ``Z``
        (the forecast is rendered apart: ``forecast_dict``)."""
        return {
            "temperature": self.temperature,
            "feels_like": self.feels_like,
            "humidity": self.humidity,
            "pressure": self.pressure,
            "wind_speed": self.wind_speed,
            "clouds": self.clouds,
            "precipitation_probability": self.precipitation_probability,
            "conditions": self.conditions,
            "units": self.units,
            "observed_at": self.observed_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class RawResponse:
    """One provider answer exactly as received, for the archive (API.md: every raw response
    is archived). ``url`` never carries a secret: adapters redact keys before building it."""

    provider: str
    url: str
    status: int
    body: bytes
    content_type: str
    requested_at: datetime
    city_ids: tuple[str, ...]


def forecast_dict(forecast: tuple[ForecastHour, ...] | None) -> dict[str, Any] | None:
    """The ``forecast`` object of the weather body: ``{"hours": [...]}``, or None."""
    if forecast is None:
        return None
    return {"hours": [hour.to_dict() for hour in forecast]}


# WMO weather interpretation codes (WW), the subset Open-Meteo reports.
_WMO_DESCRIPTIONS: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "depositing rime fog",
    51: "light drizzle",
    53: "moderate drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "dense freezing drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "heavy freezing rain",
    71: "slight snow fall",
    73: "moderate snow fall",
    75: "heavy snow fall",
    77: "snow grains",
    80: "slight rain showers",
    81: "moderate rain showers",
    82: "violent rain showers",
    85: "slight snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}

WMO_CODES: frozenset[int] = frozenset(_WMO_DESCRIPTIONS)


def describe_wmo(code: int) -> str:
    """Plain-English conditions for a WMO weather code; "unknown" for codes outside the table
    (a provider adding codes must not break a lookup)."""
    return _WMO_DESCRIPTIONS.get(code, "unknown")


def celsius_to_fahrenheit(celsius: float) -> float:
    return celsius * 9.0 / 5.0 + 32.0


def metres_per_second_to_mph(speed: float) -> float:
    # 1 mph is exactly 0.44704 m/s (international mile).
    return speed / 0.44704


@dataclass(frozen=True)
class CachedObservation:
    """An observation of a city as cached, with when it was fetched from the provider."""

    city: City
    observation: Observation
    fetched_at: datetime
