"""The ObservationLog port in memory (unit tests; its contract with the Table adapter is
tests/integration/test_observations.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from shared.adapters.table_codec import decode_cursor, encode_cursor
from shared.adapters.table_observations import check_cursor, item, time_key
from shared.domain.weather import Observation


class MemoryObservationLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self.index: dict[str, str] = {}  # city id -> last day recorded

    def record(self, city_id: str, observation: Observation, *, first_of_day: bool) -> None:
        row: dict[str, Any] = {
            "RowKey": time_key(observation.observed_at),
            "temperature": observation.temperature,
            "feels_like": observation.feels_like,
            "humidity": observation.humidity,
            "precipitation_probability": observation.precipitation_probability,
            "conditions": observation.conditions,
        }
        with self._lock:
            self.rows.setdefault(city_id, {})[row["RowKey"]] = row
            if first_of_day:
                self.index[city_id] = observation.observed_at.astimezone(UTC).date().isoformat()

    def page(
        self, city_id: str, since: datetime, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        check_cursor(cursor)
        after = decode_cursor(cursor, "") or ""
        low = time_key(since)
        with self._lock:
            keys = sorted(k for k in self.rows.get(city_id, {}) if k >= low and k > after)
            rows = [self.rows[city_id][k] for k in keys[: limit + 1]]
        if len(rows) > limit:
            return [item(r) for r in rows[:limit]], encode_cursor(rows[limit - 1]["RowKey"])
        return [item(r) for r in rows], None

    def purge(self, before: datetime) -> int:
        cutoff, cutoff_day = time_key(before), before.astimezone(UTC).date().isoformat()
        deleted = 0
        with self._lock:
            for city_id, last_day in list(self.index.items()):
                rows = self.rows.get(city_id, {})
                for key in [k for k in rows if k < cutoff]:
                    del rows[key]
                    deleted += 1
                if last_day < cutoff_day:
                    del self.index[city_id]
        return deleted
