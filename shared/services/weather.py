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
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.table_codec import from_iso, to_iso
from shared.auth import Principal
from shared.domain.errors import FieldError, NotFound, UpstreamUnavailable, ValidationFailed
from shared.domain.weather import City, Observation, Units
from shared.logging import get_logger

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.adapters.city_index import CityIndex
    from shared.adapters.table_history import TableHistoryRepository
    from shared.ports import Clock, WeatherProvider

T = TypeVar("T")
log = get_logger("app.weather")

MEMO_ENTRIES = 4096
GEOCODE_TTL = timedelta(days=30)
GEOCODE_MISS_TTL = timedelta(days=1)
_KEY_UNSAFE = re.compile(r"[/\\#?\x00-\x1f\x7f]")


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


@dataclass(frozen=True)
class CachedObservation:
    city: City
    observation: Observation
    fetched_at: datetime


def _observation_to_json(observation: Observation) -> str:
    data = dict(observation.__dict__)
    data["observed_at"] = to_iso(observation.observed_at)
    return json.dumps(data)


def _observation_from_json(text: str) -> Observation:
    data = json.loads(text)
    data["observed_at"] = from_iso(data["observed_at"])
    return Observation(**data)


def _city_to_json(city: City) -> str:
    return json.dumps(city.__dict__)


def _city_from_json(text: str) -> City:
    return City(**json.loads(text))


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
    }


class WeatherCache:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, provider: str, units: str, city_id: str) -> CachedObservation | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(f"{provider}|{units}", _safe_key(city_id))
        except ResourceNotFoundError:
            return None
        fetched = from_iso(entity["fetched_at"])
        assert fetched is not None
        return CachedObservation(
            _city_from_json(entity["city"]),
            _observation_from_json(entity["observation"]),
            fetched,
        )

    def put(self, provider: str, units: str, entry: CachedObservation) -> None:
        self._table.upsert_entity({
            "PartitionKey": f"{provider}|{units}", "RowKey": _safe_key(entry.city.id),
            "city": _city_to_json(entry.city),
            "observation": _observation_to_json(entry.observation),
            "fetched_at": to_iso(entry.fetched_at),
        })  # fmt: skip

    def cities(self, provider: str, units: str) -> list[CachedObservation]:
        return [
            CachedObservation(
                _city_from_json(e["city"]),
                _observation_from_json(e["observation"]),
                from_iso(e["fetched_at"]) or datetime.min,
            )
            for e in self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": f"{provider}|{units}"}
            )
        ]


def _safe_key(value: str) -> str:
    """Table keys may not hold / \\ # ? or control characters."""
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


class GeocodeCache:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, provider: str, key: str, now: datetime) -> tuple[bool, City | None]:
        """(known, city): known is False when nothing fresh is cached for ``key``."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(provider, _safe_key(key))
        except ResourceNotFoundError:
            return False, None
        expires = from_iso(entity["expires_at"])
        if expires is None or expires <= now:
            return False, None
        city = entity.get("city")
        return True, _city_from_json(city) if city else None

    def put(self, provider: str, key: str, city: City | None, now: datetime) -> None:
        self._table.upsert_entity({
            "PartitionKey": provider, "RowKey": _safe_key(key),
            "city": _city_to_json(city) if city else None,
            "expires_at": to_iso(now + (GEOCODE_TTL if city else GEOCODE_MISS_TTL)),
        })  # fmt: skip


class WeatherService:
    def __init__(
        self,
        provider: WeatherProvider,
        cities: CityIndex,
        cache: WeatherCache,
        geocache: GeocodeCache,
        history: TableHistoryRepository,
        clock: Clock,
        ttl_seconds: int,
    ) -> None:
        self.provider = provider
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
        self, city: str, country: str | None, units: Units, principal: Principal | None
    ) -> dict[str, Any]:
        name, country = split_city(city, country)
        resolved = self.resolve(name, country)
        body = self.current(resolved, units)
        if principal is not None:
            self.history.add(
                principal.user_id, resolved.name, resolved.country, resolved.id, self.clock.now()
            )
        return body

    def resolve(self, name: str, country: str | None) -> City:
        hits = self.cities.search(name, country, limit=1)
        if hits:
            return hits[0]
        from shared.adapters.city_index import normalize

        key = f"{normalize(name)}|{country or ''}"
        now = self.clock.now()
        known, city = self.geocache.get(self.provider.name, key, now)
        if not known:
            found = self.provider.geocode(name, country, limit=1)
            city = found[0] if found else None
            self.geocache.put(self.provider.name, key, city, now)
        if city is None:
            suggestions = self.cities.suggest(name, limit=3)
            hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
            where = f" in {country}" if country else ""
            raise CityNotFound(f"No city named {name!r}{where}.{hint}")
        return city

    def current(self, city: City, units: Units) -> dict[str, Any]:
        provider = self.provider.name
        key = (provider, units, city.id)
        remembered = self._recall(key)
        if remembered is not None:
            return render(city, remembered.observation, provider, cached=True, stale=False)
        entry = self.cache.get(provider, units, city.id)
        if entry is not None and self._fresh(entry):
            self._remember(key, entry)
            return render(city, entry.observation, provider, cached=True, stale=False)

        def fetch() -> tuple[Observation, bool]:
            again = self.cache.get(provider, units, city.id)
            if again is not None and self._fresh(again):
                return again.observation, True  # fetched meanwhile by another caller
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
