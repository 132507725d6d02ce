"""Search history in Table Storage.

``history``  PartitionKey = user id, RowKey = ``{inverted ms}{random}`` (newest first)
             -> GET /api/history: one partition range query from the cursor, ``limit + 1``
             rows; DELETE /api/history: the caller's RowKeys in pages, deleted in
             transactions of 100 (one partition, so each batch is atomic).
One user's rows are never in another user's partition: nobody can read or clear another's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import from_iso, key_range_page, to_iso

if TYPE_CHECKING:
    from azure.data.tables import TableClient

MAX_TIME = 10**13


def _row_key(when: datetime) -> str:
    return f"{MAX_TIME - int(when.timestamp() * 1000):013d}{uuid.uuid4().hex[:12]}"


def _public(entity: Any) -> dict[str, Any]:
    return {
        "id": entity["RowKey"],
        "city_name": entity["city_name"],
        "country": entity["country"],
        "city_id": entity["city_id"],
        "timestamp": from_iso(entity["timestamp"]),
    }


class TableHistoryRepository:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def add(self, user_id: str, city_name: str, country: str, city_id: str, when: datetime) -> str:
        row_key = _row_key(when)
        self._table.create_entity({
            "PartitionKey": user_id, "RowKey": row_key, "city_name": city_name,
            "country": country, "city_id": city_id, "timestamp": to_iso(when),
        })  # fmt: skip
        return row_key

    def page(
        self, user_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        rows, next_cursor = key_range_page(
            self._table, "PartitionKey eq @user", {"user": user_id}, limit, cursor
        )
        return [_public(e) for e in rows], next_cursor

    def export(self, user_id: str) -> list[dict[str, Any]]:
        """Every entry of the user, newest first (for the history.export job)."""
        return [
            _public(e)
            for e in self._table.query_entities(
                "PartitionKey eq @user", parameters={"user": user_id}, results_per_page=1000
            )
        ]

    def clear(self, user_id: str) -> int:
        deleted = 0
        while True:
            keys = [
                e["RowKey"]
                for _, e in zip(
                    range(1000),
                    self._table.query_entities(
                        "PartitionKey eq @user",
                        parameters={"user": user_id},
                        select=["RowKey"],
                        results_per_page=1000,
                    ),
                    strict=False,
                )
            ]
            if not keys:
                return deleted
            for start in range(0, len(keys), 100):
                batch = keys[start : start + 100]
                self._table.submit_transaction(
                    [("delete", {"PartitionKey": user_id, "RowKey": key}) for key in batch]
                )
                deleted += len(batch)
