"""The observations query (issue 20): ``python -m bench --only observations``.

One city's partition seeded as a week of 10-minute refreshes would leave it (1,008 rows,
written through the adapter the refresh uses), then the adapter's page queries timed on
the same Azurite: the last 24 hours (145 rows, both ends included: one page of one range
query) and the whole week (1,008 rows in pages of 200, the route's page size, as a client
walking the cursor would read them), beside one point read of a row of that table. Also
the write a refresh makes per city (one upsert), and what the purge of a day's rows costs.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import summary as _summary
from bench.common import timed


def bench_observations(connection_string: str, count: int = 100) -> dict[str, Any]:
    from azure.data.tables import TableClient

    from shared.adapters.table_observations import TableObservationLog, time_key
    from shared.domain.weather import Observation
    from shared.services.observations import PAGE_SIZE

    table = TableClient.from_connection_string(connection_string, "benchobservations")
    with contextlib.suppress(Exception):
        table.create_table()
    log = TableObservationLog(table)
    city = str(800_000_000 + uuid.uuid4().int % 99_999_999)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = 7 * 24 * 6
    started = time.perf_counter()
    for index in range(rows):
        at = now - timedelta(minutes=10 * (rows - 1 - index))
        observation = Observation(10.0 + index % 17 / 2, 9.0, 70, 1012.0, 3.2, 40, 20,
                                  "partly cloudy", at, "metric")  # fmt: skip
        log.record(city, observation, first_of_day=index % 144 == 0)
    seed_s = time.perf_counter() - started

    def last_hours(hours: int) -> int:
        seen, cursor = 0, None
        while True:
            items, cursor = log.page(city, now - timedelta(hours=hours), cursor, PAGE_SIZE)
            seen += len(items)
            if cursor is None:
                return seen

    day_rows, week_rows = last_hours(24), last_hours(168)
    assert (day_rows, week_rows) == (145, rows), (day_rows, week_rows)  # both ends included
    point_key = time_key(now)
    write_at = now + timedelta(minutes=10)
    one = Observation(11.0, 10.0, 70, 1012.0, 3.2, 40, 20, "overcast", write_at, "metric")
    results: dict[str, Any] = {
        "rows_in_partition": rows,
        "page_size": PAGE_SIZE,
        "seed_writes_per_s": round(rows / seed_s, 1),
        "rows_last_24_hours": day_rows,
        "rows_last_168_hours": week_rows,
        "last_24_hours": _summary(timed(lambda: last_hours(24), count, 5)),
        "last_168_hours_in_pages": _summary(timed(lambda: last_hours(168), 20, 2)),
        "azurite_point_read": _summary(timed(lambda: table.get_entity(city, point_key), count, 5)),
        "record_one_refresh_upsert": _summary(
            timed(lambda: log.record(city, one, first_of_day=False), count, 5)
        ),
    }
    results["last_24_hours_in_point_reads"] = round(
        results["last_24_hours"]["p50_ms"] / results["azurite_point_read"]["p50_ms"], 2
    )
    started = time.perf_counter()
    purged = log.purge(now - timedelta(days=6))  # a day's rows of the city (and any listed)
    results["purge_one_day_of_one_city"] = {
        "rows_deleted": purged,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    with contextlib.suppress(Exception):
        table.delete_table()
    return results
