"""Subscriptions in Table Storage.

``subscriptions``     PartitionKey = user id; RowKey = city id: ``city`` (JSON), ``subscribed_at``;
                      plus RowKey ``~version`` (``~`` sorts after every city id): a counter
                      that every change of the user's list rewrites with its ETag.
                      -> GET /api/subscriptions is one partition query (the list and its
                      version); a subscribe is that query and one transaction (the new row
                      and the version, ETag-guarded), so two concurrent subscribes of one
                      user cannot both pass the quota check: the second one's transaction
                      fails on the version and it decides again on the new list.
``citysubscribers``   PartitionKey = city id; RowKey = user id: one row per subscriber.
``subscribedcities``  PartitionKey = "cities"; RowKey = city id: ``city`` (JSON, with the
                      coordinates the provider needs), ``touched_at``, and the refresh's
                      ``refreshed_at`` and ``published`` (fingerprint of the weather last
                      pushed). -> the refresh lists every subscribed city in one partition
                      query and never reads a user.

The set stays exact under concurrent joins and leaves. A join inserts its subscriber row,
THEN upserts the city's row (any write changes its ETag). A leave deletes its subscriber
row, reads the city's row (its ETag), THEN looks for any subscriber row left, and deletes
the city's row only if nobody is left AND the row still has that ETag. A join that raced
the leave either wrote its subscriber row before the leave looked (the leave sees it and
keeps the city), or upserted the city's row after the leave read it (the conditional
delete fails with 412 and the leave looks again), or after the delete (the upsert creates
the row again). The refresh's own writes to a city's row only update an existing row
(If-Match *), so it never brings back a city that left; a leave that crosses one simply
looks again.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import etag_of, from_iso, to_iso
from shared.domain.errors import ConcurrencyConflict
from shared.domain.subscriptions import SubscribedCity, Subscription
from shared.domain.weather import City

if TYPE_CHECKING:
    from azure.data.tables import TableClient

VERSION_ROW = "~version"
CITIES_PARTITION = "cities"
_KEY_UNSAFE = re.compile(r"[/\\#?\x00-\x1f\x7f]")
_ATTEMPTS = 50


def key(value: str) -> str:
    """Table keys may not hold / \\ # ? or control characters (ids never do; belt and braces)."""
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


def city_to_json(city: City) -> str:
    return json.dumps(city.__dict__, ensure_ascii=False)


def city_from_json(text: str) -> City:
    return City(**json.loads(text))


