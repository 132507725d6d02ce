"""Own job lists, the summary and creating a job at growing numbers of jobs of one user
(issues 14 and 17), and what one job's life writes.

``python -m bench --only joblists [--list-sizes 100,1000,10000]``: for each size, a fresh
in-memory Azurite is seeded with that many jobs of one user as the app lists them (each job
row with its 3 list rows, 25 jobs to a transaction, then the counts as ``JobIndex.repair``
writes them; progress on stderr). Then, through the local host: GET /api/jobs (a page of
20 in several sorts and filters), GET /api/jobs/summary and POST /api/jobs, each sample
alternated with an Azurite point read of the same table, so every figure is also given in
point reads measured at the same moment (Azurite scans a table on every call: its
milliseconds grow with the table; the design's cost is the ratio). Last, one job's life
(create, start, complete) counted on the wire: storage calls and entities written.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import summary as _summary
from devtools.azurite import Azurite
from devtools.progress import progress
from shared.adapters.table_job_index import SCAN_BUDGET

# The issue-14 design (README, counted the same way): 73 entities in 9 calls a life.
BEFORE = {"entities_per_life": 73, "calls_per_life": 9, "rows_at_rest_per_job": 18}
# One in RARE jobs has the rare kind: the filter on it scans past the others.
RARE = 100


def bench_joblists(values: dict[str, str], sizes: tuple[int, ...], count: int) -> dict[str, Any]:
    results: dict[str, Any] = {"requests_per_figure": count}
    for size in sizes:
        results[str(size)] = _joblists_at(values, size, count)
    small, large = results[str(sizes[0])], results[str(sizes[-1])]
    results["largest_to_smallest_in_point_reads"] = {
        label: round(large[label]["point_reads"] / small[label]["point_reads"], 2)
        for label in small
        if isinstance(small[label], dict) and "point_reads" in small[label]
    }
    results["life"] = bench_job_life(values)
    results["cpu_per_life"] = bench_job_cpu(values)
    results["two_processes_one_owner"] = bench_two_processes(values)
    return results


def _paired(call: Callable[[], Any], point: Callable[[], Any], count: int) -> dict[str, Any]:
    """``call`` and an Azurite point read, alternated ``count`` times (after 3 of each)."""
    for _ in range(3):
        call()
        point()
    mine: list[float] = []
    reads: list[float] = []
    for _ in range(count):
        for fn, into in ((call, mine), (point, reads)):
            started = time.perf_counter()
            fn()
            into.append((time.perf_counter() - started) * 1000)
    figures = _summary(mine)
    figures["point_read_p50_ms"] = round(statistics.median(reads), 3)
    figures["point_reads"] = round(statistics.median(mine) / statistics.median(reads), 2)
    return figures


def seed(table: Any, owner: str, size: int, now: Any) -> dict[str, float]:
    """``size`` jobs of ``owner`` written as the app lists them (each job row with its
    ``ix`` and its 3 list rows, 25 jobs to a transaction), then the counts and the ready
    mark as ``JobIndex.repair`` writes them; seconds taken. Writing the rows directly,
    not through ``repair`` (which reads and compares every job first), is what makes
    10,000 jobs possible on Azurite; for the smallest size the bench checks that
    ``repair`` then finds nothing to fix."""
    from datetime import timedelta

    from shared.adapters.table_batch import lean_transactions
    from shared.adapters.table_job_index import COUNTERS, READY, JobIndex, ix_of
    from shared.adapters.table_jobs import _entity, job_from_json, job_to_json
    from shared.domain.jobs import STATUSES, Job

    lean_transactions(table)
    index = JobIndex(table, job_to_json, job_from_json)
    started = time.perf_counter()
    batch: list[Any] = []
    for n in progress(range(size), desc=f"seed {size} jobs", unit="job", leave=False):
        created = now - timedelta(seconds=size - n)
        job = Job(
            id=f"{int(created.timestamp() * 1000):013d}{n:016x}-{owner}",
            owner_id=owner, name=f"job {n}", description="",
            kind="history.export" if n % RARE == RARE - 1 else "text.sentiment",
            params={}, status=STATUSES[n % len(STATUSES)],
            scheduled_time=created + timedelta(minutes=n % 600), created_at=created,
            updated_at=created,
        )  # fmt: skip
        batch.append(("create", {**_entity(job), "ix": ix_of(job)}))
        batch += [("create", row) for row in index.rows(job).values()]
        if len(batch) == 100 or n == size - 1:
            table.submit_transaction(batch)
            batch = []
    rows = time.perf_counter() - started
    started = time.perf_counter()
    index._recount(owner)
    table.upsert_entity({"PartitionKey": owner, "RowKey": READY, "ready": True})
    counted = sum(1 for _ in table.query_entities(
        "PartitionKey eq @o and RowKey ge @s and RowKey lt @e", select=["RowKey"],
        parameters={"o": owner, "s": COUNTERS, "e": COUNTERS + "~"}))  # fmt: skip
    figures = {
        "seed_rows_s": round(rows, 1),
        "seed_counts_s": round(time.perf_counter() - started, 1),
    }
    assert counted >= 1, "no count slot written"
    if size <= 100:
        report = index.repair(owner)
        assert not any(report[k] for k in ("indexed", "moved", "rows_fixed", "counters_fixed")), (
            report
        )
    return figures


def _joblists_at(values: dict[str, str], size: int, count: int) -> dict[str, Any]:
    import uuid
    from datetime import UTC, datetime, timedelta

    import requests
    from azure.data.tables import TableClient

    from shared.auth import TokenService
    from tests.support.host import LocalHost

    print(f"joblists: {size:,} jobs of one user", file=sys.stderr, flush=True)
    with Azurite() as fresh:
        settings = {**values, "AzureWebJobsStorage": fresh.connection_string}
        table = TableClient.from_connection_string(fresh.connection_string, "jobs")
        with contextlib.suppress(Exception):
            table.create_table()
        owner = f"bench-{uuid.uuid4().hex[:8]}"
        figures: dict[str, Any] = seed(table, owner, size, datetime.now(UTC))
        token = TokenService(values["AUTH_SIGNING_KEY"], 60).issue(
            owner, "bench@example.com", datetime.now(UTC)
        )
        headers = {"Authorization": f"Bearer {token.access_token}"}
        probe = next(iter(table.query_entities("PartitionKey eq @o", parameters={"o": owner},
                                               results_per_page=1)))["RowKey"]  # fmt: skip

        def point() -> None:
            table.get_entity(owner, probe)

        with LocalHost(settings) as host, requests.Session() as session:
            base = f"{host.url}/api/jobs"
            queries = {
                "page_default": "?limit=20",
                "page_created_at": "?limit=20&sort=created_at",
                "page_scheduled_time": "?limit=20&sort=scheduled_time",
                "page_status_kind_desc_sched": (
                    "?limit=20&status=pending&kind=text.sentiment&sort=-scheduled_time"
                ),
                # 1 job in RARE: each page examines the budget's rows and is short.
                "page_rare_kind": "?limit=20&kind=history.export",
            }
            for label, query in queries.items():

                def page(query: str = query, rare: bool = "rare" in label) -> None:
                    response = session.get(base + query, headers=headers, timeout=60)
                    response.raise_for_status()
                    # A filtered page examines at most SCAN_BUDGET rows: 1 in RARE of them.
                    expected = min(20, min(size, SCAN_BUDGET) // RARE) if rare else 20
                    got = len(response.json()["items"])
                    assert got == expected, (query, got, expected)

                figures[label] = _paired(page, point, count)

            def summary() -> None:
                response = session.get(f"{base}/summary", headers=headers, timeout=60)
                response.raise_for_status()
                assert response.json()["total"] >= size

            figures["summary"] = _paired(summary, point, count)
            later = (datetime.now(UTC) + timedelta(days=1)).isoformat()  # the worker stays idle

            def create() -> None:
                session.post(base, headers=headers, timeout=60, json={
                    "name": "one more", "kind": "text.sentiment",
                    "params": {"texts": ["fine"]}, "scheduled_time": later,
                }).raise_for_status()  # fmt: skip

            figures["create"] = _paired(create, point, count)
        figures["rows_in_jobs_table"] = sum(1 for _ in table.list_entities(select=["RowKey"]))
        table.close()
    return figures


def bench_job_life(values: dict[str, str], lives: int = 10) -> dict[str, Any]:
    """Storage calls and table entities of one job's life (create, start, complete),
    counted at the SDK transport (tests/support/counting.py) against Azurite: the app's
    container, the message received by a client of its own (the host receives in batches
    of up to 32) and deleted by the app's client, as the host does; then what the sweep
    spends on those jobs' dispatch rows."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    from shared.adapters.clock import FakeClock
    from shared.auth import Principal
    from shared.domain.jobs import DISPATCH_GRACE
    from shared.services.jobs import JOBS_QUEUE
    from shared.settings import Settings
    from tests.support.counting import CountingContainer

    with Azurite() as fresh:
        clock = FakeClock()
        config: dict[str, Any] = {**values, "AzureWebJobsStorage": fresh.connection_string}
        c = CountingContainer(Settings(**config), clock)
        c.job_service, c.queue_client(JOBS_QUEUE)
        host_side = QueueClient.from_connection_string(
            fresh.connection_string, JOBS_QUEUE, message_decode_policy=TextBase64DecodePolicy()
        )
        owner = Principal(user_id="bench-life", email="b@example.com")
        per_life: list[tuple[int, int]] = []
        steps: dict[str, list[int]] = {"create": [], "start_and_complete": [], "delete": []}
        for n in range(lives):
            mark = c.calls.mark()
            c.job_service.create(owner, name=f"life {n}", description="", kind="text.sentiment",
                                 params={"texts": ["fine"]}, scheduled_time=None)  # fmt: skip
            created = c.calls.mark()
            (message,) = list(host_side.receive_messages(max_messages=32))
            assert c.job_service.process(message.content) == "completed"
            ran = c.calls.mark()
            c.queue_client(JOBS_QUEUE).delete_message(message.id, message.pop_receipt)
            calls = c.calls.since(mark)
            per_life.append((len(calls), sum(x.entities_written for x in calls)))
            steps["create"].append(created - mark)
            steps["start_and_complete"].append(ran - created)
            steps["delete"].append(c.calls.mark() - ran)
            clock.advance(1)
        clock.advance(DISPATCH_GRACE.total_seconds() + 1)
        mark = c.calls.mark()
        c.job_service.redispatch_lost()
        sweep = c.calls.since(mark)
    return {
        "calls_per_life": max(p[0] for p in per_life),
        "entities_per_life": max(p[1] for p in per_life),
        "calls_by_step": {k: statistics.median(v) for k, v in steps.items()},
        "budget": {"entities": 20, "calls": 6},
        "before_issue_17": BEFORE,
        "sweep_for_these_lives": {
            "jobs": lives,
            "calls": len(sweep),
            "entities": sum(x.entities_written for x in sweep),
        },
    }


