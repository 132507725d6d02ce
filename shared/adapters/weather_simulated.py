"""Simulated weather: plausible, deterministic, offline.

Used when no provider can be reached (local runs without internet, CI, the e2e suite).
Values come from a hash of the city id and the 10-minute bucket of the injected clock, so
the same city gives the same weather within a bucket (like a cached provider would) and
new weather in the next one, and tests can move the clock to see it change. Metric values
are drawn once per (city, bucket) and imperial values are converted from them, so the two
unit systems always describe the same weather.

Temperatures follow a day's curve (warmest mid-afternoon solar time, a warmer or colder
day drawn per city and UTC day, blended across midnight) with a little noise per bucket,
so the last 24 hours drawn from the refreshes have a shape. The hourly forecast (the next
24 hours from the current hour) follows the same curve with noise drawn per city and
hour: deterministic, stable across refreshes within the hour, and consistent with what
the refreshes will later observe.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.adapters.http_client import report_response
from shared.domain.weather import (
    FORECAST_HOURS,
    City,
    ForecastHour,
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
    requests_per_batch = 1

    def __init__(
        self, clock: Clock, on_response: Callable[[RawResponse], None] | None = None
    ) -> None:
        self._clock = clock
        self._on_response = on_response

    def current(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        now = self._clock.now().astimezone(UTC)
        bucket_start = _bucket_start(now)
        observations = {
            city.id: replace(
                simulate(city, units, bucket_start), forecast=simulate_forecast(city, units, now)
            )
            for city in cities
        }
        if self._on_response is not None:
            ids = [city.id for city in cities]
            body = json.dumps(
                {
                    city_id: {
                        **obs.to_dict(),
                        "forecast": [hour.to_dict() for hour in obs.forecast or ()],
                    }
                    for city_id, obs in observations.items()
                },
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
    # The day's curve at this city, ±1.5 °C of noise on top.
    temperature = day_curve(city, bucket_start) + (draws.next() - 0.5) * 3.0
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


def day_curve(city: City, moment: datetime) -> float:
    """Metric temperature of the simulation's smooth weather at ``moment``: warm at the
    equator, cold near the poles, ±5 °C of a day's weather (blended across midnight UTC),
    ±4 °C of day and night (warmest at 15:00 solar time)."""
    moment = moment.astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    through = (moment - day).total_seconds() / 86400.0

    def day_offset(start: datetime) -> float:
        return (_Draws(f"{city.id}|day|{start.date().isoformat()}").next() - 0.5) * 10.0

    offset = day_offset(day) * (1 - through) + day_offset(day + timedelta(days=1)) * through
    solar_hour = (moment.hour + moment.minute / 60.0 + city.lon / 15.0) % 24.0
    diurnal = 4.0 * math.cos(2 * math.pi * (solar_hour - 15.0) / 24.0)
    return 28.0 - 0.45 * abs(city.lat) + offset + diurnal


def simulate_forecast(city: City, units: Units, now: datetime) -> tuple[ForecastHour, ...]:
    """The next ``FORECAST_HOURS`` hours from the current hour; a forecast hour depends only
    on the city and the hour, so refreshes within an hour agree."""
    first = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    for index in range(FORECAST_HOURS):
        hour = first + timedelta(hours=index)
        draws = _Draws(f"{city.id}|hour|{int(hour.timestamp())}")
        temperature = round(day_curve(city, hour) + (draws.next() - 0.5) * 1.6, 1)
        # Rain comes in spells: the chance is drawn per six-hour block, then varied.
        block = _Draws(f"{city.id}|block|{int(hour.timestamp()) // 21600}").next()
        clouds = int(min(100.0, block * 110 + draws.next() * 10))
        code = _weather_code(clouds, temperature, draws.next())
        wet = code >= 51
        probability = min(100, int(40 + block * 60)) if wet else int(block * clouds * 0.4)
        wind = round(draws.next() ** 2 * 15.0, 1)
        if units == "imperial":
            shown_temperature = round(celsius_to_fahrenheit(temperature), 1)
            shown_wind = round(metres_per_second_to_mph(wind), 1)
        else:
            shown_temperature, shown_wind = temperature, wind
        hours.append(
            ForecastHour(hour, shown_temperature, probability, describe_wmo(code), shown_wind)
        )
    return tuple(hours)


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
