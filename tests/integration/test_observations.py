"""The observation log: one contract, run against the in-memory fake and the Table adapter
on Azurite: a time-range query oldest first, paging with a cursor, recording twice
changes nothing, the purge removes exactly what is older than the cutoff (range queries
per listed city) and forgets cities with nothing left; plus the refresh recording a row
per city per run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.memory_budget import MemoryRequestBudget
from shared.adapters.memory_observations import MemoryObservationLog
from shared.adapters.memory_realtime import MemoryRealtimePublisher
from shared.adapters.memory_subscriptions import MemorySubscriptionRepository
from shared.adapters.table_observations import INDEX_PARTITION, TableObservationLog
from shared.adapters.weather_simulated import SimulatedProvider
from shared.container import Container
from shared.domain.errors import ValidationFailed
from shared.domain.weather import City, Observation
from shared.ports import ObservationLog
from shared.services.refresh import RefreshService
from tests.support.fakes import MemoryObservationCache, MemoryQueue

NOW = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def observation(at: datetime, temperature: float = 10.0) -> Observation:
    return Observation(temperature, temperature - 1, 70, 1012.5, 3.0, 40,
                       None if temperature < 0 else 20, "partly cloudy", at, "metric")  # fmt: skip


@pytest.fixture(params=["memory", "table"])
def log(request: pytest.FixtureRequest) -> ObservationLog:
    if request.param == "memory":
        return MemoryObservationLog()
    make_container: Callable[..., Container] = request.getfixturevalue("make_container")
    return TableObservationLog(make_container().table("observations"))


def city_id() -> str:
    # Distinct per test on the shared Azurite: GeoNames-shaped ids.
    return str(900_000_000 + uuid.uuid4().int % 99_999_999)


def test_the_last_hours_oldest_first_in_pages(log: ObservationLog) -> None:
    city, other = city_id(), city_id()
    times = [NOW - timedelta(minutes=10 * i) for i in range(30)]  # 5 h of 10-minute runs
    for index, at in enumerate(reversed(times)):
        log.record(city, observation(at, float(index)), first_of_day=index == 0)
    log.record(other, observation(NOW, 99.0), first_of_day=True)
    items, cursor = log.page(city, NOW - timedelta(hours=2), None, 200)
    assert cursor is None
    assert [i["time"] for i in items] == [
        (NOW - timedelta(minutes=10 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(12, -1, -1)
    ]
    assert items[-1] == {"time": "2026-12-03T18:00:00Z", "temperature": 29.0, "feels_like": 28.0,
                         "humidity": 70, "precipitation_probability": 20,
                         "conditions": "partly cloudy"}  # fmt: skip
    pages: list[dict[str, object]] = []
    cursor = None
    while True:
        page, cursor = log.page(city, NOW - timedelta(hours=24), cursor, 7)
        pages.extend(page)
        assert len(page) <= 7
        if cursor is None:
            break
    assert [p["time"] for p in pages] == sorted(p["time"] for p in pages)  # type: ignore[type-var]
    assert len(pages) == 30
    assert 99.0 not in [p["temperature"] for p in pages]  # another city's partition


def test_recording_twice_changes_nothing_and_none_stays_none(log: ObservationLog) -> None:
    city = city_id()
    cold = observation(NOW, -3.0)  # precipitation_probability None
    log.record(city, cold, first_of_day=True)
    log.record(city, cold, first_of_day=False)  # a redelivered message, an unchanged reading
    items, _ = log.page(city, NOW - timedelta(hours=1), None, 200)
    assert len(items) == 1 and items[0]["precipitation_probability"] is None


def test_a_cursor_that_is_not_ours_is_a_400(log: ObservationLog) -> None:
    for bad in ("not-base64!!", "Zm9v", "MjAyNi0xMi0wMw"):  # "foo", "2026-12-03"
        with pytest.raises(ValidationFailed):
            log.page(city_id(), NOW, bad, 10)


def test_the_purge_removes_what_is_older_and_forgets_empty_cities(log: ObservationLog) -> None:
    kept, gone = city_id(), city_id()
    for day in range(9, -1, -1):  # one reading a day at noon, ten days back, in time order
        at = (NOW - timedelta(days=day)).replace(hour=12)
        log.record(kept, observation(at), first_of_day=True)
    for day in (9, 8):
        log.record(gone, observation((NOW - timedelta(days=day)).replace(hour=12)),
                   first_of_day=True)  # fmt: skip
    cutoff = NOW - timedelta(days=7)
    deleted = log.purge(cutoff)
    assert deleted >= 3 + 2  # other tests' rows on the shared table may go too
    left, _ = log.page(kept, NOW - timedelta(days=30), None, 200)
    assert [i["time"][:10] for i in left] == [
        (NOW - timedelta(days=d)).date().isoformat() for d in range(6, -1, -1)
    ]
    assert log.page(gone, NOW - timedelta(days=30), None, 200)[0] == []
    log.purge(cutoff)  # again: nothing more of these cities goes
    assert len(log.page(kept, NOW - timedelta(days=30), None, 200)[0]) == 7
    # The purged city left the purge's list; the kept one stays on it.
    if isinstance(log, MemoryObservationLog):
        assert gone not in log.index and kept in log.index
    else:
        table = log._table
        listed = {e["RowKey"] for e in table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": INDEX_PARTITION})}  # fmt: skip
        assert gone not in listed and kept in listed


def test_the_refresh_records_a_row_per_city_per_run() -> None:
    clock = FakeClock(NOW)
    repository = MemorySubscriptionRepository()
    places = [City(str(7_100_000 + i), f"P{i}", "ZZ", -50 + i * 9.5, i * 17.0) for i in range(12)]
    for place in places:
        repository.join_city(place, "user-1")
    log = MemoryObservationLog()
    service = RefreshService(
        SimulatedProvider(clock), repository, MemoryObservationCache(),
        MemoryRequestBudget(clock, 60, 60.0), MemoryQueue("weather-refresh"),
        MemoryRealtimePublisher(), clock, limit_per_window=60, window_seconds=60.0,
        observations=log,
    )  # fmt: skip
    for _ in range(3):
        summary = service.run()
        assert summary.refreshed == 12
        clock.advance(minutes=10)
    for place in places:
        items, _ = log.page(place.id, NOW - timedelta(hours=1), None, 200)
        assert [i["time"] for i in items] == [
            "2026-12-03T18:00:00Z",
            "2026-12-03T18:10:00Z",
            "2026-12-03T18:20:00Z",
        ]
    assert set(log.index) == {p.id for p in places}  # listed once, on the first run of the day


def test_a_failing_observation_log_never_fails_the_refresh() -> None:
    class Broken(MemoryObservationLog):
        def record(self, city_id: str, observation: Observation, *, first_of_day: bool) -> None:
            raise OSError("storage down")

    clock = FakeClock(NOW)
    repository = MemorySubscriptionRepository()
    repository.join_city(City("7200001", "X", "ZZ", 10.0, 10.0), "user-1")
    cache = MemoryObservationCache()
    service = RefreshService(
        SimulatedProvider(clock), repository, cache, MemoryRequestBudget(clock, 60, 60.0),
        MemoryQueue("weather-refresh"), MemoryRealtimePublisher(), clock,
        limit_per_window=60, window_seconds=60.0, observations=Broken(),
    )  # fmt: skip
    summary = service.run()
    assert (summary.refreshed, summary.failed, summary.published) == (1, 0, 1)
    assert len(cache.entries) == 1