def bench_job_cpu(values: dict[str, str], lives: int = 100, rounds: int = 3) -> dict[str, Any]:
    """CPU and wall time of one job's life in one process (create, then process its
    message), with the table transactions of shared/adapters/table_batch.py beside the
    SDK's own ``TableClient.submit_transaction``, alternated in rounds of ``lives`` on the
    same Azurite; medians of the rounds. Queues in memory: the figure is the app's work."""
    from azure.data.tables import TableClient

    from shared.auth import Principal
    from shared.container import Container
    from shared.services.jobs import JOBS_QUEUE
    from shared.settings import Settings
    from tests.support.fakes import MemoryQueue

    class InMemoryQueues(Container):
        def queue(self, name: str) -> Any:
            return self.__dict__.setdefault(f"_queue_{name}", MemoryQueue(name))

    figures: dict[str, dict[str, list[float]]] = {"lean": {}, "sdk": {}}
    with Azurite() as fresh:
        config: dict[str, Any] = {**values, "AzureWebJobsStorage": fresh.connection_string}
        apps = {path: InMemoryQueues(settings=Settings(**config)) for path in figures}
        sdk_table = apps["sdk"].jobs.index._table
        vars(sdk_table).pop("submit_transaction", None)  # the SDK's own method again
        assert sdk_table.submit_transaction.__func__ is TableClient.submit_transaction  # type: ignore[attr-defined]
        for n in range(rounds + 1):  # the first round warms both up and is not counted
            for path, app in apps.items():
                owner = Principal(user_id=f"cpu-{path}-{n}", email="c@example.com")
                cpu, wall = time.process_time(), time.perf_counter()
                for k in range(lives):
                    app.job_service.create(owner, name=f"j{k}", description="",
                                           kind="text.sentiment", params={"texts": ["fine"]},
                                           scheduled_time=None)  # fmt: skip
                    ((message, _),) = app.queue(JOBS_QUEUE).messages
                    app.queue(JOBS_QUEUE).messages.clear()
                    assert app.job_service.process(message) == "completed"
                if n:
                    spent = figures[path]
                    spent.setdefault("cpu_ms", []).append((time.process_time() - cpu) / lives * 1e3)
                    spent.setdefault("wall_ms", []).append(
                        (time.perf_counter() - wall) / lives * 1e3
                    )
    result = {path: {k: round(statistics.median(v), 2) for k, v in f.items()}
              for path, f in figures.items()}  # fmt: skip
    result["lives_per_round"] = lives  # type: ignore[assignment]
    return result


