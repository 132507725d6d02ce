"""Weather lookups: resolve the city, serve from the cache or the provider, keep history.

- A city resolves from the bundled GeoNames index without a network call; names it does
  not know go to the provider's geocoding (answers cached in ``geocache``).
- ``weathercache`` (PartitionKey ``{provider}|{units}``, RowKey city id) holds the last
  observation: fresh for ``WEATHER_CACHE_TTL_SECONDS`` (no upstream call at all), and the
  fallback with ``stale: true`` when the provider fails.
- Concurrent misses for one city in one process share one upstream call (single flight,
  with a second cache read by the leader so a late arrival does not fetch again).
- Fresh entries are also remembered in process (bounded LRU, same TTL): a hot city costs
  no storage call at all.
- Every raw provider response is archived by the provider's ``on_response`` hook.
- Upstream calls are paid for: before each one (geocoding or current weather) a claim on
  the provider's shared request budget (the same ``weather:{provider}`` key the refresh
  claims, WEATHER_RATE_LIMIT_PER_MINUTE for every instance together); with none left
  the lookup serves a stale entry or answers 503 with Retry-After. A caller may also
  pass a ``gate`` that runs once before a lookup's first upstream call (GET /api/weather:
  the per-client abuse limit), so cached and indexed lookups are never counted.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared import telemetry
from shared.auth import Principal
from shared.domain.errors import FieldError, NotFound, UpstreamUnavailable, ValidationFailed
from shared.domain.placenames import normalize
from shared.domain.weather import CachedObservation, City, Observation, Units, forecast_dict
from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.ports import (
        CityDirectory,
        Clock,
        GeocodeCache,
        HistoryRecorder,
        ObservationCache,
        RequestBudget,
        WeatherProvider,
    )

Gate = Callable[[], None]

T = TypeVar("T")
log = get_logger("app.weather")

MEMO_ENTRIES = 4096


class CityNotFound(NotFound):
    slug, title = "city-not-found", "No city of that name"


class SingleFlight:
    """Concurrent calls with one key share the first caller's result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Any, Future[Any]] = {}

    def run(self, key: Any, call: Callable[[], T]) -> T:
        with self._lock:
            future = self._calls.get(key)
            leader = future is None
            if future is None:
                future = Future()
                self._calls[key] = future
        if not leader:
            return future.result()
        try:
            value = call()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(value)
            return value
        finally:
            with self._lock:
                self._calls.pop(key, None)


def split_city(city: str, country: str | None) -> tuple[str, str | None]:
    """``Paris,FR`` works like ``city=Paris&country=FR``; the explicit country wins."""
    name, _, suffix = city.partition(",")
    suffix = suffix.strip()
    if country is None and re.fullmatch(r"[A-Za-z]{2}", suffix):
        country = suffix
    elif suffix and country is None:
        name = city  # a comma that is part of the name
    name = " ".join(name.split())
    if not name and re.search(r"[^\s,]", city):
        name = " ".join(city.split())  # ",FR" is no city in France: the whole is the name
    if not name:
        raise ValidationFailed("city is required", errors=[FieldError("city", "must not be blank")])
    return name, country.upper() if country else None


def render(city: City, observation: Observation, source: str, *, cached: bool,
           stale: bool) -> dict[str, Any]:  # fmt: skip
    """The weather body of API.md."""
    return {
        "city": city.to_dict(),
        "temperature": observation.temperature,
        "feels_like": observation.feels_like,
        "humidity": observation.humidity,
        "pressure": observation.pressure,
        "wind_speed": observation.wind_speed,
        "clouds": observation.clouds,
        "precipitation_probability": observation.precipitation_probability,
        "conditions": observation.conditions,
        "units": observation.units,
        "observed_at": observation.observed_at,
        "source": source,
        "cached": cached,
        "stale": stale,
        "forecast": forecast_dict(observation.forecast),
    }


