"""OpenWeatherMap: current weather (one city per request) and its direct geocoder.

The forecast comes from the free 5 day / 3 hour forecast (``/data/2.5/forecast``, a
second request per city: ``requests_per_batch`` = 2, so the refresh claims both from the
budget). ``cnt=9`` steps of three hours cover the next 24 hours; each step's ``pop`` is a
probability from 0 to 1 (https://openweathermap.org/forecast5). A forecast that fails (not
a 429, which stops the refresh like any 429) is left out, never the current weather.

The API key can only travel as the ``appid`` query parameter, so everything that could
echo a URL is redacted here: the archived ``RawResponse.url``, exception messages (raised
``from None`` so that a chained requests error cannot carry the URL either) and our log
lines; ``build_session`` redacts what urllib3 itself logs.

Every answer (success or error) is handed to ``on_response`` before it is interpreted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from shared.adapters.http_client import TIMEOUT, error_field, get_json, malformed
from shared.domain.errors import UpstreamRateLimited, UpstreamUnavailable
from shared.domain.weather import City, ForecastHour, Observation, RawResponse, Units
from shared.logging import get_logger

if TYPE_CHECKING:
    import requests

    from shared.ports import Clock

logger = get_logger(__name__)

DEFAULT_RETRY_AFTER = 30
RATE_LIMIT_RETRY_AFTER = 60
# A refused key does not fix itself in seconds; callers should not hammer the API.
KEY_REFUSED_RETRY_AFTER = 300
GEOCODING_MAX_LIMIT = 5  # the documented maximum of /geo/1.0/direct
FORECAST_STEPS = 9  # three-hour steps: the first starts within 3 h, so 9 cover 24 h


class OpenWeatherProvider:
    """WeatherProvider backed by api.openweathermap.org (Current Weather Data 2.5)."""

    name = "openweather"
    max_batch = 1
    requests_per_batch = 2  # current weather and the 3-hourly forecast

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        api_key: str,
        on_response: Callable[[RawResponse], None] | None,
        clock: Clock,
        *,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        if not api_key:
            raise ValueError("OpenWeatherProvider needs an API key (OPENWEATHER_API_KEY)")
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._on_response = on_response
        self._clock = clock
        self._timeout = timeout

    def __repr__(self) -> str:  # the key must not show up in a debugger dump or a log
        return f"OpenWeatherProvider(base_url={self._base_url!r}, api_key='***')"

    # -- current weather -------------------------------------------------------------------

    def current(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        """One request per city; the first failure raises (earlier answers are archived
        through ``on_response`` but not returned, keeping the call all-or-nothing)."""
        observations: dict[str, Observation] = {}
        for city in cities:
            params = {
                "lat": f"{city.lat:.4f}",
                "lon": f"{city.lon:.4f}",
                "units": units,
            }
            payload = self._get_json("/data/2.5/weather", params, (city.id,))
            observation = _observation(payload, units)
            forecast = self._forecast(params, city)
            observations[city.id] = replace(observation, forecast=forecast)
        return observations

    def _forecast(self, params: dict[str, str], city: City) -> tuple[ForecastHour, ...] | None:
        try:
            payload = self._get_json(
                "/data/2.5/forecast", {**params, "cnt": str(FORECAST_STEPS)}, (city.id,)
            )
            return _forecast(payload)
        except UpstreamRateLimited:
            raise
        except UpstreamUnavailable as exc:
            logger.warning("OpenWeatherMap forecast unavailable; left out",
                           extra={"city_id": city.id, "error": str(exc)})  # fmt: skip
            return None

    # -- geocoding -------------------------------------------------------------------------

    def geocode(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        """Places named ``name``, in the provider's order (it reports no population).

        Its answers carry no ids, so a place is named by its coordinates: ``ow:lat,lon``.
        """
        name = name.strip()
        if not name or limit < 1:
            return []
        query = f"{name},{country.strip().upper()}" if country else name
        params = {"q": query, "limit": str(min(limit, GEOCODING_MAX_LIMIT))}
        payload = self._get_json("/geo/1.0/direct", params, ())
        if not isinstance(payload, list):
            raise _malformed("the geocoding answer is not a JSON list")
        cities = [city for city in (_city(item) for item in payload) if city is not None]
        if country:
            cities = [city for city in cities if city.country == country.strip().upper()]
        return cities[:limit]

    # -- transport -------------------------------------------------------------------------

    def _get_json(self, path: str, params: dict[str, str], city_ids: tuple[str, ...]) -> Any:
        url = f"{self._base_url}{path}?{urlencode({**params, 'appid': self._api_key}, safe=',')}"
        refused = "OpenWeatherMap refused the API key (401): check OPENWEATHER_API_KEY"
        return get_json(
            self._session, url, provider=self.name, display_name="OpenWeatherMap",
            clock=self._clock, timeout=self._timeout, on_response=self._on_response,
            city_ids=city_ids, log=logger, reason=_error_message, secrets=(self._api_key,),
            refusals={401: (refused, KEY_REFUSED_RETRY_AFTER)},
            default_retry_after=DEFAULT_RETRY_AFTER,
            rate_limit_retry_after=RATE_LIMIT_RETRY_AFTER,
        )  # fmt: skip


def _observation(payload: Any, units: Units) -> Observation:
    if not isinstance(payload, dict):
        raise _malformed("the current weather answer is not a JSON object")
    main, wind, clouds = payload.get("main"), payload.get("wind"), payload.get("clouds")
    weather = payload.get("weather")
    if not isinstance(main, dict) or not isinstance(wind, dict) or not isinstance(clouds, dict):
        raise _malformed("'main', 'wind' or 'clouds' is missing")
    if not isinstance(weather, list) or not weather or not isinstance(weather[0], dict):
        raise _malformed("'weather' is missing or empty")
    description = weather[0].get("description")
    if not isinstance(description, str):
        raise _malformed("'weather[0].description' is missing")
    dt = _number(payload, "dt")
    return Observation(
        temperature=_number(main, "temp"),
        feels_like=_number(main, "feels_like"),
        humidity=round(_number(main, "humidity")),
        pressure=_number(main, "pressure"),
        wind_speed=_number(wind, "speed"),  # m/s for metric, mph for imperial
        clouds=round(_number(clouds, "all")),
        precipitation_probability=None,  # not part of Current Weather Data
        conditions=description,
        observed_at=datetime.fromtimestamp(dt, UTC),
        units=units,
    )


def _forecast(payload: Any) -> tuple[ForecastHour, ...]:
    if not isinstance(payload, dict) or not isinstance(payload.get("list"), list):
        raise _malformed("the forecast answer has no 'list'")
    hours = []
    for item in payload["list"]:
        if not isinstance(item, dict):
            raise _malformed("a forecast step is not an object")
        main, wind, weather = item.get("main"), item.get("wind"), item.get("weather")
        if not isinstance(main, dict) or not isinstance(wind, dict):
            raise _malformed("a forecast step has no 'main' or 'wind'")
        if not isinstance(weather, list) or not weather or not isinstance(weather[0], dict):
            raise _malformed("a forecast step has no 'weather'")
        description = weather[0].get("description")
        pop = item.get("pop")
        hours.append(
            ForecastHour(
                time=datetime.fromtimestamp(_number(item, "dt"), UTC),
                temperature=_number(main, "temp"),
                precipitation_probability=round(float(pop) * 100)
                if isinstance(pop, int | float) and not isinstance(pop, bool)
                else None,
                conditions=description if isinstance(description, str) else "unknown",
                wind_speed=_number(wind, "speed"),
            )
        )
    return tuple(hours[:FORECAST_STEPS])


def _number(values: dict[str, Any], key: str) -> float:
    value = values.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed(f"'{key}' is missing or not a number")
    return float(value)


def _city(item: Any) -> City | None:
    if not isinstance(item, dict):
        return None
    try:
        name = str(item["name"])
        lat, lon = float(item["lat"]), float(item["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    country = item.get("country")
    if not isinstance(country, str) or not country:
        return None
    return City(
        id=f"ow:{lat:.4f},{lon:.4f}",
        name=name,
        country=country.upper(),
        lat=lat,
        lon=lon,
    )


_error_message = error_field("message")


def _malformed(detail: str) -> Exception:
    return malformed("openweather", "OpenWeatherMap", detail, logger, DEFAULT_RETRY_AFTER)
