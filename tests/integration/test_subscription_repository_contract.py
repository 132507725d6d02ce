"""One contract, two implementations of the SubscriptionRepository port (the in-memory fake
and the Table adapter on Azurite); and, on Azurite, the two races that matter: many users
joining and leaving one city at once leave the subscribed set exact, and two concurrent
subscribes of one user never pass the quota together."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.adapters.clock import FakeClock
from shared.adapters.memory_realtime import MemoryRealtimePublisher
from shared.adapters.memory_subscriptions import MemorySubscriptionRepository
from shared.adapters.table_subscriptions import TableSubscriptionRepository
from shared.auth import Principal
from shared.container import Container
from shared.domain.errors import ConcurrencyConflict
from shared.domain.subscriptions import AlreadySubscribed, QuotaExceeded, Subscription
from shared.domain.weather import City
from shared.ports import SubscriptionRepository
from shared.services.subscriptions import NotSubscribed, SubscriptionService
from tests.support.fakes import MemoryObservationCache

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def city(name: str | None = None) -> City:
    """A city of its own (a fresh id), so tests on the shared Azurite never meet."""
    number = random.randrange(10**9, 10**12)
    return City(str(number), name or f"Town{number}", "DE", 52.52, 13.41, 1000)


def user() -> str:
    return str(uuid.uuid4())


@pytest.fixture(params=["memory", "table"])
def repository(
    request: pytest.FixtureRequest, make_container: Callable[..., Container]
) -> SubscriptionRepository:
    if request.param == "memory":
        return MemorySubscriptionRepository()
    container = make_container()
    return TableSubscriptionRepository(
        container.table("subscriptions"), container.table("citysubscribers"),
        container.table("subscribedcities"),
    )  # fmt: skip


def in_set(repository: SubscriptionRepository, city_id: str) -> bool:
    return any(c.city.id == city_id for c in repository.subscribed_cities())


def test_a_users_list_is_guarded_by_its_version(repository: SubscriptionRepository) -> None:
    ann, berlin, paris = user(), city("Berlin"), city("Paris")
    assert repository.list_for_user(ann) == ([], None)
    repository.add_for_user(ann, Subscription(berlin, NOW), None)
    items, version = repository.list_for_user(ann)
    assert [s.city for s in items] == [berlin]
    assert items[0].subscribed_at == NOW
    assert version is not None
    with pytest.raises(ConcurrencyConflict):  # a second "first" subscription
        repository.add_for_user(ann, Subscription(paris, NOW), None)
    repository.add_for_user(ann, Subscription(paris, NOW + timedelta(seconds=1)), version)
    with pytest.raises(ConcurrencyConflict):  # the version moved on
        repository.add_for_user(ann, Subscription(city(), NOW), version)
    items, newer = repository.list_for_user(ann)
    assert [s.city.id for s in items] == [berlin.id, paris.id]  # oldest first
    with pytest.raises(ConcurrencyConflict):  # the row is there
        repository.add_for_user(ann, Subscription(paris, NOW), newer)
    with pytest.raises(ConcurrencyConflict):
        repository.remove_for_user(ann, berlin.id, version)  # stale
    repository.remove_for_user(ann, berlin.id, newer)  # type: ignore[arg-type]
    items, latest = repository.list_for_user(ann)
    assert [s.city.id for s in items] == [paris.id]
    with pytest.raises(ConcurrencyConflict):  # not there any more
        repository.remove_for_user(ann, berlin.id, latest)  # type: ignore[arg-type]


def test_the_city_set_follows_joins_and_leaves(repository: SubscriptionRepository) -> None:
    berlin, ann, bob = city("Berlin"), user(), user()
    assert repository.subscribed_city(berlin.id) is None
    repository.join_city(berlin, ann)
    repository.join_city(berlin, ann)  # idempotent
    repository.join_city(berlin, bob)
    found = repository.subscribed_city(berlin.id)
    assert found is not None and found.city == berlin
    assert found.refreshed_at is None and found.published is None
    assert in_set(repository, berlin.id)
    repository.leave_city(berlin.id, ann)
    assert in_set(repository, berlin.id)
    repository.leave_city(berlin.id, ann)  # idempotent
    assert in_set(repository, berlin.id)
    repository.leave_city(berlin.id, bob)
    assert not in_set(repository, berlin.id)
    assert repository.subscribed_city(berlin.id) is None


def test_refresh_marks_stay_on_the_city_and_never_bring_one_back(
    repository: SubscriptionRepository,
) -> None:
    berlin, ann = city("Berlin"), user()
    repository.join_city(berlin, ann)
    repository.mark_refreshed(berlin.id, NOW, "abc")
    repository.mark_refreshed(berlin.id, NOW + timedelta(minutes=10), None)  # keeps "abc"
    found = repository.subscribed_city(berlin.id)
    assert found is not None
    assert (found.refreshed_at, found.published) == (NOW + timedelta(minutes=10), "abc")
    repository.join_city(berlin, user())  # a join keeps what the refresh recorded
    assert repository.subscribed_city(berlin.id).published == "abc"  # type: ignore[union-attr]
    gone = city()
    repository.mark_refreshed(gone.id, NOW, "x")
    assert repository.subscribed_city(gone.id) is None


# -- races, on Azurite -------------------------------------------------------------------


class OneCity:
    """The CityWeather port for one city (the resolver is not what is tested here)."""

    def __init__(self, the_city: City) -> None:
        self.city = the_city
        self.by_name: dict[str, City] = {the_city.name.lower(): the_city}

    def resolve(self, name: str, country: str | None) -> City:
        return self.by_name[name.lower()]

    def current(self, the_city: City, units: Any) -> dict[str, Any]:
        return {"city": the_city.to_dict()}


class NoUsers:
    def get(self, user_id: str) -> None:
        return None  # every caller is on the basic plan


def table_service(container: Container, weather: OneCity) -> SubscriptionService:
    repository = TableSubscriptionRepository(
        container.table("subscriptions"), container.table("citysubscribers"),
        container.table("subscribedcities"),
    )  # fmt: skip
    return SubscriptionService(
        repository, NoUsers(), weather, MemoryObservationCache(), "simulated",  # type: ignore[arg-type]
        MemoryRealtimePublisher(), FakeClock(NOW), basic_limit=3, premium_limit=15,
    )  # fmt: skip


@pytest.mark.parametrize("survivors", [0, 1, 5])
def test_many_users_joining_and_leaving_one_city_leave_the_set_exact(
    make_container: Callable[..., Container], survivors: int
) -> None:
    """16 users (each on a container of its own: 16 instances) subscribe and unsubscribe
    one city 6 times each, all at once; ``survivors`` of them end subscribed. Afterwards
    the city is in the subscribed set exactly when someone follows it, and its subscriber
    rows are exactly the users whose lists hold it."""
    the_city = city("Racetown")
    weather = OneCity(the_city)
    users = [Principal(user(), "x@example.com") for _ in range(16)]
    services = [table_service(make_container(), weather) for _ in users]
    barrier = threading.Barrier(len(users))

    def churn(index: int) -> None:
        service, principal = services[index], users[index]
        barrier.wait()
        for _ in range(6):
            service.subscribe(principal, "Racetown", None)
            service.unsubscribe(principal, the_city.id)
        if index < survivors:
            service.subscribe(principal, "Racetown", None)

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        list(pool.map(churn, range(len(users))))

    check = services[0].repository
    following = {p.user_id for p in users if check.list_for_user(p.user_id)[0]}
    assert len(following) == survivors
    assert in_set(check, the_city.id) == (survivors > 0)
    rows = make_container().table("citysubscribers").query_entities(
        "PartitionKey eq @pk", parameters={"pk": the_city.id}
    )  # fmt: skip
    assert {row["RowKey"] for row in rows} == following


def test_two_concurrent_subscribes_of_a_basic_user_with_two_cities_make_three(
    make_container: Callable[..., Container],
) -> None:
    for _ in range(5):
        cities = [city(f"Q{uuid.uuid4().hex[:8]}") for _ in range(4)]
        weather = OneCity(cities[0])
        weather.by_name = {c.name.lower(): c for c in cities}
        principal = Principal(user(), "q@example.com")
        first = table_service(make_container(), weather)
        first.subscribe(principal, cities[0].name, None)
        first.subscribe(principal, cities[1].name, None)
        second = table_service(make_container(), weather)
        barrier = threading.Barrier(2)

        def attempt(
            pair: tuple[SubscriptionService, City],
            principal: Principal = principal,
            barrier: threading.Barrier = barrier,
        ) -> str:
            service, target = pair
            barrier.wait()
            try:
                service.subscribe(principal, target.name, None)
                return "201"
            except QuotaExceeded:
                return "403"

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(attempt, [(first, cities[2]), (second, cities[3])]))
        assert outcomes == ["201", "403"]
        items, _ = first.repository.list_for_user(principal.user_id)
        assert len(items) == 3
        loser = next(c for c in cities[2:] if c.id not in {s.city.id for s in items})
        assert not in_set(first.repository, loser.id)  # the refused city never joined
        with pytest.raises(NotSubscribed):
            first.unsubscribe(principal, loser.id)


class AfterQuery:
    """A subscribers table that runs ``hook`` once, right after the first partition query
    of a leave has been answered (the moment a racing join does the most harm)."""

    def __init__(self, table: Any, hook: Callable[[], None]) -> None:
        self._table = table
        self._hook: Callable[[], None] | None = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def query_entities(self, *args: Any, **kwargs: Any) -> Any:
        rows = list(self._table.query_entities(*args, **kwargs))
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()

        class Pages(list):  # type: ignore[type-arg]
            def by_page(self) -> list[list[Any]]:
                return [list(self)]

        return Pages(rows)


def test_a_join_between_a_leaves_look_and_its_delete_keeps_the_city(
    make_container: Callable[..., Container],
) -> None:
    """Scheduled, not hoped for: Ann leaves; her look finds nobody; Bob joins right then;
    Ann's delete of the city's row must not go through (its ETag changed)."""
    container = make_container()
    tables = [container.table(n) for n in ("subscriptions", "citysubscribers",
                                            "subscribedcities")]  # fmt: skip
    bob_side = TableSubscriptionRepository(*tables)
    the_city, ann, bob = city("Narrowgate"), user(), user()
    bob_side.join_city(the_city, ann)
    ann_side = TableSubscriptionRepository(
        tables[0], AfterQuery(tables[1], lambda: bob_side.join_city(the_city, bob)),  # type: ignore[arg-type]
        tables[2],
    )  # fmt: skip
    ann_side.leave_city(the_city.id, ann)
    assert in_set(bob_side, the_city.id)
    bob_side.leave_city(the_city.id, bob)
    assert not in_set(bob_side, the_city.id)


def test_one_user_subscribing_and_unsubscribing_at_once_leaves_the_sides_agreeing(
    make_container: Callable[..., Container],
) -> None:
    """Four users, each with one thread subscribing and one unsubscribing the same city
    (two instances), 8 times each: afterwards, per user, the list and the city's side say
    the same, and the city is in the set exactly when a list holds it. (Threads rarely hit
    the narrow bad interleavings; tests/unit/test_subscriptions_service.py schedules them.)"""
    the_city = city("Flipflop")
    weather = OneCity(the_city)
    users = [Principal(user(), "f@example.com") for _ in range(4)]
    barrier = threading.Barrier(2 * len(users))

    def flip(args: tuple[Principal, str]) -> None:
        principal, what = args
        service = table_service(make_container(), weather)
        barrier.wait()
        for _ in range(8):
            try:
                if what == "subscribe":
                    service.subscribe(principal, "Flipflop", None)
                else:
                    service.unsubscribe(principal, the_city.id)
            except (AlreadySubscribed, NotSubscribed):
                pass

    work = [(p, w) for p in users for w in ("subscribe", "unsubscribe")]
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        list(pool.map(flip, work))
    check = table_service(make_container(), weather).repository
    rows = make_container().table("citysubscribers").query_entities(
        "PartitionKey eq @pk", parameters={"pk": the_city.id}
    )  # fmt: skip
    counted = {row["RowKey"] for row in rows}
    following = {p.user_id for p in users if check.list_for_user(p.user_id)[0]}
    assert counted == following
    assert in_set(check, the_city.id) == bool(following)
