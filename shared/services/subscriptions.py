"""Subscriptions: follow a city (within the plan's quota), list, unfollow.

Keys and the concurrency argument are in shared/adapters/table_subscriptions.py. The rules:

- The city is resolved exactly as GET /api/weather resolves it (404 ``city-not-found``
  with suggestions).
- The quota is the plan's (``PLAN_BASIC_CITY_LIMIT`` / ``PLAN_PREMIUM_CITY_LIMIT``), read
  from the user's account on every subscribe, so an administrator's plan change applies to
  the next request. A plan lowered below the count keeps every city, adds none.
- The check and the insert are one guarded write on the user's list (its version): two
  concurrent subscribes of one user never pass the quota together.
- The user's list is the truth; the city's side (the subscribed set) follows it. A
  subscribe writes the list, then the city's side; so does an unsubscribe (deletes from
  the list, then leaves the city). Each then reads the list again and corrects the city's side,
  so a subscribe and an unsubscribe of one user and city racing each other leave the two
  sides agreeing whatever the interleaving (tests/unit/test_subscriptions_service.py
  schedules both bad ones). A request that stops between its writes is repaired by the
  next request for the same city (409 or 404 paths redo the city's side).
- Real time: subscribing adds the user to the group ``city.<city_id>`` AFTER the
  subscription is stored; unsubscribing removes the user from it BEFORE the subscription is
  deleted. Either way a failure (logged, never the request's) can only leave a connection
  missing a group until it reconnects (the negotiate route puts a new connection in the
  groups of its subscriptions), never in the group of a city the user does not follow.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.domain.errors import ConcurrencyConflict, Conflict, NotFound, UpstreamUnavailable
from shared.domain.subscriptions import (
    AlreadySubscribed,
    Subscription,
    check_can_add,
    city_group,
    plan_limit,
)
from shared.logging import get_logger
from shared.services.weather import render, split_city

if TYPE_CHECKING:
    from shared.auth import Principal
    from shared.domain.weather import City, Units
    from shared.ports import (
        CityWeather,
        Clock,
        ObservationCache,
        RealtimePublisher,
        SubscriptionRepository,
        UserRepository,
    )

log = get_logger("app.subscriptions")

UNITS: Units = "metric"  # subscriptions follow the metric weather (the API's default units)
_ATTEMPTS = 20


class NotSubscribed(NotFound):
    slug, title = "not-found", "Not subscribed to this city"


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


class SubscriptionService:
    def __init__(
        self,
        repository: SubscriptionRepository,
        users: UserRepository,
        weather: CityWeather,
        cache: ObservationCache,
        provider_name: str,
        realtime: RealtimePublisher,
        clock: Clock,
        *,
        basic_limit: int,
        premium_limit: int,
        stale_after_seconds: int = 1200,
        realtime_token_minutes: int = 60,
    ) -> None:
        self.repository = repository
        self.users = users
        self.weather = weather
        self.cache = cache
        self.provider_name = provider_name
        self.realtime = realtime
        self.clock = clock
        self.basic_limit = basic_limit
        self.premium_limit = premium_limit
        self.stale_after = timedelta(seconds=stale_after_seconds)
        self.realtime_token_minutes = realtime_token_minutes
        # Threads start on first use; up to 15 cache reads of one list go at once.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="subscriptions")

    # -- the routes -----------------------------------------------------------------------

    def list_for(self, principal: Principal) -> dict[str, Any]:
        plan, limit = self._plan(principal.user_id)
        items, _ = self.repository.list_for_user(principal.user_id)
        weather = self._latest_many([s.city for s in items])
        return {
            "items": [
                {"city": s.city.to_dict(), "weather": w, "subscribed_at": _iso(s.subscribed_at)}
                for s, w in zip(items, weather, strict=True)
            ],
            "plan": plan,
            "limit": limit,
            "used": len(items),
        }

    def subscribe(self, principal: Principal, city: str, country: str | None) -> dict[str, Any]:
        name, country = split_city(city, country)
        found = self.weather.resolve(name, country)
        user_id = principal.user_id
        _, limit = self._plan(user_id)
        now = self.clock.now()
        for _ in range(_ATTEMPTS):
            items, version = self.repository.list_for_user(user_id)
            try:
                check_can_add(items, found.id, limit)
            except AlreadySubscribed:
                # Idempotent repair: a subscribe that stopped between its two writes left
                # the city out of the refreshed set; asking again puts it back.
                self.repository.join_city(found, user_id)
                raise
            try:
                self.repository.add_for_user(user_id, Subscription(found, now), version)
                break
            except ConcurrencyConflict:
                continue  # the list changed meanwhile: decide again on the new one
        else:
            raise Conflict("The subscriptions changed too often meanwhile; try again")
        self.repository.join_city(found, user_id)
        # An unsubscribe of this user and city may have run between the two writes (its
        # leave before this join): whoever acts last on the city's side reads the user's
        # list afterwards and makes the city's side agree with it.
        # (The subscribe still answers 201: it happened, and the unsubscribe after it.)
        items, _ = self.repository.list_for_user(user_id)
        if all(s.city.id != found.id for s in items):
            self.repository.leave_city(found.id, user_id)
        else:
            self._realtime("add_user_to_group", self.realtime.add_user_to_group,
                           city_group(found.id), user_id)  # fmt: skip
        log.info("subscribed", extra={"city_id": found.id})
        return {"city": found.to_dict(), "subscribed_at": _iso(now),
                "weather": self._current(found)}  # fmt: skip

    def unsubscribe(self, principal: Principal, city_id: str) -> None:
        user_id = principal.user_id
        items, version = self.repository.list_for_user(user_id)
        if version is None or all(s.city.id != city_id for s in items):
            # Idempotent repair of an unsubscribe that stopped between its writes.
            self.repository.leave_city(city_id, user_id)
            raise NotSubscribed("You do not follow this city")
        # Out of the group first: a failure after this leaves the user following a city
        # without its live updates (until reconnecting), never the reverse.
        self._realtime("remove_user_from_group", self.realtime.remove_user_from_group,
                       city_group(city_id), user_id)  # fmt: skip
        for _ in range(_ATTEMPTS):
            try:
                self.repository.remove_for_user(user_id, city_id, version)
                break
            except ConcurrencyConflict:
                items, version = self.repository.list_for_user(user_id)
                if version is None or all(s.city.id != city_id for s in items):
                    raise NotSubscribed("You do not follow this city") from None
        else:
            raise Conflict("The subscriptions changed too often meanwhile; try again")
        self.repository.leave_city(city_id, user_id)
        # A new subscribe of this user and city may have joined before this leave: then the
        # list holds the city again, and the city's side must count the user again.
        items, _ = self.repository.list_for_user(user_id)
        again = next((s for s in items if s.city.id == city_id), None)
        if again is not None:
            self.repository.join_city(again.city, user_id)
        log.info("unsubscribed", extra={"city_id": city_id})

    def negotiate(self, principal: Principal) -> dict[str, Any]:
        """A client URL of the caller's: their user id, and the groups of the cities they
        follow now (one partition query) and no other; no roles, so the connection cannot
        join, leave or send to a group. Later (un)subscribes change its groups through
        the publisher."""
        items, _ = self.repository.list_for_user(principal.user_id)
        groups = [city_group(s.city.id) for s in items]
        minutes = self.realtime_token_minutes
        url = self.realtime.client_url(principal.user_id, groups, minutes)
        return {"url": url, "expires_in": minutes * 60}

    # -- helpers --------------------------------------------------------------------------

    def _plan(self, user_id: str) -> tuple[str, int]:
        found = self.users.get(user_id)
        plan = found.value.plan if found is not None else "basic"
        return plan, plan_limit(plan, self.basic_limit, self.premium_limit)

    def _current(self, city: City) -> dict[str, Any] | None:
        """The weather for the 201: fetched like /api/weather, null when unavailable (the
        subscription stands; the refresh fills it in)."""
        try:
            return self.weather.current(city, UNITS)
        except UpstreamUnavailable:
            return None

    def _latest(self, city: City) -> dict[str, Any] | None:
        entry = self.cache.get(self.provider_name, UNITS, city.id)
        if entry is None:
            return None
        stale = self.clock.now() - entry.fetched_at > self.stale_after
        return render(city, entry.observation, self.provider_name, cached=True, stale=stale)

    def _latest_many(self, cities: list[City]) -> list[dict[str, Any] | None]:
        if len(cities) <= 1:
            return [self._latest(city) for city in cities]
        return list(self._pool.map(self._latest, cities))

    @staticmethod
    def _realtime(what: str, call: Callable[[str, str], None], group: str, user_id: str) -> None:
        try:
            call(group, user_id)
        except Exception:
            log.warning("real-time group change failed", exc_info=True,
                        extra={"operation": what, "group": group})  # fmt: skip
