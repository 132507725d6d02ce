"""Local stand-ins of Open-Meteo and OpenWeatherMap, speaking their documented protocols.

Each is a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port) in a daemon thread. Answers
are built from the recorded samples in ``data/samples/`` with values computed from the
query (coordinates, units, the stand-in's clock), so different cities get different
weather and the same city the same weather within 15 minutes.

Test controls, on both: ``.requests`` (path and query of every request, in order),
``.count(path_prefix)``, ``.fail_with(status, headers=None, times=None, body=None)`` (the
next ``times`` requests, or all until ``clear_faults()``, get that status with the
provider's error body), ``.fail_path(path_prefix, status, headers=None, times=None)`` (the
same for requests to one route only, e.g. OpenWeatherMap's forecast), ``.delay(seconds)``
(every answer waits that long), ``.reset()``.
``.limit_rate(limit=60, window=60.0)`` makes the stand-in enforce a provider's rate limit on
its clock (a FakeClock that the test moves): a request when ``limit`` requests were already
answered in the last ``window`` seconds gets 429 with ``Retry-After`` (whole seconds until
one leaves the window) and the provider's error body; ``.request_times`` (clock times of
every request), ``.rate_limited`` (429s answered) and ``.max_in_window(window)`` (the most
requests that arrived in any ``window`` seconds) tell what a client did.
``current_values(lat, lon, units)`` says what the stand-in answers for a coordinate.

Known places (both geocoders), with their GeoNames ids and populations:

==========  ====  =========  ==========================================================
name        cc    id         note
==========  ====  =========  ==========================================================
Berlin      DE    2950159
Paris       US    4717560    Paris, Texas; listed before Paris, France on purpose: the
                             geocoder answers in list order, providers must sort
Paris       FR    2988507
London      GB    2643743
London      CA    6058560
São Paulo   BR    3448439    also found as "Sao Paulo"
Munich      DE    2867714    also found as "München"
Zocca       IT    3163858    a village of 1 773 people: NOT in the city index (use it to
                             test the geocoding fallback)
==========  ====  =========  ==========================================================

Open-Meteo (``base_url`` and ``geocoding_url`` are both ``url + "/v1"``):
``GET /v1/forecast`` (``latitude``/``longitude`` comma-separated lists, ``current``,
``hourly``, ``forecast_hours`` or ``forecast_days``, ``temperature_unit``,
``wind_speed_unit``, ``timezone`` GMT only) answers one object for one location and a list
for several; errors are ``{"error": true, "reason": ...}``. ``hourly`` answers as the API
documents (https://open-meteo.com/en/docs): ``hourly_units`` and ``hourly`` with a
``time`` array and one array per variable, per location (batched list included);
``forecast_hours=N`` starts at the current hour, ``forecast_days=N`` (default 7) at 00:00
today. ``hourly_values(lat, lon, hour, ...)`` says what it answers for one hour.
``GET /v1/search`` (``name``, ``count``, ``countryCode``) answers ``{"results": [...],
"generationtime_ms"}`` with no ``results`` key when nothing matches; names of three or
more characters also match as prefixes, as the real geocoder's fuzzy search would.

OpenWeatherMap (``base_url`` is ``url``): every route checks ``appid`` first (401 with the
documented body when missing or not ``api_key``). ``GET /data/2.5/weather`` (``lat``,
``lon``, ``units`` standard|metric|imperial); ``GET /data/2.5/forecast`` (the free 5 day /
3 hour forecast, https://openweathermap.org/forecast5: ``lat``, ``lon``, ``units``, ``cnt``;
``{"cod": "200", "message": 0, "cnt", "list": [{"dt", "main", "weather", "clouds", "wind",
"visibility", "pop", "sys": {"pod"}, "dt_txt"}, ...], "city"}``, steps on the 3-hour UTC
grid from the next one); ``GET /geo/1.0/direct`` (``q=name[,cc]``, ``limit`` up to 5).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from shared.adapters.city_index import normalize
from shared.adapters.clock import SystemClock
from shared.ports import Clock

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data" / "samples"

Answer = tuple[int, dict[str, str], bytes]


def load_sample(name: str) -> Any:
    """A recorded provider answer from ``data/samples``."""
    return json.loads((SAMPLES_DIR / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Place:
    id: int
    name: str
    country_code: str
    country: str
    admin1: str
    lat: float
    lon: float
    elevation: float
    feature_code: str
    timezone: str
    population: int
    other_names: tuple[str, ...] = ()
    local_names: dict[str, str] = field(default_factory=dict)


KNOWN_PLACES: tuple[Place, ...] = (
    Place(2950159, "Berlin", "DE", "Germany", "Land Berlin", 52.52437, 13.41053, 74.0,
          "PPLC", "Europe/Berlin", 3426354, local_names={"de": "Berlin", "ru": "Берлин"}),
    Place(4717560, "Paris", "US", "United States", "Texas", 33.66094, -95.55551, 182.0,
          "PPLA2", "America/Chicago", 24782),
    Place(2988507, "Paris", "FR", "France", "Île-de-France", 48.85341, 2.3488, 42.0,
          "PPLC", "Europe/Paris", 2138551, local_names={"fr": "Paris", "ru": "Париж"}),
    Place(2643743, "London", "GB", "United Kingdom", "England", 51.50853, -0.12574, 25.0,
          "PPLC", "Europe/London", 8961989, local_names={"fr": "Londres", "ru": "Лондон"}),
    Place(6058560, "London", "CA", "Canada", "Ontario", 42.98339, -81.23304, 252.0,
          "PPL", "America/Toronto", 422324),
    Place(3448439, "São Paulo", "BR", "Brazil", "São Paulo", -23.5475, -46.63611, 769.0,
          "PPLA", "America/Sao_Paulo", 12400232, other_names=("Sao Paulo",),
          local_names={"pt": "São Paulo"}),
    Place(2867714, "Munich", "DE", "Germany", "Bavaria", 48.13743, 11.57549, 524.0,
          "PPLA", "Europe/Berlin", 1505005, other_names=("München",),
          local_names={"de": "München", "it": "Monaco di Baviera"}),
    Place(3163858, "Zocca", "IT", "Italy", "Emilia-Romagna", 44.34566, 10.99308, 759.0,
          "PPLA3", "Europe/Rome", 1773),
)  # fmt: skip


def find_places(name: str, country: str | None = None) -> list[Place]:
    """Known places matching ``name`` (exact, or prefix from three characters on)."""
    key = normalize(name)
    if len(key) < 2:
        return []
    found = []
    for place in KNOWN_PLACES:
        names = [normalize(n) for n in (place.name, *place.other_names)]
        if any(n == key or (len(key) >= 3 and n.startswith(key)) for n in names) and (
            country is None or place.country_code == country.upper()
        ):
            found.append(place)
    return found


def nearest_place(lat: float, lon: float, within: float = 0.5) -> Place | None:
    for place in KNOWN_PLACES:
        if abs(place.lat - lat) <= within and abs(place.lon - lon) <= within:
            return place
    return None


# -- the weather both stand-ins report ----------------------------------------------------


def _draws(seed: str, count: int) -> list[float]:
    digest = hashlib.sha256(seed.encode()).digest()
    return [int.from_bytes(digest[i * 2 : i * 2 + 2], "big") / 65536.0 for i in range(count)]


def weather_at(lat: float, lon: float, moment: datetime) -> dict[str, float | int]:
    """Metric weather at a coordinate during the 15-minute slot of ``moment``."""
    slot = int(moment.timestamp()) // 900
    d = _draws(f"{lat:.2f},{lon:.2f}|{slot}", 8)
    temperature = 27.0 - 0.4 * abs(lat) + (d[0] - 0.5) * 12.0
    humidity = 35 + int(d[1] * 60)
    wind = round(d[2] * 12.0, 2)
    clouds = int(d[3] * 101)
    if clouds < 20:
        code = 0
    elif clouds < 50:
        code = 2
    elif d[4] < 0.5:
        code = 3
    else:
        code = 71 if temperature < 1 else (61, 63, 80, 95)[int(d[5] * 4)]
    return {
        "temperature": temperature,
        "feels_like": temperature - wind * 0.6 if temperature < 12 else temperature + 1.5,
        "humidity": humidity,
        "pressure": 990.0 + d[6] * 40.0,
        "wind_ms": wind,
        "clouds": clouds,
        "precipitation_probability": int(d[7] * 100) if code >= 51 else int(d[7] * 20),
        "weather_code": code,
    }


def _fahrenheit(celsius: float) -> float:
    return celsius * 9 / 5 + 32


# -- the server machinery -------------------------------------------------------------------


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: bytes
    times_left: int | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is expected in delay tests; stay quiet.
        pass


class _StandIn:
    """Server lifecycle, request log, fault switch and delay; subclasses answer routes."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._requests: list[str] = []
        self._fault: _Fault | None = None
        self._path_faults: dict[str, _Fault] = {}
        self._delay = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._rate: tuple[int, float] | None = None
        self._answered: list[float] = []  # times of requests answered (not refused)
        self._times: list[float] = []  # times of every request
        self.rate_limited = 0

    # lifecycle
    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            # A short poll interval keeps stop() (and so each test's teardown) quick.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # controls
    @property
    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    def count(self, path_prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for target in self._requests if target.startswith(path_prefix))

    def fail_with(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        times: int | None = None,
        body: bytes | None = None,
    ) -> None:
        """Answer the next ``times`` requests (all, when None) with ``status``."""
        with self._lock:
            self._fault = _Fault(
                status, dict(headers or {}), body or self._error_body(status), times
            )

    def fail_path(
        self,
        path_prefix: str,
        status: int,
        headers: dict[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path_prefix`` (all, when None) with
        ``status`` and the provider's error body; other routes answer as usual."""
        with self._lock:
            self._path_faults[path_prefix] = _Fault(
                status, dict(headers or {}), self._error_body(status), times
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._fault = None
            self._path_faults.clear()

    def delay(self, seconds: float) -> None:
        with self._lock:
            self._delay = max(0.0, seconds)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._fault = None
            self._path_faults.clear()
            self._delay = 0.0
            self._answered.clear()
            self._times.clear()
            self.rate_limited = 0

    def limit_rate(self, limit: int = 60, window: float = 60.0) -> None:
        """Answer 429 with Retry-After past ``limit`` requests in any ``window`` seconds."""
        with self._lock:
            self._rate = (limit, window)

    @property
    def request_times(self) -> list[float]:
        with self._lock:
            return list(self._times)

    def max_in_window(self, window: float = 60.0) -> int:
        """The most requests that arrived within ``window`` seconds of each other."""
        times = sorted(self.request_times)
        return max((sum(1 for t in times if start <= t < start + window) for start in times),
                   default=0)  # fmt: skip

    def _over_rate(self, now: float) -> Answer | None:
        """Called under the lock: the 429 when over the rate, else None (and counted)."""
        self._times.append(now)
        if self._rate is None:
            self._answered.append(now)
            return None
        limit, window = self._rate
        recent = [t for t in self._answered if t > now - window]
        if len(recent) < limit:
            self._answered.append(now)
            return None
        self.rate_limited += 1
        wait = max(1, math.ceil(recent[len(recent) - limit] + window - now))
        return 429, {"Retry-After": str(wait)}, self._error_body(429)

    # for subclasses
    def _route(self, path: str, query: dict[str, str]) -> Answer:
        raise NotImplementedError

    def _error_body(self, status: int) -> bytes:
        raise NotImplementedError

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status, headers, body = standin._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _answer(self, target: str) -> Answer:
        with self._lock:
            self._requests.append(target)
            refused = self._over_rate(self.clock.now().timestamp())
            if refused is not None:
                return refused
            fault, delay = self._fault, self._delay
            if fault is not None and fault.times_left is not None:
                fault.times_left -= 1
                if fault.times_left <= 0:
                    self._fault = None
            if fault is None:
                path = urlsplit(target).path
                for prefix, path_fault in list(self._path_faults.items()):
                    if path.startswith(prefix):
                        fault = path_fault
                        if path_fault.times_left is not None:
                            path_fault.times_left -= 1
                            if path_fault.times_left <= 0:
                                del self._path_faults[prefix]
                        break
        if delay:
            time.sleep(delay)
        if fault is not None:
            return fault.status, fault.headers, fault.body
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            return self._route(parts.path, query)
        except Exception as exc:  # a bug in the stand-in must show as a 500, not a hang
            return 500, {}, json.dumps({"error": True, "reason": repr(exc)}).encode()


def _json(status: int, payload: Any) -> Answer:
    return status, {}, json.dumps(payload, ensure_ascii=False).encode("utf-8")


# -- Open-Meteo -------------------------------------------------------------------------------

_OPEN_METEO_UNITS = {
    "temperature_2m": "°C",
    "apparent_temperature": "°C",
    "relative_humidity_2m": "%",
    "surface_pressure": "hPa",
    "wind_speed_10m": "km/h",
    "cloud_cover": "%",
    "precipitation_probability": "%",
    "weather_code": "wmo code",
}
_WIND_UNITS: dict[str, tuple[str, Callable[[float], float]]] = {
    "kmh": ("km/h", lambda ms: ms * 3.6),
    "ms": ("m/s", lambda ms: ms),
    "mph": ("mp/h", lambda ms: ms / 0.44704),
    "kn": ("kn", lambda ms: ms * 1.943844),
}


class OpenMeteoStandIn(_StandIn):
    """Open-Meteo forecast and geocoding APIs (see the module docstring)."""

    def __init__(self, clock: Clock | None = None, *, number_locations: bool = False) -> None:
        """``number_locations``: answer several locations in reverse order, numbered with
        ``location_id`` (as newer API versions do), to prove clients match by number."""
        super().__init__(clock)
        self.number_locations = number_locations
        self._forecast_template = load_sample("open-meteo-forecast.json")
        self._geocoding_template = load_sample("open-meteo-geocoding.json")

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def geocoding_url(self) -> str:
        return f"{self.url}/v1"

    def current_values(
        self,
        lat: float,
        lon: float,
        temperature_unit: str = "celsius",
        wind_speed_unit: str = "kmh",
    ) -> dict[str, Any]:
        """The ``current`` values answered now for a coordinate, in those units."""
        weather = weather_at(lat, lon, self.clock.now())
        convert = _fahrenheit if temperature_unit == "fahrenheit" else (lambda c: c)
        wind = _WIND_UNITS[wind_speed_unit][1]
        return {
            "temperature_2m": round(convert(weather["temperature"]), 1),
            "apparent_temperature": round(convert(weather["feels_like"]), 1),
            "relative_humidity_2m": weather["humidity"],
            "surface_pressure": round(weather["pressure"], 1),
            "wind_speed_10m": round(wind(weather["wind_ms"]), 1),
            "cloud_cover": weather["clouds"],
            "precipitation_probability": weather["precipitation_probability"],
            "weather_code": weather["weather_code"],
        }

    def hourly_values(
        self,
        lat: float,
        lon: float,
        hour: datetime,
        temperature_unit: str = "celsius",
        wind_speed_unit: str = "kmh",
    ) -> dict[str, Any]:
        """The ``hourly`` values answered for a coordinate at one hour, in those units (the
        weather of that hour's first 15-minute slot: the same whenever it is asked)."""
        weather = weather_at(lat, lon, hour)
        convert = _fahrenheit if temperature_unit == "fahrenheit" else (lambda c: c)
        wind = _WIND_UNITS[wind_speed_unit][1]
        return {
            "temperature_2m": round(convert(weather["temperature"]), 1),
            "apparent_temperature": round(convert(weather["feels_like"]), 1),
            "relative_humidity_2m": weather["humidity"],
            "surface_pressure": round(weather["pressure"], 1),
            "wind_speed_10m": round(wind(weather["wind_ms"]), 1),
            "cloud_cover": weather["clouds"],
            "precipitation_probability": weather["precipitation_probability"],
            "weather_code": weather["weather_code"],
        }

    def _error_body(self, status: int) -> bytes:
        reasons = {
            429: "Minutely API request limit exceeded. Please try again in one minute.",
            400: "Bad request",
        }
        reason = reasons.get(status, "Internal Server Error" if status >= 500 else "Error")
        return json.dumps({"error": True, "reason": reason}).encode()

    def _route(self, path: str, query: dict[str, str]) -> Answer:
        if path == "/v1/forecast":
            return self._forecast(query)
        if path == "/v1/search":
            return self._search(query)
        return _json(404, {"error": True, "reason": "Not Found"})

    def _forecast(self, query: dict[str, str]) -> Answer:
        try:
            lats = [float(v) for v in query.get("latitude", "").split(",")]
            lons = [float(v) for v in query.get("longitude", "").split(",")]
        except ValueError:
            return _json(
                400, {"error": True, "reason": "Cannot initialize Float from invalid String value"}
            )
        if len(lats) != len(lons):
            reason = "Parameter 'latitude' and 'longitude' must have the same number of elements"
            return _json(400, {"error": True, "reason": reason})
        for lat in lats:
            if not -90 <= lat <= 90:
                reason = f"Latitude must be in range of -90 to 90°. Given: {lat}."
                return _json(400, {"error": True, "reason": reason})
        variables = [v for v in query.get("current", "").split(",") if v]
        unknown = [v for v in variables if v not in _OPEN_METEO_UNITS]
        if unknown:
            reason = f"Cannot initialize ForecastVariable from invalid String value {unknown[0]}."
            return _json(400, {"error": True, "reason": reason})
        hourly = [v for v in query.get("hourly", "").split(",") if v]
        unknown = [v for v in hourly if v not in _OPEN_METEO_UNITS]
        if unknown:
            reason = f"Cannot initialize ForecastVariable from invalid String value {unknown[0]}."
            return _json(400, {"error": True, "reason": reason})
        try:
            forecast_hours = int(query["forecast_hours"]) if "forecast_hours" in query else None
            forecast_days = int(query.get("forecast_days", "7"))
        except ValueError:
            return _json(
                400, {"error": True, "reason": "Cannot initialize Int from invalid String value"}
            )
        if not 0 <= forecast_days <= 16 or (forecast_hours is not None and forecast_hours < 0):
            return _json(
                400, {"error": True, "reason": "Forecast days is invalid. Allowed range 0 to 16."}
            )
        temperature_unit = query.get("temperature_unit", "celsius")
        wind_speed_unit = query.get("wind_speed_unit", "kmh")
        if temperature_unit not in ("celsius", "fahrenheit") or wind_speed_unit not in _WIND_UNITS:
            return _json(400, {"error": True, "reason": "Invalid unit"})

        now = self.clock.now().astimezone(UTC)
        slot = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
        locations = []
        for index, (lat, lon) in enumerate(zip(lats, lons, strict=True)):
            location = copy.deepcopy(self._forecast_template)
            location["latitude"] = round(lat, 2)
            location["longitude"] = round(lon, 2)
            location["generationtime_ms"] = 0.05 + 0.01 * index
            location["timezone"] = location["timezone_abbreviation"] = "GMT"
            location["utc_offset_seconds"] = 0
            place = nearest_place(lat, lon)
            location["elevation"] = (
                place.elevation if place else round(_draws(f"{lat}", 1)[0] * 900)
            )
            values = self.current_values(lat, lon, temperature_unit, wind_speed_unit)
            units = dict(_OPEN_METEO_UNITS)
            if temperature_unit == "fahrenheit":
                units["temperature_2m"] = units["apparent_temperature"] = "°F"
            units["wind_speed_10m"] = _WIND_UNITS[wind_speed_unit][0]
            location["current_units"] = {"time": "iso8601", "interval": "seconds"} | {
                v: units[v] for v in variables
            }
            location["current"] = {"time": slot.strftime("%Y-%m-%dT%H:%M"), "interval": 900} | {
                v: values[v] for v in variables
            }
            if not variables:
                del location["current_units"], location["current"]
            if hourly:
                hour = now.replace(minute=0, second=0, microsecond=0)
                if forecast_hours is not None:
                    steps = [hour + timedelta(hours=i) for i in range(forecast_hours)]
                else:
                    midnight = hour.replace(hour=0)
                    steps = [midnight + timedelta(hours=i) for i in range(24 * forecast_days)]
                rows = [
                    self.hourly_values(lat, lon, step, temperature_unit, wind_speed_unit)
                    for step in steps
                ]
                location["hourly_units"] = {"time": "iso8601"} | {v: units[v] for v in hourly}
                location["hourly"] = {"time": [step.strftime("%Y-%m-%dT%H:%M") for step in steps]}
                for variable in hourly:
                    location["hourly"][variable] = [row[variable] for row in rows]
            if self.number_locations and index:
                location["location_id"] = index
            locations.append(location)
        if len(locations) == 1:
            return _json(200, locations[0])
        if self.number_locations:
            locations.reverse()
        return _json(200, locations)

    def _search(self, query: dict[str, str]) -> Answer:
        try:
            count = int(query.get("count", "10"))
        except ValueError:
            return _json(400, {"error": True, "reason": "Invalid count"})
        places = find_places(query.get("name", ""), query.get("countryCode") or None)
        template = self._geocoding_template["results"][0]
        results = []
        for place in places[: max(0, min(count, 100))]:
            result = {key: template[key] for key in template if key not in _PLACE_KEYS}
            result.update(
                id=place.id,
                name=place.name,
                latitude=place.lat,
                longitude=place.lon,
                elevation=place.elevation,
                feature_code=place.feature_code,
                country_code=place.country_code,
                timezone=place.timezone,
                population=place.population,
                country=place.country,
                admin1=place.admin1,
            )
            results.append(result)
        payload: dict[str, Any] = {"generationtime_ms": 0.5}
        if results:  # the real geocoder omits "results" when nothing matches
            payload = {"results": results, **payload}
        return _json(200, payload)


# Template keys that describe one specific place (ids of its regions, postcodes); dropped
# rather than copied onto another place.
_PLACE_KEYS = frozenset(
    {"admin1_id", "admin2_id", "admin3_id", "admin4_id", "admin2", "admin3", "admin4",
     "postcodes", "country_id"}
)  # fmt: skip


# -- OpenWeatherMap ---------------------------------------------------------------------------

# WMO code -> OpenWeatherMap condition (id, main, description, icon stem).
_OW_CONDITIONS: dict[int, tuple[int, str, str, str]] = {
    0: (800, "Clear", "clear sky", "01"),
    2: (802, "Clouds", "scattered clouds", "03"),
    3: (804, "Clouds", "overcast clouds", "04"),
    61: (500, "Rain", "light rain", "10"),
    63: (501, "Rain", "moderate rain", "10"),
    71: (600, "Snow", "light snow", "13"),
    80: (521, "Rain", "shower rain", "09"),
    95: (211, "Thunderstorm", "thunderstorm", "11"),
}


class OpenWeatherStandIn(_StandIn):
    """OpenWeatherMap Current Weather Data 2.5 and Geocoding 1.0 (see the module docstring)."""

    def __init__(self, api_key: str = "test-openweather-key", clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.api_key = api_key
        self._current_template = load_sample("openweather-current.json")
        self._geocoding_template = load_sample("openweather-geocoding.json")
        self._unauthorized = load_sample("openweather-401.json")

    @property
    def base_url(self) -> str:
        return self.url

    def current_values(self, lat: float, lon: float, units: str = "standard") -> dict[str, Any]:
        """The current weather body answered now for a coordinate, in those units."""
        now = self.clock.now().astimezone(UTC)
        weather = weather_at(lat, lon, now)
        if units == "metric":
            temp: Callable[[float], float] = lambda c: c  # noqa: E731
            speed: Callable[[float], float] = lambda ms: ms  # noqa: E731
        elif units == "imperial":
            temp, speed = _fahrenheit, lambda ms: ms / 0.44704
        else:  # standard: Kelvin and m/s
            temp, speed = (lambda c: c + 273.15), (lambda ms: ms)
        body = copy.deepcopy(self._current_template)
        place = nearest_place(lat, lon)
        condition_id, main, description, icon = _OW_CONDITIONS[int(weather["weather_code"])]
        day = 6 <= (now.hour + lon / 15) % 24 < 18
        sunrise = int(now.replace(hour=6, minute=0, second=0, microsecond=0).timestamp())
        body["coord"] = {"lon": round(lon, 4), "lat": round(lat, 4)}
        body["weather"] = [
            {"id": condition_id, "main": main, "description": description,
             "icon": f"{icon}{'d' if day else 'n'}"}
        ]  # fmt: skip
        t = weather["temperature"]
        body["main"] = {
            "temp": round(temp(t), 2),
            "feels_like": round(temp(weather["feels_like"]), 2),
            "temp_min": round(temp(t - 1.2), 2),
            "temp_max": round(temp(t + 1.4), 2),
            "pressure": round(weather["pressure"]),
            "humidity": weather["humidity"],
            "sea_level": round(weather["pressure"]),
            "grnd_level": round(weather["pressure"] - (place.elevation if place else 0) / 8.3),
        }
        body["visibility"] = 10000 if weather["weather_code"] < 45 else 6000
        body["wind"] = {
            "speed": round(speed(weather["wind_ms"]), 2),
            "deg": int(_draws(f"{lat},{lon}", 1)[0] * 360),
            "gust": round(speed(weather["wind_ms"] * 1.6), 2),
        }
        body.pop("rain", None)
        if main == "Rain":
            body["rain"] = {"1h": 0.8}
        body["clouds"] = {"all": weather["clouds"]}
        body["dt"] = int(now.timestamp()) // 600 * 600
        body["sys"] = {
            **body["sys"],
            "country": place.country_code if place else "",
            "sunrise": sunrise,
            "sunset": sunrise + 12 * 3600,
        }
        offset = now.astimezone(ZoneInfo(place.timezone)).utcoffset() if place else None
        body["timezone"] = int(offset.total_seconds()) if offset else 0
        body["id"] = place.id if place else 0
        body["name"] = place.name if place else ""
        body["cod"] = 200
        return body

    def forecast_values(
        self, lat: float, lon: float, units: str = "standard", cnt: int = 40
    ) -> dict[str, Any]:
        """The 5 day / 3 hour forecast body answered now for a coordinate: ``cnt`` steps
        on the 3-hour UTC grid, starting at the next one."""
        now = self.clock.now().astimezone(UTC)
        first = now.replace(minute=0, second=0, microsecond=0)
        first += timedelta(hours=3 - first.hour % 3)
        if units == "metric":
            temp: Callable[[float], float] = lambda c: c  # noqa: E731
            speed: Callable[[float], float] = lambda ms: ms  # noqa: E731
        elif units == "imperial":
            temp, speed = _fahrenheit, lambda ms: ms / 0.44704
        else:
            temp, speed = (lambda c: c + 273.15), (lambda ms: ms)
        place = nearest_place(lat, lon)
        steps = []
        for index in range(max(1, min(cnt, 40))):
            moment = first + timedelta(hours=3 * index)
            weather = weather_at(lat, lon, moment)
            condition_id, main, description, icon = _OW_CONDITIONS[int(weather["weather_code"])]
            day = 6 <= (moment.hour + lon / 15) % 24 < 18
            t = weather["temperature"]
            pressure = round(weather["pressure"])
            step: dict[str, Any] = {
                "dt": int(moment.timestamp()),
                "main": {
                    "temp": round(temp(t), 2),
                    "feels_like": round(temp(weather["feels_like"]), 2),
                    "temp_min": round(temp(t - 0.4), 2),
                    "temp_max": round(temp(t + 0.4), 2),
                    "pressure": pressure,
                    "sea_level": pressure,
                    "grnd_level": round(pressure - (place.elevation if place else 0) / 8.3),
                    "humidity": weather["humidity"],
                    "temp_kf": 0,
                },
                "weather": [{"id": condition_id, "main": main, "description": description,
                             "icon": f"{icon}{'d' if day else 'n'}"}],
                "clouds": {"all": weather["clouds"]},
                "wind": {"speed": round(speed(weather["wind_ms"]), 2),
                         "deg": int(_draws(f"{lat},{lon}", 1)[0] * 360),
                         "gust": round(speed(weather["wind_ms"] * 1.6), 2)},
                "visibility": 10000,
                "pop": round(weather["precipitation_probability"] / 100, 2),
                "sys": {"pod": "d" if day else "n"},
                "dt_txt": moment.strftime("%Y-%m-%d %H:%M:%S"),
            }  # fmt: skip
            if main == "Rain":
                step["rain"] = {"3h": 0.8}
            steps.append(step)
        offset = now.astimezone(ZoneInfo(place.timezone)).utcoffset() if place else None
        return {
            "cod": "200",
            "message": 0,
            "cnt": len(steps),
            "list": steps,
            "city": {
                "id": place.id if place else 0,
                "name": place.name if place else "",
                "coord": {"lat": round(lat, 4), "lon": round(lon, 4)},
                "country": place.country_code if place else "",
                "population": place.population if place else 0,
                "timezone": int(offset.total_seconds()) if offset else 0,
                "sunrise": int(now.replace(hour=6, minute=0, second=0, microsecond=0).timestamp()),
                "sunset": int(now.replace(hour=18, minute=0, second=0, microsecond=0).timestamp()),
            },
        }

    def _error_body(self, status: int) -> bytes:
        if status == 401:
            return json.dumps(self._unauthorized).encode()
        messages = {
            429: "Your account is temporary blocked due to exceeding of requests limitation "
            "of your subscription type. Please choose the proper subscription "
            "https://openweathermap.org/price",
        }
        message = messages.get(status, "Internal error" if status >= 500 else "Error")
        return json.dumps({"cod": status, "message": message}).encode()

    def _route(self, path: str, query: dict[str, str]) -> Answer:
        if query.get("appid") != self.api_key:
            return _json(401, self._unauthorized)
        if path == "/data/2.5/weather":
            return self._weather(query)
        if path == "/data/2.5/forecast":
            return self._forecast(query)
        if path == "/geo/1.0/direct":
            return self._direct(query)
        return _json(404, {"cod": "404", "message": "Internal error"})

    def _weather(self, query: dict[str, str]) -> Answer:
        if "lat" not in query or "lon" not in query:
            return _json(400, {"cod": "400", "message": "Nothing to geocode"})
        try:
            lat, lon = float(query["lat"]), float(query["lon"])
        except ValueError:
            return _json(400, {"cod": "400", "message": "wrong latitude"})
        if not -90 <= lat <= 90:
            return _json(400, {"cod": "400", "message": "wrong latitude"})
        if not -180 <= lon <= 180:
            return _json(400, {"cod": "400", "message": "wrong longitude"})
        units = query.get("units", "standard")
        if units not in ("standard", "metric", "imperial"):
            units = "standard"  # the real API ignores unknown units
        return _json(200, self.current_values(lat, lon, units))

    def _forecast(self, query: dict[str, str]) -> Answer:
        if "lat" not in query or "lon" not in query:
            return _json(400, {"cod": "400", "message": "Nothing to geocode"})
        try:
            lat, lon = float(query["lat"]), float(query["lon"])
            cnt = int(query.get("cnt", "40"))
        except ValueError:
            return _json(400, {"cod": "400", "message": "wrong latitude"})
        if not -90 <= lat <= 90:
            return _json(400, {"cod": "400", "message": "wrong latitude"})
        if not -180 <= lon <= 180:
            return _json(400, {"cod": "400", "message": "wrong longitude"})
        units = query.get("units", "standard")
        if units not in ("standard", "metric", "imperial"):
            units = "standard"
        return _json(200, self.forecast_values(lat, lon, units, cnt))

    def _direct(self, query: dict[str, str]) -> Answer:
        parts = [part.strip() for part in query.get("q", "").split(",")]
        name = parts[0]
        country = parts[-1].upper() if len(parts) > 1 and len(parts[-1]) == 2 else None
        try:
            limit = min(5, max(1, int(query.get("limit", "5"))))
        except ValueError:
            return _json(400, {"cod": "400", "message": "wrong limit"})
        if not name:
            return _json(400, {"cod": "400", "message": "Nothing to geocode"})
        template = self._geocoding_template[0]
        answer = []
        for place in find_places(name, country)[:limit]:
            item = copy.deepcopy(template)
            item.update(
                name=place.name,
                local_names={"en": place.name, **place.local_names},
                lat=place.lat,
                lon=place.lon,
                country=place.country_code,
                state=place.admin1,
            )
            answer.append(item)
        return _json(200, answer)