def bench_two_processes(values: dict[str, str], count: int = 200) -> dict[str, Any]:
    """Why 2 hosts ran slower than 1 (issue 17): ``count`` jobs of ONE user created, then
    started and completed by 16 threads, in one container (one process) and in two (each
    with its own caches, as two hosts have), in process, without HTTP: the table
    transactions that failed (412: a stale ETag; 409: a row already there), by status,
    and the outcomes. Before issue 17 (main at 8c7bccb, the same steps) 2 processes failed
    282 of ~600 transactions with 412 (another process had written the counter shard whose
    ETag this one had cached) and gave up on 2 jobs."""
    results: dict[str, Any] = {"jobs": count}
    for processes in (1, 2):
        name = f"{processes}_process{'es' if processes > 1 else ''}"
        results[name] = _processes_run(values, processes, count)
    return results


def _processes_run(values: dict[str, str], processes: int, count: int) -> dict[str, Any]:
    import collections
    from concurrent.futures import ThreadPoolExecutor

    from shared.auth import Principal
    from shared.container import Container
    from shared.services.jobs import JOBS_QUEUE
    from shared.settings import Settings
    from tests.support.fakes import MemoryQueue

    class InMemoryQueues(Container):
        def queue(self, name: str) -> Any:
            return self.__dict__.setdefault(f"_queue_{name}", MemoryQueue(name))

    with Azurite() as fresh:
        config: dict[str, Any] = {**values, "AzureWebJobsStorage": fresh.connection_string}
        hosts = [InMemoryQueues(settings=Settings(**config)) for _ in range(processes)]
        failed: collections.Counter[str] = collections.Counter()
        for host in hosts:
            table = host.jobs.index._table
            real = table.submit_transaction

            def counted(ops: Any, _real: Any = real, **kwargs: Any) -> Any:
                try:
                    return _real(ops, **kwargs)
                except Exception as exc:
                    failed[str(getattr(exc, "status_code", type(exc).__name__))] += 1
                    raise

            table.submit_transaction = counted  # type: ignore[method-assign]
        owner = Principal(user_id="bench-two", email="b@example.com")

        def create(n: int) -> None:
            hosts[n % processes].job_service.create(
                owner, name=f"j{n}", description="", kind="text.sentiment",
                params={"texts": ["ok"]}, scheduled_time=None,
            )  # fmt: skip

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, range(count)))
        messages = [m for h in hosts for m, _ in h.queue(JOBS_QUEUE).messages]
        outcomes: collections.Counter[str] = collections.Counter()

        def run(n: int) -> None:
            outcomes[hosts[n % processes].job_service.process(messages[n])] += 1

        started = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(run, range(len(messages))))
        return {
            "failed_transactions": dict(failed), "outcomes": dict(outcomes),
            "jobs_per_second_start_to_complete": round(
                len(messages) / (time.perf_counter() - started), 1),
        }  # fmt: skip
