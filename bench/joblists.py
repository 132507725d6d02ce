"""Own job lists and the summary at growing numbers of jobs of one user (issue 14).

``python -m bench --only joblists [--list-sizes 100,1000,10000]``: GET /api/jobs (a page of
20 in three sorts and filters) and GET /api/jobs/summary through the local host for one
user with each number of jobs, beside one Azurite point read; the time and storage calls
of each write of one job. Each size gets a fresh in-memory Azurite (its writes slow down as
a table grows: seeding 10,000 jobs, 180,000 rows with their index, takes Azurite about an
hour on 2 cores, which is why the default full run stops at 1,000).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import Any

from bench.common import summary as _summary
from bench.common import timed
from devtools.azurite import Azurite
from devtools.progress import progress


def bench_joblists(values: dict[str, str], sizes: tuple[int, ...], count: int) -> dict[str, Any]:
    """GET /api/jobs (a page of 20, three sorts and filters) and GET /api/jobs/summary
    through the local host for one user with 100, 1,000 and 10,000 jobs, beside one point
    read of a job row on the same Azurite; and what one job's transitions cost.

    The job rows are seeded in batched writes (100 per transaction) as the previous
    version stored them, and indexed by the backfill (``JobIndex.repair``), which is timed
    too. A fresh in-memory Azurite per size: its writes slow down as a table grows."""
    results: dict[str, Any] = {"requests_per_figure": count}
    for size in sizes:
        results[str(size)] = _joblists_at(values, size, count)
    small, large = results[str(sizes[0])], results[str(sizes[-1])]
    pages = ("page_default", "page_scheduled_time", "page_status_kind_desc_sched")
    results["page_ratio_largest_to_smallest"] = {
        label: round(large[label]["p50_ms"] / small[label]["p50_ms"], 2) for label in pages
    }
    results["summary_in_point_reads_largest"] = round(
        large["summary"]["p50_ms"] / large["azurite_point_read"]["p50_ms"], 2
    )
    results["transitions"] = bench_job_transitions(values)
    return results


def _joblists_at(values: dict[str, str], size: int, count: int) -> dict[str, Any]:
    import uuid
    from datetime import UTC, datetime, timedelta

    import requests
    from azure.data.tables import TableClient

    from shared.adapters.table_job_index import JobIndex
    from shared.adapters.table_jobs import _entity, job_from_json, job_to_json
    from shared.auth import TokenService
    from shared.domain.jobs import STATUSES, Job
    from tests.support.host import LocalHost

    with Azurite() as fresh:
        settings = {**values, "AzureWebJobsStorage": fresh.connection_string}
        table = TableClient.from_connection_string(fresh.connection_string, "jobs")
        with contextlib.suppress(Exception):
            table.create_table()
        owner = f"bench-{uuid.uuid4().hex[:8]}"
        now = datetime.now(UTC)
        rows = []
        for n in range(size):
            created = now - timedelta(seconds=size - n)
            job = Job(
                id=f"{int(created.timestamp() * 1000):013d}{n:016x}-{owner}",
                owner_id=owner, name=f"job {n}", description="", kind="text.sentiment",
                params={"texts": ["fine"]}, status=STATUSES[n % len(STATUSES)],
                scheduled_time=created + timedelta(minutes=n % 600), created_at=created,
                updated_at=created,
            )  # fmt: skip
            rows.append(_entity(job))
        started = time.perf_counter()
        for start in progress(range(0, size, 100), desc=f"seed {size} jobs", unit="tx",
                              leave=False):  # fmt: skip
            table.submit_transaction([("create", row) for row in rows[start : start + 100]])
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        JobIndex(table, job_to_json, job_from_json).repair(owner)
        backfill = time.perf_counter() - started
        token = TokenService(values["AUTH_SIGNING_KEY"], 60).issue(
            owner, "bench@example.com", datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {token.access_token}"}
        figures: dict[str, Any] = {"seed_job_rows_s": round(seeded, 1),
                                   "backfill_index_s": round(backfill, 1)}  # fmt: skip
        with LocalHost(settings) as host, requests.Session() as session:
            base = f"{host.url}/api/jobs"
            health = f"{host.url}/api/health"
            figures["health_same_host"] = _summary(
                timed(lambda: session.get(health, timeout=30).raise_for_status(), count, 5)
            )
            queries = {
                "page_default": "?limit=20",
                "page_scheduled_time": "?limit=20&sort=scheduled_time",
                "page_status_kind_desc_sched": (
                    "?limit=20&status=pending&kind=text.sentiment&sort=-scheduled_time"
                ),
            }
            for label, query in queries.items():

                def page(query: str = query) -> None:
                    response = session.get(base + query, headers=headers, timeout=30)
                    response.raise_for_status()
                    assert len(response.json()["items"]) == 20

                figures[label] = _summary(timed(page, count, 5))

            def summary() -> None:
                response = session.get(f"{base}/summary", headers=headers, timeout=30)
                response.raise_for_status()
                assert response.json()["total"] == size

            figures["summary"] = _summary(timed(summary, count, 5))
        middle = rows[size // 2]["RowKey"]
        figures["azurite_point_read"] = _summary(
            timed(lambda: table.get_entity(owner, middle), count, 5)
        )
        # Control: Azurite answers any query by scanning the whole table (LokiJS
        # ``chain().where(fn)`` over the collection), so a query that matches nothing
        # costs what the table's size costs; Azure reads only the range asked for.
        figures["azurite_query_of_an_empty_partition"] = _summary(
            timed(lambda: list(table.query_entities("PartitionKey eq 'nobody'")), count, 5)
        )
        figures["rows_in_jobs_table"] = sum(1 for _ in table.list_entities(select=["RowKey"]))
        table.close()
    return figures


def bench_job_transitions(values: dict[str, str], count: int = 30) -> dict[str, Any]:
    """Median milliseconds of each write a job makes from creation to completion (service
    calls on one container, queue messages kept in memory), beside one plain row upsert;
    and the storage calls each makes, counted at the SDK's HTTP transport."""
    import uuid

    from shared.auth import Principal
    from shared.container import Container
    from shared.settings import Settings
    from tests.support.fakes import MemoryQueue

    class InMemoryQueues(Container):
        def queue(self, name: str) -> Any:
            return MemoryQueue(name)  # the queue is not what is timed here

    with Azurite() as fresh:
        config: dict[str, Any] = {**values, "AzureWebJobsStorage": fresh.connection_string}
        container = InMemoryQueues(settings=Settings(**config))
        owner = Principal(user_id=f"bench-{uuid.uuid4().hex[:8]}", email="b@example.com")
        service = container.job_service
        table = container.table("jobs")
        calls = {"n": 0}  # table requests of the job's writes (the queue is not counted)
        for name in ("jobs", "openjobs", "assignedjobs", "duejobs", "jobdispatch"):
            pipeline = container.table(name)._client._client._pipeline

            def counted(*args: Any, _run: Any = pipeline.run, **kwargs: Any) -> Any:
                calls["n"] += 1
                return _run(*args, **kwargs)

            pipeline.run = counted  # type: ignore[method-assign]
        samples: dict[str, list[float]] = {"create": [], "start": [], "complete": []}
        made: dict[str, list[int]] = {"create": [], "start": [], "complete": []}
        for n in range(count):
            for step in ("create", "start", "complete"):
                before = calls["n"]
                started = time.perf_counter()
                if step == "create":
                    job = service.create(owner, name=f"j{n}", description="",
                                         kind="text.sentiment", params={"texts": ["ok"]},
                                         scheduled_time=None)  # fmt: skip
                    found = container.jobs.get(owner.user_id, job.id)
                    assert found is not None
                    before += 1  # the read above is the bench's, not the app's
                    started_at = time.perf_counter()
                    samples[step].append((started_at - started) * 1000)
                    made[step].append(calls["n"] - before)
                    continue
                if step == "start":
                    assert found is not None
                    running = service._start(found, container.clock.now())
                else:
                    assert running is not None
                    service._finish(running, {"ok": 1}, None)
                samples[step].append((time.perf_counter() - started) * 1000)
                made[step].append(calls["n"] - before)
        plain = timed(lambda: table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "v": 1}),
                      count, 5)  # fmt: skip
        return {
            **{f"{k}_ms": round(statistics.median(v), 1) for k, v in samples.items()},
            **{f"{k}_table_calls": statistics.median(v) for k, v in made.items()},
            "plain_upsert_ms": round(statistics.median(plain), 1),
        }
