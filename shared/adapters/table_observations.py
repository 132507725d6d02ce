"""Observations as the refresh records them, in Table Storage, kept 7 days.

``observations``  PartitionKey = city id (key-safe); RowKey = the provider's measurement
                  time, ``YYYY-MM-DDTHH:MM:SSZ`` (sorts oldest first): ``temperature``,
                  ``feels_like``, ``humidity``, ``pressure``, ``precipitation_probability``
                  (absent when the provider gave none), ``conditions``, ``units``.
                  -> GET /api/cities/{city_id}/observations?hours=N is ONE range query:
                  ``PartitionKey eq city and RowKey ge now-N h`` (``and RowKey gt cursor``),
                  oldest first, a page of ``limit + 1`` rows.
                  PartitionKey = ``~cities`` (no city id starts with ``~``); RowKey = city
                  id: ``last_day``, the last UTC day a row was recorded -> the purge lists
                  the cities that have rows in one partition query, never scans the table.

Writes: one upsert per city per refresh (the row; keyed by measurement time, so a
refresh that reads an unchanged measurement, or a message delivered twice, rewrites the
same row); plus one upsert of the city's ``~cities`` row on its first refresh of a UTC
day. At rest: a row per city per distinct measurement for 7 days (at the default 10-minute
schedule about 1 000 rows of ~200 bytes a city). The purge: one partition query of
``~cities``, then per city one range query ``RowKey lt cutoff`` (keys only) and deletes in
transactions of 100 (one partition each); a city with no row for longer than the
retention loses its ``~cities`` row too (ETag-guarded, so a concurrent refresh wins).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import decode_cursor, etag_of, key_range_page
from shared.domain.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.domain.weather import Observation

INDEX_PARTITION = "~cities"
_KEY_UNSAFE = re.compile(r"[/\\#?\x00-\x1f\x7f]")
_TIME_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_FIELDS = ["RowKey", "temperature", "feels_like", "humidity", "precipitation_probability",
           "conditions"]  # fmt: skip


def time_key(moment: datetime) -> str:
    """A RowKey that sorts like the time: ISO 8601 UTC to the second, with ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(value: str) -> str:
    return _KEY_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value)


def check_cursor(cursor: str | None) -> None:
    """400 for a cursor that is not one of this list's (a time key)."""
    after = decode_cursor(cursor, "")
    if after is not None and not _TIME_KEY.fullmatch(after):
        raise ValidationFailed(
            "The cursor is not valid", errors=[FieldError("cursor", "not a cursor of this list")]
        )


def item(row: Any) -> dict[str, Any]:
    """An observation item of API.md from a row."""
    return {
        "time": row["RowKey"],
        "temperature": row["temperature"],
        "feels_like": row["feels_like"],
        "humidity": row["humidity"],
        "precipitation_probability": row.get("precipitation_probability"),
        "conditions": row["conditions"],
    }


class TableObservationLog:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def record(self, city_id: str, observation: Observation, *, first_of_day: bool) -> None:
        from azure.data.tables import UpdateMode

        row: dict[str, Any] = {
            "PartitionKey": _key(city_id), "RowKey": time_key(observation.observed_at),
            "temperature": observation.temperature, "feels_like": observation.feels_like,
            "humidity": observation.humidity, "pressure": observation.pressure,
            "conditions": observation.conditions, "units": observation.units,
        }  # fmt: skip
        if observation.precipitation_probability is not None:
            row["precipitation_probability"] = observation.precipitation_probability
        self._table.upsert_entity(row, mode=UpdateMode.REPLACE)
        if first_of_day:
            day = observation.observed_at.astimezone(UTC).date().isoformat()
            self._table.upsert_entity(
                {"PartitionKey": INDEX_PARTITION, "RowKey": _key(city_id), "last_day": day},
                mode=UpdateMode.REPLACE,
            )

    def page(
        self, city_id: str, since: datetime, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        check_cursor(cursor)
        rows, next_cursor = key_range_page(
            self._table, "PartitionKey eq @pk and RowKey ge @since",
            {"pk": _key(city_id), "since": time_key(since)}, limit, cursor, select=_FIELDS,
        )  # fmt: skip
        return [item(row) for row in rows], next_cursor

    def purge(self, before: datetime) -> int:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        cutoff, cutoff_day = time_key(before), before.astimezone(UTC).date().isoformat()
        deleted = 0
        for marker in list(
            self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": INDEX_PARTITION}, results_per_page=1000
            )
        ):
            partition = marker["RowKey"]
            deleted += self._purge_partition(partition, cutoff)
            if str(marker.get("last_day", "")) < cutoff_day:
                with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
                    self._table.delete_entity(
                        INDEX_PARTITION, partition, etag=etag_of(marker),
                        match_condition=MatchConditions.IfNotModified,
                    )  # fmt: skip
        return deleted

    def _purge_partition(self, partition: str, cutoff: str) -> int:
        deleted = 0
        while True:
            keys = [
                entity["RowKey"]
                for _, entity in zip(
                    range(1000),
                    self._table.query_entities(
                        "PartitionKey eq @pk and RowKey lt @cutoff",
                        parameters={"pk": partition, "cutoff": cutoff},
                        select=["RowKey"], results_per_page=1000,
                    ),
                    strict=False,
                )
            ]  # fmt: skip
            if not keys:
                return deleted
            for start in range(0, len(keys), 100):
                batch = keys[start : start + 100]
                self._table.submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": key}) for key in batch]
                )
                deleted += len(batch)
