"""The weather service's rules with a fake clock, a counting provider and in-memory tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.adapters.city_index import CityIndex
from shared.adapters.clock import FakeClock
from shared.adapters.table_weather import GeocodeCache, WeatherCache
from shared.container import CITY_INDEX_PATH
from shared.domain.errors import UpstreamUnavailable, ValidationFailed
from shared.domain.weather import City, Observation, Units
from shared.services.weather import CityNotFound, WeatherService, split_city


class MemoryTable:
    """The two TableClient calls the caches make, in memory, counting reads."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads = 0

    def get_entity(self, partition_key: str, row_key: str) -> dict[str, Any]:
        self.reads += 1
        try:
            return dict(self.rows[(partition_key, row_key)])
        except KeyError:
            raise ResourceNotFoundError("no such entity") from None

    def upsert_entity(self, entity: dict[str, Any], mode: UpdateMode = UpdateMode.MERGE) -> None:
        # As the SDK: None values are left out; MERGE (its default) keeps the other columns.
        key = (entity["PartitionKey"], entity["RowKey"])
        given = {k: v for k, v in entity.items() if v is not None}
        kept = self.rows.get(key, {}) if mode == UpdateMode.MERGE else {}
        self.rows[key] = {**kept, **given}


class CountingProvider:
    name = "fake"
    max_batch = 10
    requests_per_batch = 1

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls = 0
        self.geocodes = 0
        self.failing = False
        self.delay = 0.0
        self.places: dict[str, City] = {}
        self._lock = threading.Lock()

    def current(self, cities: Sequence[City], units: Units) -> dict[str, Observation]:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.failing:
            raise UpstreamUnavailable("provider down", retry_after=12)
        return {
            c.id: Observation(
                temperature=float(self.calls),
                feels_like=1.0,
                humidity=50,
                pressure=1000.0,
                wind_speed=2.0,
                clouds=10,
                precipitation_probability=None,
                conditions="clear sky",
                observed_at=self.clock.now(),
                units=units,
            )
            for c in cities
        }

    def geocode(self, name: str, country: str | None = None, limit: int = 5) -> list[City]:
        self.geocodes += 1
        place = self.places.get(name.lower())
        return [place] if place else []


class History:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def add(self, user_id: str, city_name: str, country: str, city_id: str, when: datetime) -> str:
        self.entries.append((user_id, city_name))
        return "id"


@pytest.fixture(scope="module")
def index() -> CityIndex:
    return CityIndex(CITY_INDEX_PATH)


@pytest.fixture
def world(index: CityIndex) -> tuple[WeatherService, CountingProvider, MemoryTable, FakeClock]:
    clock = FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC))
    provider = CountingProvider(clock)
    table = MemoryTable()
    service = WeatherService(
        provider=provider, cities=index, cache=WeatherCache(table),  # type: ignore[arg-type]
        geocache=GeocodeCache(MemoryTable()),  # type: ignore[arg-type]
        history=History(), clock=clock, ttl_seconds=600,  # type: ignore[arg-type]
    )  # fmt: skip
    return service, provider, table, clock


def test_a_fresh_observation_costs_no_upstream_call_and_a_hot_one_no_read(
    world: tuple[WeatherService, CountingProvider, MemoryTable, FakeClock],
) -> None:
    service, provider, table, clock = world
    first = service.lookup("Berlin", None, "metric", None)
    reads = table.reads
    second = service.lookup("berlin", None, "metric", None)
    assert (first["cached"], second["cached"]) == (False, True)
    assert provider.calls == 1
    assert table.reads == reads  # remembered in process: no storage read either
    clock.advance(599)
    assert service.lookup("Berlin", None, "metric", None)["cached"] is True
    clock.advance(2)
    assert service.lookup("Berlin", None, "metric", None)["cached"] is False
    assert provider.calls == 2


def test_units_are_cached_apart(
    world: tuple[WeatherService, CountingProvider, MemoryTable, FakeClock],
) -> None:
    service, provider, _, _ = world
    service.lookup("Berlin", None, "metric", None)
    assert service.lookup("Berlin", None, "imperial", None)["units"] == "imperial"
    assert provider.calls == 2


