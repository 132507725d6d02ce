"""Subscriptions with the real resolver (city index + simulated provider) and in-memory
ports: quotas per plan (and after a plan change), duplicates, unknown cities, the
subscribed-city set, and the real-time group changes with their ordering."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pytest

from shared.adapters.city_index import CityIndex
from shared.adapters.clock import FakeClock
from shared.adapters.memory_accounts import MemoryUserRepository
from shared.adapters.memory_realtime import MemoryRealtimePublisher
from shared.adapters.memory_subscriptions import MemorySubscriptionRepository
from shared.adapters.weather_simulated import SimulatedProvider
from shared.auth import Principal
from shared.container import CITY_INDEX_PATH
from shared.domain.accounts import User
from shared.domain.errors import AppError, UpstreamUnavailable
from shared.domain.subscriptions import AlreadySubscribed, QuotaExceeded
from shared.services.subscriptions import NotSubscribed, SubscriptionService
from shared.services.weather import CityNotFound, WeatherService
from tests.support.fakes import MemoryGeocodeCache, MemoryHistory, MemoryObservationCache

BERLIN, PARIS, LONDON, TOKYO = "2950159", "2988507", "2643743", "1850147"
CITIES = ["Berlin", "Paris", "London", "Tokyo", "Madrid", "Rome", "Vienna", "Prague",
          "Warsaw", "Lisbon", "Dublin", "Oslo", "Helsinki", "Athens", "Budapest", "Cairo",
          "Lima"]  # fmt: skip


@lru_cache(maxsize=1)
def city_index() -> CityIndex:
    return CityIndex(CITY_INDEX_PATH)


class FlakyProvider(SimulatedProvider):
    failing = False

    def current(self, cities: Any, units: Any) -> Any:
        if self.failing:
            raise UpstreamUnavailable("down", retry_after=5)
        return super().current(cities, units)


@dataclass
class World:
    clock: FakeClock
    users: MemoryUserRepository
    repository: MemorySubscriptionRepository
    realtime: MemoryRealtimePublisher
    provider: FlakyProvider
    service: SubscriptionService

    def user(self, plan: str = "basic") -> Principal:
        user_id = str(uuid.uuid4())
        self.users.add(User(user_id, f"{user_id}@example.com", "x", True, plan,  # type: ignore[arg-type]
                            self.clock.now()))  # fmt: skip
        return Principal(user_id, f"{user_id}@example.com")

    def set_plan(self, principal: Principal, plan: str) -> None:
        """What PUT /api/users/{id}/plan does to the account."""
        found = self.users.get(principal.user_id)
        assert found is not None
        self.users.update(replace(found.value, plan=plan), found.etag)  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    clock = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    provider = FlakyProvider(clock)
    cache = MemoryObservationCache()
    weather = WeatherService(provider, city_index(), cache, MemoryGeocodeCache(),
                             MemoryHistory(), clock, 600)  # fmt: skip
    users, repository, realtime = (
        MemoryUserRepository(), MemorySubscriptionRepository(), MemoryRealtimePublisher()
    )  # fmt: skip
    service = SubscriptionService(repository, users, weather, cache, provider.name, realtime,
                                  clock, basic_limit=3, premium_limit=15)  # fmt: skip
    return World(clock, users, repository, realtime, provider, service)


def status(error: AppError) -> tuple[int, str]:
    return error.status, error.slug


def test_basic_plan_follows_three_cities_then_quota_exceeded(world: World) -> None:
    ann = world.user()
    for minute, name in enumerate(CITIES[:3]):
        body = world.service.subscribe(ann, name, None)
        assert body["city"]["name"] == name
        assert body["weather"]["temperature"] is not None
        assert body["subscribed_at"] == f"2026-12-01T09:0{minute}:00Z"
        world.clock.advance(60)
    with pytest.raises(QuotaExceeded) as refused:
        world.service.subscribe(ann, "Tokyo", None)
    assert status(refused.value) == (403, "quota-exceeded")
    listed = world.service.list_for(ann)
    assert (listed["plan"], listed["limit"], listed["used"]) == ("basic", 3, 3)
    assert [item["city"]["id"] for item in listed["items"]] == [BERLIN, PARIS, LONDON]
    assert all(item["weather"]["city"]["id"] == item["city"]["id"] for item in listed["items"])


def test_the_quota_follows_a_plan_change_at_once(world: World) -> None:
    bob = world.user()
    for name in CITIES[:3]:
        world.service.subscribe(bob, name, None)
    world.set_plan(bob, "premium")
    for name in CITIES[3:15]:
        world.service.subscribe(bob, name, None)
    assert world.service.list_for(bob)["used"] == 15
    with pytest.raises(QuotaExceeded):
        world.service.subscribe(bob, CITIES[15], None)
    world.set_plan(bob, "basic")  # lowered: keeps its 15, adds none
    listed = world.service.list_for(bob)
    assert (listed["plan"], listed["limit"], listed["used"]) == ("basic", 3, 15)
    with pytest.raises(QuotaExceeded):
        world.service.subscribe(bob, CITIES[16], None)
    world.service.unsubscribe(bob, BERLIN)
    assert world.service.list_for(bob)["used"] == 14


@pytest.mark.parametrize(("name", "country"), [("Berlin", None), ("berlin", None),
                                               ("Berlin,DE", None), ("BERLIN", "de")])  # fmt: skip
def test_a_city_followed_already_is_409(world: World, name: str, country: str | None) -> None:
    ann = world.user()
    world.service.subscribe(ann, "Berlin", None)
    with pytest.raises(AlreadySubscribed) as refused:
        world.service.subscribe(ann, name, country)
    assert status(refused.value) == (409, "already-subscribed")
    assert world.service.list_for(ann)["used"] == 1


def test_an_unknown_city_is_404_with_suggestions(world: World) -> None:
    ann = world.user()
    with pytest.raises(CityNotFound) as missing:
        world.service.subscribe(ann, "Berlinn", None)
    assert status(missing.value) == (404, "city-not-found")
    assert "Berlin" in str(missing.value.detail)  # "Did you mean: Berlin, ...?"
    assert world.service.list_for(ann)["used"] == 0
    assert world.repository.subscribed_cities() == []


def test_unsubscribing_a_city_not_followed_is_404(world: World) -> None:
    ann = world.user()
    with pytest.raises(NotSubscribed) as missing:
        world.service.unsubscribe(ann, BERLIN)
    assert missing.value.status == 404
    world.service.subscribe(ann, "Berlin", None)
    world.service.unsubscribe(ann, BERLIN)
    with pytest.raises(NotSubscribed):
        world.service.unsubscribe(ann, BERLIN)


def test_the_subscribed_set_holds_a_city_while_anyone_follows_it(world: World) -> None:
    ann, bob = world.user(), world.user()
    world.service.subscribe(ann, "Berlin", None)
    world.service.subscribe(bob, "Berlin", None)
    world.service.subscribe(bob, "Paris", None)
    ids = lambda: sorted(c.city.id for c in world.repository.subscribed_cities())  # noqa: E731
    assert ids() == [BERLIN, PARIS]
    world.service.unsubscribe(ann, BERLIN)
    assert ids() == [BERLIN, PARIS]
    world.service.unsubscribe(bob, BERLIN)
    assert ids() == [PARIS]
    assert world.repository.subscribers(PARIS) == {bob.user_id}


def test_unknown_accounts_get_the_basic_plan(world: World) -> None:
    ghost = Principal("no-such-user", "ghost@example.com")
    assert world.service.list_for(ghost)["limit"] == 3


def test_the_weather_is_null_when_the_provider_fails_and_nothing_is_cached(world: World) -> None:
    ann = world.user()
    world.provider.failing = True
    body = world.service.subscribe(ann, "Tokyo", None)
    assert body["weather"] is None
    assert world.service.list_for(ann)["items"][0]["weather"] is None
    world.provider.failing = False
    world.service.subscribe(ann, "Paris", None)
    world.clock.advance(3600)  # the latest known, flagged stale when old
    weather = world.service.list_for(ann)["items"][1]["weather"]
    assert (weather["cached"], weather["stale"]) == (True, True)


def test_group_changes_around_the_stored_change(world: World) -> None:
    """Added to the city's group after the subscription is stored; removed before it is
    deleted."""
    ann = world.user()
    seen: list[tuple[str, bool]] = []
    realtime, repository = world.realtime, world.repository

    class Watching(MemoryRealtimePublisher):
        def add_user_to_group(self, group: str, user_id: str) -> None:
            seen.append(("add", bool(repository.list_for_user(user_id)[0])))
            realtime.add_user_to_group(group, user_id)

        def remove_user_from_group(self, group: str, user_id: str) -> None:
            seen.append(("remove", bool(repository.list_for_user(user_id)[0])))
            realtime.remove_user_from_group(group, user_id)

    world.service.realtime = Watching()
    world.service.subscribe(ann, "Berlin", None)
    assert realtime.groups == {f"city.{BERLIN}": {ann.user_id}}
    world.service.unsubscribe(ann, BERLIN)
    assert realtime.groups == {f"city.{BERLIN}": set()}
    assert seen == [("add", True), ("remove", True)]  # stored when added; still when removed


def test_a_real_time_failure_never_fails_the_request(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ann = world.user()
    world.realtime.fail = True
    assert world.service.subscribe(ann, "Berlin", None)["city"]["id"] == BERLIN
    world.service.unsubscribe(ann, BERLIN)
    assert world.service.list_for(ann)["used"] == 0
    assert sum("real-time group change failed" in r.message for r in caplog.records) == 2


class Hooked(MemorySubscriptionRepository):
    """Runs ``before[name]`` once, just before the repository's ``name`` call does its work
    (a request of the same user scheduled into the middle of another)."""

    def __init__(self) -> None:
        super().__init__()
        self.before: dict[str, Any] = {}

    def _hook(self, name: str) -> None:
        hook = self.before.pop(name, None)
        if hook is not None:
            hook()

    def join_city(self, city: Any, user_id: str) -> None:
        self._hook("join_city")
        super().join_city(city, user_id)

    def leave_city(self, city_id: str, user_id: str) -> None:
        self._hook("leave_city")
        super().leave_city(city_id, user_id)


@pytest.fixture
def hooked(world: World) -> Hooked:
    repository = Hooked()
    world.service.repository = repository
    world.repository = repository
    return repository


def sides_agree(world: World, principal: Principal, city_id: str) -> bool:
    listed = any(s.city.id == city_id for s in world.repository.list_for_user(principal.user_id)[0])
    counted = principal.user_id in world.repository.subscribers(city_id)
    in_set = world.repository.subscribed_city(city_id) is not None
    return listed == counted == in_set


def test_an_unsubscribe_inside_a_subscribe_leaves_both_sides_agreeing(
    world: World, hooked: Hooked
) -> None:
    """Subscribe writes the list; the same user's unsubscribe runs whole; then the
    subscribe's join lands (a stale subscriber row) and must be taken back."""
    ann = world.user()
    hooked.before["join_city"] = lambda: world.service.unsubscribe(ann, BERLIN)
    assert world.service.subscribe(ann, "Berlin", None)["city"]["id"] == BERLIN  # it happened
    assert world.service.list_for(ann)["used"] == 0  # and so did the unsubscribe after it
    assert sides_agree(world, ann, BERLIN)
    assert world.repository.subscribed_city(BERLIN) is None
    assert not world.realtime.groups.get(f"city.{BERLIN}")  # not left in the group


