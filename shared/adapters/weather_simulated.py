"""Simulated weather: plausible, deterministic, offline.

Used when no provider can be reached (local runs without internet, CI, the e2e suite).
Values come from a hash of the city id and the 10-minute bucket of the injected clock, so
the same city gives the same weather within a bucket (like a cached provider would) and
new weather in the next one, and tests can move the clock to see it change. Metric values
are drawn once per (city, bucket) and imperial values are converted from them, so the two
unit systems always describe the same weather.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.adapters.http_client import report_response
from shared.domain.weather import (
    City,
    Observation,
    RawResponse,
    Units,
    celsius_to_fahrenheit,
    describe_wmo,
    metres_per_second_to_mph,
)
from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.ports import Clock

logger = get_logger(__name__)

BUCKET_SECONDS = 600

# Weather codes by how cloudy it is; wet codes are picked by temperature (snow below 1 °C).
_DRY_CODES = (3, 3, 45)
_RAIN_CODES = (51, 61, 63, 80, 81, 95)
_SNOW_CODES = (71, 73, 85)


class SimulatedProvider:
    """WeatherProvider with no network; answers for any city, geocodes nothing."""

    name = "simulated"
    max_batch = 100

    def __init__(
        self, clock: Clock, on_response: Callable[[RawResponse], None] | None = None
    ) -> None:
        self._clock = clock
        self._on_response = on_response

    def current(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        now = self._clock.now().astimezone(UTC)
        bucket_start = _bucket_start(now)
        observations = {city.id: simulate(city, units, bucket_start) for city in cities}
        if self._on_response is not None:
            ids = [city.id for city in cities]
            body = json.dumps(
                {city_id: obs.to_dict() for city_id, obs in observations.items()},
                separators=(",", ":"),
            ).encode()
            report_response(
                self._on_response,
                RawResponse(
                    provider=self.name,
                    url=f"simulated://current?ids={','.join(ids)}&units={units}",
                    status=200,
                    body=body,
                    content_type="application/json",
                    requested_at=now,
                    city_ids=tuple(ids),
                ),
                logger,
            )
        return observations

    def geocode(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """The simulation knows no places of its own; the city index does the resolving."""
        return []


def _bucket_start(moment: datetime) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_SECONDS, UTC)


class _Draws:
    """Uniform numbers in [0, 1) taken in turn from a SHA-256 digest (stable across
    processes and Python versions, unlike ``hash()``)."""

    def __init__(self, seed: str) -> None:
        self._digest = hashlib.sha256(seed.encode()).digest()
        self._position = 0

    def next(self) -> float:
        chunk = self._digest[self._position : self._position + 2]
        self._position = (self._position + 2) % len(self._digest)
        return int.from_bytes(chunk, "big") / 65536.0


def simulate(city: City, units: Units, bucket_start: datetime) -> Observation:
    """The simulated weather of ``city`` during the bucket starting at ``bucket_start``."""
    draws = _Draws(f"{city.id}|{int(bucket_start.timestamp())}")
    # Warm at the equator, cold near the poles, ±7 °C of weather on top.
    temperature = 28.0 - 0.45 * abs(city.lat) + (draws.next() - 0.5) * 14.0
    humidity = 30 + int(draws.next() * 66)  # 30..95 %
    pressure = 985.0 + draws.next() * 50.0  # 985..1035 hPa
    wind_speed = draws.next() ** 2 * 15.0  # mostly calm, sometimes 15 m/s
    clouds = int(draws.next() * 101)  # 0..100 %
    code = _weather_code(clouds, temperature, draws.next())
    if temperature < 10.0:  # wind chill
        feels_like = temperature - wind_speed * 0.7
    else:  # humidity makes heat feel hotter
        feels_like = temperature + (humidity - 50) * 0.05
    wet = code >= 51
    probability = int(40 + draws.next() * 60) if wet else int(draws.next() * clouds * 0.4)

    temperature_c, feels_like_c = round(temperature, 1), round(feels_like, 1)
    wind_ms = round(wind_speed, 1)
    if units == "imperial":
        shown_temperature = round(celsius_to_fahrenheit(temperature_c), 1)
        shown_feels_like = round(celsius_to_fahrenheit(feels_like_c), 1)
        shown_wind = round(metres_per_second_to_mph(wind_ms), 1)
    else:
        shown_temperature, shown_feels_like, shown_wind = temperature_c, feels_like_c, wind_ms
    return Observation(
        temperature=shown_temperature,
        feels_like=shown_feels_like,
        humidity=humidity,
        pressure=round(pressure, 1),
        wind_speed=shown_wind,
        clouds=clouds,
        precipitation_probability=probability,
        conditions=describe_wmo(code),
        observed_at=bucket_start,
        units=units,
    )


def _weather_code(clouds: int, temperature: float, draw: float) -> int:
    if clouds < 15:
        return 0
    if clouds < 40:
        return 1
    if clouds < 70:
        return 2
    if draw < 0.5:
        return _DRY_CODES[int(draw * 2 * len(_DRY_CODES))]
    wet = _SNOW_CODES if temperature < 1.0 else _RAIN_CODES
    return wet[int((draw - 0.5) * 2 * len(wet))]
