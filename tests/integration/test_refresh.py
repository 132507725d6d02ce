"""The weather refresh against provider stand-ins that enforce 60 requests a minute on a
clock the test moves (never sleeps): batching, the shared budget, 429 and Retry-After,
deferral through the queue, publishing only changes, and two instances at once."""

from __future__ import annotations

import heapq
import json
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.http_client import build_session
from shared.adapters.memory_budget import MemoryRequestBudget
from shared.adapters.memory_realtime import MemoryRealtimePublisher
from shared.adapters.memory_subscriptions import MemorySubscriptionRepository
from shared.adapters.table_budget import TableRequestBudget
from shared.adapters.table_subscriptions import TableSubscriptionRepository
from shared.adapters.weather_openmeteo import OpenMeteoProvider
from shared.adapters.weather_openweather import OpenWeatherProvider
from shared.container import Container
from shared.domain.weather import City
from shared.ports import RequestBudget, SubscriptionRepository, WeatherProvider
from shared.services.refresh import RefreshService, RefreshSummary
from tests.support.fakes import MemoryObservationCache, MemoryQueue
from tests.support.weather_standins import OpenMeteoStandIn, OpenWeatherStandIn

START = datetime(2026, 12, 1, 9, 0, 30, tzinfo=UTC)
OW_KEY = "refresh-test-key"


def cities(count: int) -> list[City]:
    """``count`` places spread over the globe (distinct coordinates, GeoNames-like ids)."""
    return [
        City(str(7_000_000 + i), f"Place {i}", "ZZ", round(-60 + (i * 7.31) % 120, 4),
             round(-170 + (i * 13.7) % 340, 4))
        for i in range(count)
    ]  # fmt: skip


@dataclass
class Rig:
    """One app instance's refresh: its service, on shared stores."""

    service: RefreshService
    queue: MemoryQueue
    realtime: MemoryRealtimePublisher
    cache: MemoryObservationCache


@dataclass
class World:
    clock: FakeClock
    standin: Any
    repository: SubscriptionRepository
    budget_factory: Callable[[], RequestBudget]
    provider_factory: Callable[[], WeatherProvider]
    cache: MemoryObservationCache = field(default_factory=MemoryObservationCache)
    realtime: MemoryRealtimePublisher = field(default_factory=MemoryRealtimePublisher)
    window: float = 62.0

    def rig(self) -> Rig:
        queue = MemoryQueue("weather-refresh")
        service = RefreshService(
            self.provider_factory(), self.repository, self.cache, self.budget_factory(),
            queue, self.realtime, self.clock, limit_per_window=60, window_seconds=self.window,
        )  # fmt: skip
        return Rig(service, queue, self.realtime, self.cache)

    def subscribe(self, places: list[City]) -> None:
        for place in places:
            self.repository.join_city(place, "user-1")

    def drain(self, *rigs: Rig) -> list[RefreshSummary]:
        """Deliver the queued messages in the order they become visible, moving the clock
        to each one's time (the queue trigger of whichever instance queued it)."""
        due: list[tuple[float, int, int, str]] = []
        seen = [0] * len(rigs)
        order = 0
        summaries: list[RefreshSummary] = []

        def collect() -> None:
            nonlocal order
            for index, rig in enumerate(rigs):
                for body, delay in rig.queue.messages[seen[index] :]:
                    at = self.clock.now().timestamp() + (delay or 0)
                    heapq.heappush(due, (at, order, index, body))
                    order += 1
                seen[index] = len(rig.queue.messages)

        collect()
        while due:
            at, _, index, body = heapq.heappop(due)
            if at > self.clock.now().timestamp():
                self.clock.set(datetime.fromtimestamp(at, UTC))
            summaries.append(rigs[index].service.run_deferred(body))
            collect()
            assert len(summaries) < 500, "the deferred work never ends"
        return summaries