class WeatherService:
    def __init__(
        self,
        provider: WeatherProvider,
        cities: CityDirectory,
        cache: ObservationCache,
        geocache: GeocodeCache,
        history: HistoryRecorder,
        clock: Clock,
        ttl_seconds: int,
        budget: RequestBudget | None = None,
    ) -> None:
        self.provider = provider
        self.budget = budget  # None: the provider makes no network calls (simulated)
        self.budget_key = f"weather:{provider.name}"  # shared with the refresh
        self.cities = cities
        self.cache = cache
        self.geocache = geocache
        self.history = history
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self._flights = SingleFlight()
        # Fresh observations this process has already read or fetched: a hit costs no
        # storage call at all. Entries are immutable and expire with the same TTL, so this
        # never serves anything the table cache would not.
        self._memo: OrderedDict[tuple[str, str, str], CachedObservation] = OrderedDict()
        self._memo_lock = threading.Lock()

    def _remember(self, key: tuple[str, str, str], entry: CachedObservation) -> None:
        with self._memo_lock:
            self._memo[key] = entry
            self._memo.move_to_end(key)
            while len(self._memo) > MEMO_ENTRIES:
                self._memo.popitem(last=False)

    def _recall(self, key: tuple[str, str, str]) -> CachedObservation | None:
        with self._memo_lock:
            entry = self._memo.get(key)
        if entry is not None and self._fresh(entry):
            return entry
        return None

    def lookup(
        self, city: str, country: str | None, units: Units, principal: Principal | None,
        gate: Gate | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """``gate`` runs (at most once) before the first upstream call of this lookup."""
        name, country = split_city(city, country)
        once = _Once(gate)
        resolved = self.resolve(name, country, once)
        body = self.current(resolved, units, once)
        if principal is not None:
            self.history.add(
                principal.user_id, resolved.name, resolved.country, resolved.id, self.clock.now()
            )
        return body

    def _claim(self) -> None:
        """One request from the provider's shared budget, or 503 with Retry-After."""
        if self.budget is None:
            return
        wait = self.budget.claim(self.budget_key)
        if wait > 0:
            extra = {"provider": self.provider.name, "retry_after": math.ceil(wait)}
            log.warning("provider budget spent: lookup not sent", extra=extra)
            raise UpstreamUnavailable(
                "The weather provider's request budget is spent; try again shortly",
                retry_after=math.ceil(wait),
            )

    def resolve(self, name: str, country: str | None, gate: Gate | None = None) -> City:
        hits = self.cities.search(name, country, limit=1)
        if hits:
            return hits[0]
        key = f"{normalize(name)}|{country or ''}"
        now = self.clock.now()
        known, city = self.geocache.get(self.provider.name, key, now)
        if not known:
            if gate is not None:
                gate()
            self._claim()
            found = self.provider.geocode(name, country, limit=1)
            city = found[0] if found else None
            self.geocache.put(self.provider.name, key, city, now)
        if city is None:
            suggestions = self.cities.suggest(name, limit=3)
            hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
            where = f" in {country}" if country else ""
            raise CityNotFound(f"No city named {name!r}{where}.{hint}")
        return city

    def current(self, city: City, units: Units, gate: Gate | None = None) -> dict[str, Any]:
        provider = self.provider.name
        key = (provider, units, city.id)
        remembered = self._recall(key)
        if remembered is not None:
            telemetry.count("weather.cache_hits")
            return render(city, remembered.observation, provider, cached=True, stale=False)
        entry = self.cache.get(provider, units, city.id)
        if entry is not None and self._fresh(entry):
            self._remember(key, entry)
            telemetry.count("weather.cache_hits")
            return render(city, entry.observation, provider, cached=True, stale=False)
        telemetry.count("weather.cache_misses")
        if gate is not None:
            gate()  # before the single flight: one caller's limit is not another's

        def fetch() -> tuple[Observation, bool]:
            again = self.cache.get(provider, units, city.id)
            if again is not None and self._fresh(again):
                return again.observation, True  # fetched meanwhile by another caller
            self._claim()
            observation = self.provider.current([city], units)[city.id]
            fetched = CachedObservation(city, observation, self.clock.now())
            self.cache.put(provider, units, fetched)
            self._remember(key, fetched)
            return observation, False

        try:
            observation, cached = self._flights.run((provider, units, city.id), fetch)
        except UpstreamUnavailable:
            if entry is None:
                raise
            log.warning("provider failed; serving a stale observation",
                        extra={"city_id": city.id, "provider": provider})  # fmt: skip
            return render(city, entry.observation, provider, cached=True, stale=True)
        return render(city, observation, provider, cached=cached, stale=False)

    def _fresh(self, entry: CachedObservation) -> bool:
        return self.clock.now() - entry.fetched_at < self.ttl

    @property
    def observations(self) -> ObservationCache:
        """The cache as others write to it (the refresh): through to the table and to this
        process's memo, so a lookup here never serves an entry the refresh replaced."""
        return _WriteThrough(self)


class _Once:
    """A gate that runs at most once (a lookup may geocode and then fetch)."""

    def __init__(self, gate: Gate | None) -> None:
        self._gate = gate

    def __call__(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate()


class _WriteThrough:
    def __init__(self, service: WeatherService) -> None:
        self._service = service

    def get(self, provider: str, units: str, city_id: str) -> CachedObservation | None:
        return self._service.cache.get(provider, units, city_id)

    def put(self, provider: str, units: str, entry: CachedObservation) -> None:
        self._service.cache.put(provider, units, entry)
        self._service._remember((provider, units, entry.city.id), entry)