class TableSubscriptionRepository:
    def __init__(
        self, subscriptions: TableClient, subscribers: TableClient, cities: TableClient
    ) -> None:
        self._subscriptions = subscriptions
        self._subscribers = subscribers
        self._cities = cities

    # -- the user's side ------------------------------------------------------------------

    def list_for_user(self, user_id: str) -> tuple[list[Subscription], str | None]:
        items: list[Subscription] = []
        version: str | None = None
        for entity in self._subscriptions.query_entities(
            "PartitionKey eq @pk", parameters={"pk": key(user_id)}
        ):
            if entity["RowKey"] == VERSION_ROW:
                version = etag_of(entity)
                continue
            subscribed_at = from_iso(entity["subscribed_at"])
            assert subscribed_at is not None
            items.append(Subscription(city_from_json(entity["city"]), subscribed_at))
        items.sort(key=lambda s: (s.subscribed_at, s.city.id))
        return items, version

    def add_for_user(self, user_id: str, subscription: Subscription, version: str | None) -> None:
        row = {
            "PartitionKey": key(user_id), "RowKey": key(subscription.city.id),
            "city": city_to_json(subscription.city),
            "subscribed_at": to_iso(subscription.subscribed_at),
        }  # fmt: skip
        self._transact(user_id, [("create", row)], version)

    def remove_for_user(self, user_id: str, city_id: str, version: str) -> None:
        row = {"PartitionKey": key(user_id), "RowKey": key(city_id)}
        self._transact(user_id, [("delete", row)], version)

    def _transact(self, user_id: str, operations: list[Any], version: str | None) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        counter = {"PartitionKey": key(user_id), "RowKey": VERSION_ROW}
        if version is None:
            operations = [*operations, ("create", counter)]
        else:
            guard = {"mode": UpdateMode.REPLACE, "etag": version,
                     "match_condition": MatchConditions.IfNotModified}  # fmt: skip
            operations = [*operations, ("update", counter, guard)]
        try:
            self._subscriptions.submit_transaction(operations)
        except HttpResponseError as exc:
            # 412: the list changed since it was read; 409: a row (or the first version
            # row) exists; 404: the row to delete is gone. The caller reads and decides.
            if exc.status_code in (404, 409, 412):
                raise ConcurrencyConflict(str(exc.reason or exc.status_code)) from exc
            raise

    # -- the city's side ------------------------------------------------------------------

    def join_city(self, city: City, user_id: str) -> None:
        from azure.data.tables import UpdateMode

        self._subscribers.upsert_entity(
            {"PartitionKey": key(city.id), "RowKey": key(user_id)}, mode=UpdateMode.REPLACE
        )
        # After the subscriber row, always a write: a racing leave sees one or the other.
        self._cities.upsert_entity(
            {"PartitionKey": CITIES_PARTITION, "RowKey": key(city.id), "city": city_to_json(city)},
            mode=UpdateMode.MERGE,
        )  # fmt: skip

    def leave_city(self, city_id: str, user_id: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):  # the SDK ignores a missing row too
            self._subscribers.delete_entity(key(city_id), key(user_id))
        for _ in range(_ATTEMPTS):
            try:
                marker = self._cities.get_entity(CITIES_PARTITION, key(city_id))
            except ResourceNotFoundError:
                return
            if self._has_subscribers(city_id):
                return
            try:
                self._cities.delete_entity(
                    CITIES_PARTITION, key(city_id), etag=etag_of(marker),
                    match_condition=MatchConditions.IfNotModified,
                )  # fmt: skip
                return
            except ResourceModifiedError:
                continue  # a join (or the refresh) wrote meanwhile: look again
            except ResourceNotFoundError:
                return
        raise ConcurrencyConflict(f"the subscribed set kept changing around city {city_id!r}")

    def _has_subscribers(self, city_id: str) -> bool:
        pages = self._subscribers.query_entities(
            "PartitionKey eq @pk", parameters={"pk": key(city_id)}, results_per_page=1,
            select=["RowKey"],
        ).by_page()  # fmt: skip
        for page in pages:
            for _ in page:
                return True
            # An empty first page with a continuation token: keep looking.
        return False

    def subscribed_cities(self) -> list[SubscribedCity]:
        return [
            _subscribed(entity)
            for entity in self._cities.query_entities(
                "PartitionKey eq @pk", parameters={"pk": CITIES_PARTITION}
            )
        ]

    def subscribed_city(self, city_id: str) -> SubscribedCity | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _subscribed(self._cities.get_entity(CITIES_PARTITION, key(city_id)))
        except ResourceNotFoundError:
            return None

    def mark_refreshed(self, city_id: str, refreshed_at: datetime, published: str | None) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        entity: dict[str, Any] = {"PartitionKey": CITIES_PARTITION, "RowKey": key(city_id),
                                  "refreshed_at": to_iso(refreshed_at)}  # fmt: skip
        if published is not None:
            entity["published"] = published
        # If-Match *: only a row that exists; a city that left the set stays out.
        with contextlib.suppress(ResourceNotFoundError):
            self._cities.update_entity(entity, mode=UpdateMode.MERGE)


def _subscribed(entity: Any) -> SubscribedCity:
    return SubscribedCity(
        city_from_json(entity["city"]),
        from_iso(entity.get("refreshed_at")),
        entity.get("published") or None,
    )