def session() -> Any:
    return build_session("refresh-test", retries=0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def meteo(clock: FakeClock) -> Iterator[World]:
    with OpenMeteoStandIn(clock) as standin:
        standin.limit_rate(60, 60.0)
        yield World(
            clock, standin, MemorySubscriptionRepository(),
            lambda: MemoryRequestBudget(clock, 60, 60.0, margin_seconds=2.0),
            lambda: OpenMeteoProvider(session(), standin.base_url, standin.geocoding_url,
                                      None, clock),
        )  # fmt: skip


@pytest.fixture
def openweather(clock: FakeClock) -> Iterator[World]:
    with OpenWeatherStandIn(OW_KEY, clock) as standin:
        standin.limit_rate(60, 60.0)
        budget = MemoryRequestBudget(clock, 60, 60.0, margin_seconds=2.0)
        yield World(
            clock, standin, MemorySubscriptionRepository(), lambda: budget,
            lambda: OpenWeatherProvider(session(), standin.base_url, OW_KEY, None, clock),
        )  # fmt: skip


def refreshed_ids(world: World) -> set[str]:
    return {city_id for (_, _, city_id) in world.cache.entries}


def test_150_cities_on_open_meteo_cost_three_requests_and_no_429(meteo: World) -> None:
    places = cities(150)
    meteo.subscribe(places)
    summary = meteo.rig().service.run()
    assert meteo.standin.count("/v1/forecast") == math.ceil(150 / OpenMeteoProvider.max_batch)
    assert (summary.requests, summary.rate_limited, summary.refreshed) == (3, 0, 150)
    assert (summary.deferred, summary.failed) == (0, 0)
    assert meteo.standin.rate_limited == 0
    assert refreshed_ids(meteo) == {p.id for p in places}
    # The cache holds what the stand-in says now, for /api/weather and the subscriptions.
    berlin_like = places[0]
    entry = meteo.cache.get("open-meteo", "metric", berlin_like.id)
    expected = meteo.standin.current_values(berlin_like.lat, berlin_like.lon, "celsius", "ms")
    assert entry.observation.temperature == pytest.approx(expected["temperature_2m"])
    # The hourly forecast came in those same three requests, for every city.
    assert all("forecast_hours=24" in target for target in meteo.standin.requests)
    for place in places:
        forecast = meteo.cache.get("open-meteo", "metric", place.id).observation.forecast
        assert forecast is not None and len(forecast) == 24
    hour = START.replace(minute=0, second=0)
    assert forecast[0].time == hour
    last = places[-1]
    expected_hour = meteo.standin.hourly_values(last.lat, last.lon, hour, "celsius", "ms")
    assert forecast[0].temperature == expected_hour["temperature_2m"]


def test_only_changed_cities_are_published_each_once(meteo: World) -> None:
    places = cities(120)
    meteo.subscribe(places)
    rig = meteo.rig()
    first = rig.service.run()
    assert first.published == 120  # nothing was pushed before
    sent = meteo.realtime.sent_to_group(f"city.{places[5].id}")
    assert len(sent) == 1
    message = sent[0][1]
    assert set(message) == {"event", "city_id", "weather"}
    assert (message["event"], message["city_id"]) == ("weather.updated", places[5].id)
    assert message["weather"]["city"]["id"] == places[5].id
    assert message["weather"]["observed_at"].endswith("Z")
    json.dumps(message)  # plain JSON

    meteo.clock.advance(minutes=10)  # same 15-minute slot of the stand-in: same weather
    second = rig.service.run()
    assert (second.refreshed, second.published) == (120, 0)

    meteo.clock.advance(minutes=10)  # a new slot: new weather almost everywhere
    third = rig.service.run()
    assert third.refreshed == 120
    assert 100 <= third.published <= 120
    assert len(meteo.realtime.sent_to_group()) == 120 + third.published


def test_a_publish_failure_never_fails_the_refresh_and_is_tried_again(meteo: World) -> None:
    meteo.subscribe(cities(10))
    rig = meteo.rig()
    meteo.realtime.fail = True
    failed = rig.service.run()
    assert (failed.refreshed, failed.published, failed.publish_failures) == (10, 0, 10)
    meteo.realtime.fail = False
    meteo.clock.advance(minutes=1)
    again = rig.service.run()
    assert (again.refreshed, again.published) == (10, 10)  # the same weather, not yet pushed


def test_a_failed_batch_is_counted_and_the_run_goes_on(meteo: World) -> None:
    meteo.subscribe(cities(150))
    meteo.standin.fail_with(500, times=1)
    summary = meteo.rig().service.run()
    assert (summary.requests, summary.failed, summary.refreshed) == (3, 50, 100)


def test_a_429_with_retry_after_pauses_the_refresh_for_every_instance(meteo: World) -> None:
    meteo.subscribe(cities(150))
    shared = MemoryRequestBudget(meteo.clock, 60, 60.0, margin_seconds=2.0)
    meteo.budget_factory = lambda: shared
    first, second = meteo.rig(), meteo.rig()
    meteo.standin.fail_with(429, headers={"Retry-After": "120"}, times=1)
    paused = first.service.run()
    assert (paused.requests, paused.rate_limited, paused.refreshed) == (1, 1, 0)
    assert paused.deferred == 150
    assert [delay for _, delay in first.queue.messages] == [120]
    # Another instance's run during the pause sends nothing and defers to its end.
    meteo.clock.advance(119)
    waiting = second.service.run()
    assert (waiting.requests, waiting.deferred) == (0, 150)
    assert meteo.standin.count("/v1/forecast") == 1
    assert second.queue.messages[0][1] == 1  # the second left before the block's end
    summaries = meteo.drain(first, second)
    assert sum(s.refreshed for s in summaries) == 150  # each city once
    assert meteo.standin.count("/v1/forecast") == 1 + 3
    assert min(meteo.standin.request_times[1:]) >= START.timestamp() + 120


def test_150_cities_two_requests_each_never_exceed_60_in_any_minute(openweather: World) -> None:
    """OpenWeatherMap: current weather and the forecast are two requests a city, both
    claimed from the budget: 300 requests, never more than 60 in any minute."""
    places = cities(150)
    openweather.subscribe(places)
    rig = openweather.rig()
    first = rig.service.run()
    assert first.requests == 60  # one window's worth now: 30 cities, two requests each
    assert first.deferred == 120
    summaries = [first, *openweather.drain(rig)]
    assert sum(s.requests for s in summaries) == 300  # each city once, no retries needed
    assert openweather.standin.count("/data/2.5/weather") == 150
    assert openweather.standin.count("/data/2.5/forecast") == 150
    assert sum(s.rate_limited for s in summaries) == 0
    assert openweather.standin.rate_limited == 0
    assert openweather.standin.max_in_window(60.0) <= 60
    assert refreshed_ids(openweather) == {p.id for p in places}
    assert all(entry.observation.forecast for entry in openweather.cache.entries.values())
    took = openweather.clock.now() - START
    assert timedelta(minutes=4) <= took <= timedelta(minutes=6)  # 300 at 60 per 62 s


def test_two_instances_at_once_stay_under_the_limit_together(
    make_container: Callable[..., Container], clock: FakeClock
) -> None:
    """Two containers' worth of refresh (own budget objects, own repositories) on one
    Azurite, running the timer on two threads at once, then their deferred messages."""
    with OpenWeatherStandIn(OW_KEY, clock) as standin:
        standin.limit_rate(60, 60.0)
        containers = [make_container(clock=clock), make_container(clock=clock)]
        key = f"t{threading.get_ident()}-{START.timestamp()}"
        places = [City(f"{c.id}9", c.name, c.country, c.lat, c.lon) for c in cities(150)]

        def repository(container: Container) -> TableSubscriptionRepository:
            return TableSubscriptionRepository(
                container.table("subscriptions"), container.table("citysubscribers"),
                container.table("subscribedcities"),
            )  # fmt: skip

        world = World(
            clock, standin, repository(containers[0]),
            lambda: TableRequestBudget(containers[0].table("upstreambudget"), clock, 60),
            lambda: OpenWeatherProvider(session(), standin.base_url, OW_KEY, None, clock),
        )  # fmt: skip
        for place in places:
            world.repository.join_city(place, "user-1")
        rigs = []
        for container in containers:
            rig = world.rig()
            rig.service.subscriptions = repository(container)
            rig.service.budget = TableRequestBudget(container.table("upstreambudget"), clock, 60)
            rig.service.budget_key = f"weather:two-instances-{key}"
            rigs.append(rig)
        barrier = threading.Barrier(2)

        def run(rig: Rig) -> RefreshSummary:
            barrier.wait()
            return rig.service.run()

        threads_out: list[RefreshSummary] = []
        workers = [threading.Thread(target=lambda r=r: threads_out.append(run(r))) for r in rigs]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert len(threads_out) == 2
        assert sum(s.requests for s in threads_out) == 60  # one budget between them (2 a city)
        world.drain(*rigs)
        assert standin.rate_limited == 0
        assert standin.max_in_window(60.0) <= 60
        mine = {p.id for p in places}
        assert mine <= refreshed_ids(world)
        for place in places:
            world.repository.leave_city(place.id, "user-1")


def test_a_message_that_is_not_ours_is_logged_and_dropped(meteo: World) -> None:
    rig = meteo.rig()
    for body in ("not json", "{}", '{"run": "yesterday", "cities": []}', "[1, 2]"):
        summary = rig.service.run_deferred(body)
        assert summary.requests == 0
    assert meteo.standin.count() == 0