def test_concurrent_misses_share_one_upstream_call(
    world: tuple[WeatherService, CountingProvider, MemoryTable, FakeClock],
) -> None:
    service, provider, _, _ = world
    provider.delay = 0.2
    barrier = threading.Barrier(20)
    results: list[dict[str, Any]] = []

    def lookup() -> None:
        barrier.wait()
        results.append(service.lookup("Munich", None, "metric", None))

    threads = [threading.Thread(target=lookup) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert provider.calls == 1


def test_a_failing_provider_serves_stale_data_or_raises(
    world: tuple[WeatherService, CountingProvider, MemoryTable, FakeClock],
) -> None:
    service, provider, _, clock = world
    fresh = service.lookup("Berlin", None, "metric", None)
    clock.advance(601)
    provider.failing = True
    stale = service.lookup("Berlin", None, "metric", None)
    assert (stale["cached"], stale["stale"]) == (True, True)
    assert stale["temperature"] == fresh["temperature"]
    with pytest.raises(UpstreamUnavailable) as caught:
        service.lookup("Paris", None, "metric", None)
    assert caught.value.headers["Retry-After"] == "12"


def test_resolution_index_first_then_geocoder_with_its_answer_cached(
    world: tuple[WeatherService, CountingProvider, MemoryTable, FakeClock],
) -> None:
    service, provider, _, _ = world
    assert service.resolve("paris", "US").country == "US"
    assert provider.geocodes == 0
    provider.places["zocca"] = City("3163858", "Zocca", "IT", 44.3, 10.9, 1773)
    assert service.resolve("Zocca", "IT").name == "Zocca"
    assert service.resolve("Zocca", "IT").name == "Zocca"
    assert provider.geocodes == 1
    with pytest.raises(CityNotFound) as caught:
        service.resolve("Lodnon", None)
    assert "London" in (caught.value.detail or "")
    with pytest.raises(CityNotFound):
        service.resolve("Lodnon", None)
    assert provider.geocodes == 2  # a miss is remembered too


def test_signed_in_lookups_add_history_and_anonymous_ones_do_not(
    world: tuple[WeatherService, CountingProvider, MemoryTable, FakeClock],
) -> None:
    from shared.auth import Principal

    service, _, _, _ = world
    service.lookup("sao paulo", None, "metric", Principal("u1", "u1@example.com"))
    service.lookup("Berlin", None, "metric", None)
    assert service.history.entries == [("u1", "São Paulo")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("city", "country", "expected"),
    [
        ("Paris,FR", None, ("Paris", "FR")),
        ("Paris, fr", None, ("Paris", "FR")),
        ("Paris,FR", "US", ("Paris", "US")),  # the explicit country wins
        ("  New   York ", None, ("New York", None)),
        ("Washington, D.C.", None, ("Washington, D.C.", None)),
    ],
)
def test_split_city(city: str, country: str | None, expected: tuple[str, str | None]) -> None:
    assert split_city(city, country) == expected


def test_blank_city_is_a_field_error() -> None:
    with pytest.raises(ValidationFailed) as caught:
        split_city("  ,", None)
    assert caught.value.errors[0].field == "city"


def test_item3_upstream_lookups_draw_on_the_refresh_budget_and_only_they_pass_the_gate(
    index: CityIndex,
) -> None:
    """Issue 18, item 3: every upstream call (geocoding, current weather) claims from the
    budget key the refresh claims (``weather:{provider}``); when it is spent a lookup
    serves a stale entry or answers 503 with Retry-After, sending nothing. The gate (the
    per-client limit) runs once per lookup that goes upstream, never for a cached one."""
    from shared.adapters.memory_budget import MemoryRequestBudget

    clock = FakeClock(datetime(2026, 11, 22, 12, tzinfo=UTC))
    provider = CountingProvider(clock)
    budget = MemoryRequestBudget(clock, limit=3)
    service = WeatherService(
        provider=provider, cities=index, cache=WeatherCache(MemoryTable()),  # type: ignore[arg-type]
        geocache=GeocodeCache(MemoryTable()),  # type: ignore[arg-type]
        history=History(), clock=clock, ttl_seconds=600, budget=budget,  # type: ignore[arg-type]
    )  # fmt: skip
    gated: list[str] = []
    assert service.budget_key == "weather:fake"
    budget.claim("weather:fake")  # the refresh took one of the three
    service.lookup("Berlin", None, "metric", None, gate=lambda: gated.append("Berlin"))
    service.lookup("Berlin", None, "metric", None, gate=lambda: gated.append("again"))  # cached
    with pytest.raises(CityNotFound):  # unknown to the index: geocoding, one gate
        service.lookup("Qwxzzy", None, "metric", None, gate=lambda: gated.append("Qwxzzy"))
    assert gated == ["Berlin", "Qwxzzy"]
    assert [key for key, _ in budget.claims] == ["weather:fake"] * 3
    with pytest.raises(UpstreamUnavailable) as spent:  # a weather.report job: no gate
        service.lookup("Paris", None, "metric", None)
    assert int(spent.value.headers["Retry-After"]) >= 1
    assert (provider.calls, provider.geocodes) == (1, 1)  # nothing sent over the budget
    clock.advance(seconds=601)  # Berlin's entry is stale, the budget's window is new
    for _ in range(3):
        budget.claim("weather:fake")  # the refresh used the new window up
    stale = service.lookup("Berlin", None, "metric", None)
    assert stale["stale"] is True and provider.calls == 1
