"""Open-Meteo: current weather for many cities in one request, and its geocoder.

Open-Meteo needs no key and accepts comma-separated coordinates, answering one JSON object
for one location and a JSON list (in request order) for several; we batch up to
``max_batch`` cities per request, which is what keeps the refresh timer inside the rate
limit. ``timezone=GMT`` makes ``current.time`` a UTC wall-clock time.

The hourly forecast comes in the same request (``hourly=`` variables with
``forecast_hours=24``: "instead of using the current day as a reference, the current hour
is used", https://open-meteo.com/en/docs), as parallel arrays under ``hourly`` with their
units under ``hourly_units``, per location in the batched list too; so the forecast costs
no extra request.

Every answer (success or error) is handed to ``on_response`` before it is interpreted, so
the archive holds exactly what the provider said even when we could not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from shared.adapters.http_client import TIMEOUT, error_field, get_json, malformed
from shared.domain.errors import UpstreamUnavailable
from shared.domain.weather import (
    FORECAST_HOURS,
    City,
    ForecastHour,
    Observation,
    RawResponse,
    Units,
    describe_wmo,
)
from shared.logging import get_logger

if TYPE_CHECKING:
    import requests

    from shared.ports import Clock

logger = get_logger(__name__)

CURRENT_VARIABLES = (
    "temperature_2m",
    "apparent_temperature",
    "relative_humidity_2m",
    "surface_pressure",
    "wind_speed_10m",
    "cloud_cover",
    "precipitation_probability",
    "weather_code",
)

HOURLY_VARIABLES = (
    "temperature_2m",
    "precipitation_probability",
    "weather_code",
    "wind_speed_10m",
)

# Units Open-Meteo reports in ``current_units`` for what we ask; checked so that a wrong
# parameter can never turn Fahrenheit into Celsius silently.
_EXPECTED_UNITS: dict[str, dict[str, frozenset[str]]] = {
    "metric": {"temperature_2m": frozenset({"°C"}), "wind_speed_10m": frozenset({"m/s"})},
    "imperial": {
        "temperature_2m": frozenset({"°F"}),
        "wind_speed_10m": frozenset({"mp/h", "mph"}),
    },
}

DEFAULT_RETRY_AFTER = 30
RATE_LIMIT_RETRY_AFTER = 60


class OpenMeteoProvider:
    """WeatherProvider backed by api.open-meteo.com and geocoding-api.open-meteo.com."""

    name = "open-meteo"
    max_batch = 50
    requests_per_batch = 1  # the forecast comes in the same request

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        geocoding_url: str,
        on_response: Callable[[RawResponse], None] | None,
        clock: Clock,
        *,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._geocoding_url = geocoding_url.rstrip("/")
        self._on_response = on_response
        self._clock = clock
        self._timeout = timeout

    # -- current weather -------------------------------------------------------------------

    def current(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        """One request per ``max_batch`` cities; all or nothing (UpstreamUnavailable)."""
        observations: dict[str, Observation] = {}
        for start in range(0, len(cities), self.max_batch):
            batch = cities[start : start + self.max_batch]
            observations.update(self._current_batch(batch, units))
        return observations

    def _current_batch(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        params: dict[str, str] = {
            "latitude": ",".join(_coordinate(city.lat) for city in cities),
            "longitude": ",".join(_coordinate(city.lon) for city in cities),
            "current": ",".join(CURRENT_VARIABLES),
            "hourly": ",".join(HOURLY_VARIABLES),
            "forecast_hours": str(FORECAST_HOURS),
            "timezone": "GMT",
        }
        if units == "imperial":
            params["temperature_unit"] = "fahrenheit"
            params["wind_speed_unit"] = "mph"
        else:
            params["wind_speed_unit"] = "ms"
        url = f"{self._base_url}/forecast?{urlencode(params, safe=',')}"
        payload = self._get_json(url, tuple(city.id for city in cities))

        locations = [payload] if isinstance(payload, dict) else payload
        if not isinstance(locations, list) or len(locations) != len(cities):
            raise _malformed(f"expected {len(cities)} locations in the forecast answer")
        ordered = _in_request_order(locations)
        return {
            city.id: _observation(location, units)
            for city, location in zip(cities, ordered, strict=True)
        }

    # -- geocoding -------------------------------------------------------------------------

    def geocode(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """Places named ``name`` (GeoNames ids), most populous first."""
        name = name.strip()
        if not name or limit < 1:
            return []
        params: dict[str, str] = {
            "name": name,
            "count": str(min(limit, 100)),
            "language": "en",
            "format": "json",
        }
        if country:
            params["countryCode"] = country.strip().upper()
        url = f"{self._geocoding_url}/search?{urlencode(params)}"
        payload = self._get_json(url, ())
        if not isinstance(payload, dict):
            raise _malformed("the geocoding answer is not a JSON object")
        results = payload.get("results") or []  # no "results" key when nothing matched
        if not isinstance(results, list):
            raise _malformed("geocoding 'results' is not a list")
        cities = [city for city in (_city(result) for result in results) if city is not None]
        if country:
            cities = [city for city in cities if city.country == country.strip().upper()]
        cities.sort(key=lambda city: city.population, reverse=True)
        return cities[:limit]

    # -- transport -------------------------------------------------------------------------

    def _get_json(self, url: str, city_ids: tuple[str, ...]) -> Any:
        """GET ``url``, report the answer, then map failures to UpstreamUnavailable."""
        return get_json(
            self._session, url, provider=self.name, display_name="Open-Meteo",
            clock=self._clock, timeout=self._timeout, on_response=self._on_response,
            city_ids=city_ids, log=logger, reason=_error_reason,
            default_retry_after=DEFAULT_RETRY_AFTER,
            rate_limit_retry_after=RATE_LIMIT_RETRY_AFTER,
        )  # fmt: skip


def _coordinate(value: float) -> str:
    # Four decimals is about 11 m, finer than any weather grid.
    return f"{value:.4f}"


def _in_request_order(locations: list[Any]) -> list[Any]:
    """Open-Meteo answers in request order. Newer versions also number the locations
    (``location_id``, omitted when 0); where every location is numbered consistently we
    trust the numbers over the position."""
    ids = [item.get("location_id", 0) if isinstance(item, dict) else None for item in locations]
    if all(isinstance(value, int) for value in ids) and set(ids) == set(range(len(ids))):
        by_id = dict(zip(ids, locations, strict=True))
        return [by_id[index] for index in range(len(locations))]
    return locations


def _observation(location: Any, units: Units) -> Observation:
    if not isinstance(location, dict):
        raise _malformed("a forecast location is not a JSON object")
    current = location.get("current")
    if not isinstance(current, dict):
        raise _malformed("a forecast location has no 'current' object")
    current_units = location.get("current_units")
    if isinstance(current_units, dict):
        for variable, accepted in _EXPECTED_UNITS[units].items():
            unit = current_units.get(variable)
            if unit is not None and unit not in accepted:
                raise _malformed(f"{variable} came in {unit!r}, expected {units} units")
    code = _number(current, "weather_code")
    probability = current.get("precipitation_probability")
    return Observation(
        temperature=_number(current, "temperature_2m"),
        feels_like=_number(current, "apparent_temperature"),
        humidity=round(_number(current, "relative_humidity_2m")),
        pressure=_number(current, "surface_pressure"),
        wind_speed=_number(current, "wind_speed_10m"),
        clouds=round(_number(current, "cloud_cover")),
        precipitation_probability=None
        if probability is None
        else round(_number(current, "precipitation_probability")),
        conditions=describe_wmo(int(code)),
        observed_at=_observed_at(current.get("time"), location.get("utc_offset_seconds")),
        units=units,
        forecast=_forecast(location, units),
    )


def _forecast(location: dict[str, Any], units: Units) -> tuple[ForecastHour, ...] | None:
    """The ``hourly`` arrays as forecast hours; None when the answer has none. A forecast
    that cannot be read is dropped (logged), never the current weather with it."""
    hourly = location.get("hourly")
    if hourly is None:
        return None
    try:
        if not isinstance(hourly, dict):
            raise ValueError("'hourly' is not an object")
        hourly_units = location.get("hourly_units")
        if isinstance(hourly_units, dict):
            for variable, accepted in _EXPECTED_UNITS[units].items():
                unit = hourly_units.get(variable)
                if unit is not None and unit not in accepted:
                    raise ValueError(f"hourly {variable} came in {unit!r}")
        times = hourly["time"]
        columns = [hourly[name] for name in HOURLY_VARIABLES]
        if not isinstance(times, list) or any(
            not isinstance(column, list) or len(column) != len(times) for column in columns
        ):
            raise ValueError("the hourly arrays differ in length")
        offset = location.get("utc_offset_seconds")
        hours = []
        for time, temperature, probability, code, wind in zip(times, *columns, strict=True):
            if not _is_number(temperature) or not _is_number(code) or not _is_number(wind):
                continue  # an hour the model has no value for (null) is left out
            hours.append(
                ForecastHour(
                    time=_observed_at(time, offset),
                    temperature=float(temperature),
                    precipitation_probability=round(probability)
                    if _is_number(probability)
                    else None,
                    conditions=describe_wmo(int(code)),
                    wind_speed=float(wind),
                )
            )
        return tuple(hours[:FORECAST_HOURS])
    except (KeyError, TypeError, ValueError, UpstreamUnavailable) as exc:
        logger.warning("Open-Meteo hourly forecast unreadable; left out", extra={"error": str(exc)})
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(values: dict[str, Any], key: str) -> float:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed(f"'{key}' is missing or not a number")
    return float(value)


def _observed_at(value: Any, utc_offset_seconds: Any) -> datetime:
    """``current.time`` is local wall-clock time of the requested timezone (GMT for us)."""
    if not isinstance(value, str):
        raise _malformed("'current.time' is missing")
    try:
        local = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _malformed(f"'current.time' is not ISO 8601: {value!r}") from exc
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    offset = utc_offset_seconds if isinstance(utc_offset_seconds, int) else 0
    return (local - timedelta(seconds=offset)).replace(tzinfo=UTC)


def _city(result: Any) -> City | None:
    """A geocoding result as a City; None for entries without coordinates or country."""
    if not isinstance(result, dict):
        return None
    try:
        city_id, name = result["id"], result["name"]
        lat, lon = float(result["latitude"]), float(result["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
    country = result.get("country_code")
    if not isinstance(country, str) or not country:
        return None
    population = result.get("population")
    timezone = result.get("timezone")
    return City(
        id=str(city_id),
        name=str(name),
        country=country.upper(),
        lat=lat,
        lon=lon,
        population=population if isinstance(population, int) else 0,
        timezone=timezone if isinstance(timezone, str) else None,
    )


_error_reason = error_field("reason")


def _malformed(detail: str) -> Exception:
    return malformed("open-meteo", "Open-Meteo", detail, logger, DEFAULT_RETRY_AFTER)
