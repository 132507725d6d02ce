"""The SubscriptionRepository port in memory (unit tests; its contract with the Table
adapter is tests/integration/test_subscription_repository_contract.py)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from shared.domain.errors import ConcurrencyConflict
from shared.domain.subscriptions import SubscribedCity, Subscription
from shared.domain.weather import City


class MemorySubscriptionRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, Subscription]] = {}
        self._versions: dict[str, int] = {}
        self._subscribers: dict[str, set[str]] = {}
        self._cities: dict[str, SubscribedCity] = {}

    def list_for_user(self, user_id: str) -> tuple[list[Subscription], str | None]:
        with self._lock:
            items = sorted(self._users.get(user_id, {}).values(),
                           key=lambda s: (s.subscribed_at, s.city.id))  # fmt: skip
            version = self._versions.get(user_id)
            return items, None if version is None else str(version)

    def _check(self, user_id: str, version: str | None) -> None:
        current = self._versions.get(user_id)
        if (None if current is None else str(current)) != version:
            raise ConcurrencyConflict("the list changed")

    def add_for_user(self, user_id: str, subscription: Subscription, version: str | None) -> None:
        with self._lock:
            self._check(user_id, version)
            rows = self._users.setdefault(user_id, {})
            if subscription.city.id in rows:
                raise ConcurrencyConflict("the row exists")
            rows[subscription.city.id] = subscription
            self._versions[user_id] = self._versions.get(user_id, 0) + 1

    def remove_for_user(self, user_id: str, city_id: str, version: str) -> None:
        with self._lock:
            self._check(user_id, version)
            if self._users.get(user_id, {}).pop(city_id, None) is None:
                raise ConcurrencyConflict("no such row")
            self._versions[user_id] += 1

    def join_city(self, city: City, user_id: str) -> None:
        with self._lock:
            self._subscribers.setdefault(city.id, set()).add(user_id)
            known = self._cities.get(city.id)
            self._cities[city.id] = replace(known, city=city) if known else SubscribedCity(city)

    def leave_city(self, city_id: str, user_id: str) -> None:
        with self._lock:
            users = self._subscribers.get(city_id, set())
            users.discard(user_id)
            if not users:
                self._subscribers.pop(city_id, None)
                self._cities.pop(city_id, None)

    def subscribed_cities(self) -> list[SubscribedCity]:
        with self._lock:
            return list(self._cities.values())

    def subscribed_city(self, city_id: str) -> SubscribedCity | None:
        with self._lock:
            return self._cities.get(city_id)

    def mark_refreshed(self, city_id: str, refreshed_at: datetime, published: str | None) -> None:
        with self._lock:
            known = self._cities.get(city_id)
            if known is not None:
                self._cities[city_id] = replace(
                    known, refreshed_at=refreshed_at,
                    published=published if published is not None else known.published,
                )  # fmt: skip

    def subscribers(self, city_id: str) -> set[str]:
        with self._lock:
            return set(self._subscribers.get(city_id, set()))