def test_a_subscribe_inside_an_unsubscribe_leaves_both_sides_agreeing(
    world: World, hooked: Hooked
) -> None:
    """Unsubscribe deletes from the list; the same user subscribes again, whole; then the
    unsubscribe's leave lands and removes the new subscription's row: it must be put back."""
    ann = world.user()
    world.service.subscribe(ann, "Berlin", None)
    hooked.before["leave_city"] = lambda: world.service.subscribe(ann, "Berlin", None)
    world.service.unsubscribe(ann, BERLIN)
    assert world.service.list_for(ann)["used"] == 1
    assert sides_agree(world, ann, BERLIN)
    assert world.repository.subscribed_city(BERLIN) is not None


def test_negotiate_names_the_user_and_the_groups_of_their_cities_only(world: World) -> None:
    ann, bob = world.user(), world.user()
    for name in ("Berlin", "Paris"):
        world.service.subscribe(ann, name, None)
    world.service.subscribe(bob, "Tokyo", None)
    ids = [s.city.id for s in world.repository.list_for_user(ann.user_id)[0]]
    answer = world.service.negotiate(ann)
    assert answer["expires_in"] == 3600
    conn = world.realtime.connect(answer["url"])
    assert conn.user_id == ann.user_id
    assert conn.groups == {f"city.{city_id}" for city_id in ids}
    assert world.realtime.calls[-1] == ("client_url", ann.user_id,
                                        tuple(f"city.{i}" for i in ids), 60)  # fmt: skip
    world.service.unsubscribe(ann, ids[0])
    assert world.realtime.connect(world.service.negotiate(ann)["url"]).groups == {
        f"city.{ids[1]}"}  # fmt: skip
    nobody = world.user()
    assert world.realtime.connect(world.service.negotiate(nobody)["url"]).groups == set()


def test_negotiate_without_real_time_is_503(world: World) -> None:
    from shared.adapters.memory_realtime import DisabledRealtimePublisher

    world.service.realtime = DisabledRealtimePublisher()
    with pytest.raises(AppError) as refused:
        world.service.negotiate(world.user())
    assert refused.value.status == 503
