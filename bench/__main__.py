"""`make bench`: print the app's performance figures as JSON.

- cold import: median of 10 fresh interpreters importing ``function_app``, beside the same
  for a bare ``import azure.functions`` (what the app adds to a cold start);
- GET /api/health through the local host: p50/p99 over sequential requests on one
  keep-alive connection, beside one Azurite table point read (the floor of any request
  that touches storage);
- cached GET /api/weather the same way, and the upstream requests 100 lookups cost;
- jobs completed per second end to end (16 clients POST 500 jobs through 1 and 2 local
  hosts that also run the queue trigger), for a kind with no storage I/O of its own and
  for one with two calls, each beside a bare send/receive/delete cycle on the same fresh
  Azurite; medians of 3 such pairs (``--jobs``, ``--repeats``);
- own job lists and the summary at 100, 1,000 and 10,000 jobs of one user, beside one
  point read, and the time and storage calls of each write of one job
  (``--only joblists`` runs this section alone).

Everything runs on loopback against an in-memory Azurite started here and stopped after.
Results are also written to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.azurite import Azurite  # noqa: E402

# Timers fire once a year during the bench: nothing runs that the bench did not ask for.
TIMERS_OFF = {"JOBS_SWEEP_SCHEDULE": "0 0 0 1 1 *", "WEATHER_REFRESH_SCHEDULE": "0 0 0 1 1 *"}


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def _summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": _percentile(samples_ms, 50),
        "p90_ms": _percentile(samples_ms, 90),
        "p99_ms": _percentile(samples_ms, 99),
        "max_ms": round(max(samples_ms), 3),
    }


def cold_import(module: str, env: dict[str, str], runs: int) -> dict[str, Any]:
    code = (
        "import time; t = time.perf_counter(); "
        f"import {module}; "
        "print((time.perf_counter() - t) * 1000)"
    )
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
            check=True, timeout=120,
        )  # fmt: skip
        samples.append(float(result.stdout.strip().splitlines()[-1]))
    return {"runs": runs, "median_ms": round(statistics.median(samples), 1),
            "min_ms": round(min(samples), 1), "max_ms": round(max(samples), 1)}  # fmt: skip


def timed(call: Callable[[], Any], count: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def bench_weather(host: Any, session: Any, count: int) -> dict[str, Any]:
    """A cached lookup (anonymous, simulated provider, warmed first)."""
    url = f"{host.url}/api/weather?city=London"

    def lookup() -> None:
        response = session.get(url, timeout=10)
        response.raise_for_status()
        assert response.json()["cached"] in (True, False)

    return _summary(timed(lookup, count, 20))


def bench_upstream(azurite: Azurite) -> dict[str, Any]:
    """Upstream requests for 100 lookups spread over 10 cities (Open-Meteo stand-in)."""
    import requests

    from tests.support.host import LocalHost
    from tests.support.weather_standins import OpenMeteoStandIn

    cities = ["London", "Paris", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Warsaw",
              "Lisbon", "Dublin"]  # fmt: skip
    with OpenMeteoStandIn() as stand_in:
        values = {
            **TIMERS_OFF,
            "AzureWebJobsStorage": azurite.connection_string,
            "AUTH_SIGNING_KEY": "bench-signing-key-0123456789abcdef0123456789",
            "WEATHER_PROVIDER": "open-meteo",
            "OPEN_METEO_BASE_URL": f"{stand_in.url}/v1",
            "OPEN_METEO_GEOCODING_URL": f"{stand_in.url}/v1",
            "WEATHER_CACHE_TTL_SECONDS": "600",
        }
        with LocalHost(values) as host, requests.Session() as session:
            for index in range(100):
                city = cities[index % len(cities)]
                session.get(f"{host.url}/api/weather", params={"city": city},
                            timeout=10).raise_for_status()  # fmt: skip
        return {"lookups": 100, "cities": len(cities),
                "upstream_requests": stand_in.count("/v1/forecast")}  # fmt: skip


# The kinds timed end to end: text.sentiment (local model) does no storage I/O of its own,
# so it shows what the job system costs; history.export adds a query and a blob upload.
BENCH_KINDS: dict[str, dict[str, Any]] = {
    "text.sentiment": {"texts": ["The delivery was quick and the crew was lovely."]},
    "history.export": {},
}


def bench_jobs(values: dict[str, str], count: int, repeats: int) -> dict[str, Any]:
    """Jobs completed per second end to end, beside a bare queue send/receive/delete cycle
    made with the same SDK client settings as the app.

    The machine's speed drifts between runs (a shared 2-core box), so every jobs run is
    paired with a bare run just before it and the ratio is taken per pair; the figures
    are the medians over ``repeats`` pairs. Each pair gets a fresh in-memory Azurite:
    Azurite's queue service sweeps its message store every 60 s, and after some
    thousands of messages that sweep holds its event loop for seconds (measured: 11 s
    after ~8,000 messages), which would time the emulator, not the app."""
    results: dict[str, Any] = {"jobs": count, "repeats": repeats}
    bare_rates: list[float] = []
    for kind, params in BENCH_KINDS.items():
        rates: dict[str, Any] = {}
        for hosts in (1, 2):
            label = f"{hosts}_host{'s' if hosts > 1 else ''}"
            pairs = []
            for _ in range(repeats):
                with Azurite() as fresh:
                    bare = _bare_queue_rate(fresh, count)
                    settings = {**values, "AzureWebJobsStorage": fresh.connection_string,
                                "SENTIMENT_PROVIDER": "local"}  # fmt: skip
                    rate = _jobs_rate(settings, count, hosts, kind, params)
                bare_rates.append(bare)
                pairs.append((rate, rate / bare))
            rates[f"jobs_per_second_{label}"] = round(statistics.median(p[0] for p in pairs), 1)
            rates[f"ratio_{label}"] = round(statistics.median(p[1] for p in pairs), 2)
            rates[f"ratio_{label}_range"] = [round(min(p[1] for p in pairs), 2),
                                             round(max(p[1] for p in pairs), 2)]  # fmt: skip
        results[kind] = rates
    results["bare_queue_cycles_per_second"] = round(statistics.median(bare_rates), 1)
    return results


def _bare_queue_rate(azurite: Azurite, count: int) -> float:
    """Sequential send, receive and delete cycles per second on one Azurite queue."""
    from azure.storage.queue import QueueClient

    from shared.container import sdk_transport_options

    queue = QueueClient.from_connection_string(
        azurite.connection_string, "benchbare", **sdk_transport_options()
    )
    with contextlib.suppress(Exception):
        queue.create_queue()

    def cycles(n: int) -> None:
        for index in range(n):
            queue.send_message(str(index))
            for message in queue.receive_messages(messages_per_page=1, max_messages=1):
                queue.delete_message(message)

    cycles(20)  # warm the connection
    started = time.perf_counter()
    cycles(count)
    rate = count / (time.perf_counter() - started)
    queue.close()
    return rate


def _jobs_rate(
    values: dict[str, str], count: int, host_count: int, kind: str, params: dict[str, Any]
) -> float:
    """Create ``count`` jobs of ``kind`` through ``host_count`` local hosts on one Azurite
    (16 clients at once) and time until all are completed (each host also runs the queue
    trigger: a scale-out)."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import ExitStack
    from datetime import UTC, datetime

    import requests

    from shared.auth import TokenService
    from tests.support.host import LocalHost

    token = TokenService(values["AUTH_SIGNING_KEY"], 60).issue(
        f"bench-{uuid.uuid4().hex[:8]}", "bench@example.com", datetime.now(UTC)
    )
    headers = {"Authorization": f"Bearer {token.access_token}"}
    with ExitStack() as stack:
        hosts = [stack.enter_context(LocalHost(values)) for _ in range(host_count)]
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
        for host in hosts:
            session.get(f"{host.url}/api/health", timeout=10)
        started = time.perf_counter()

        def create(index: int) -> None:
            host = hosts[index % len(hosts)]
            session.post(f"{host.url}/api/jobs", headers=headers, timeout=30,
                         json={"name": f"bench {index}", "kind": kind, "params": params}
                         ).raise_for_status()  # fmt: skip

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(create, range(count)))
        deadline = time.monotonic() + 300
        completed = 0
        while time.monotonic() < deadline:
            summary = session.get(f"{hosts[0].url}/api/jobs/summary", headers=headers,
                                  timeout=30).json()  # fmt: skip
            completed = summary["completed"]
            if completed >= count:
                break
            time.sleep(0.2)  # the summary reads the owner's partition: do not compete much
        elapsed = time.perf_counter() - started
    return round(completed / elapsed, 1)


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
        for start in range(0, size, 100):
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
    from shared.services import jobs
    from shared.settings import Settings
    from tests.support.fakes import MemoryQueue

    class InMemoryQueues(Container):
        def queue(self, name: str) -> Any:
            return MemoryQueue(name)  # the queue is not what is timed here

    with Azurite() as fresh:
        config: dict[str, Any] = {**values, "AzureWebJobsStorage": fresh.connection_string}
        container = InMemoryQueues(settings=Settings(**config))
        owner = Principal(user_id=f"bench-{uuid.uuid4().hex[:8]}", email="b@example.com")
        table = container.table("jobs")
        calls = {"n": 0}  # table requests of the job's writes (the queue is not counted)
        for name in ("jobs", "openjobs", "assignedjobs", "duejobs"):
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
                    job = jobs.create(container, owner, name=f"j{n}", description="",
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
                    running = jobs._start(container, found, container.clock.now())
                else:
                    assert running is not None
                    jobs._finish(container, running, {"ok": 1}, None)
                samples[step].append((time.perf_counter() - started) * 1000)
                made[step].append(calls["n"] - before)
        plain = timed(lambda: table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "v": 1}),
                      count, 5)  # fmt: skip
        return {
            **{f"{k}_ms": round(statistics.median(v), 1) for k, v in samples.items()},
            **{f"{k}_table_calls": statistics.median(v) for k, v in made.items()},
            "plain_upsert_ms": round(statistics.median(plain), 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print performance figures as JSON.")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--imports", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="bare/jobs pairs per figure")
    parser.add_argument("--only", choices=["joblists"], help="run one section alone")
    parser.add_argument("--list-sizes", default="100,1000,10000")
    args = parser.parse_args(argv)
    list_sizes = tuple(int(n) for n in args.list_sizes.split(","))
    if args.only == "joblists":
        values = {**TIMERS_OFF, "AUTH_SIGNING_KEY": "bench-signing-key-0123456789abcdef0123456789",
                  "WEATHER_PROVIDER": "simulated", "RATE_LIMITS_ENABLED": "false"}  # fmt: skip
        print(json.dumps({"joblists": bench_joblists(values, list_sizes, 30)}, indent=2))
        return 0

    import requests
    from azure.data.tables import TableClient

    from tests.support.host import LocalHost

    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
        }
    }
    with Azurite() as azurite:
        env = dict(os.environ)
        env.update({
            "AzureWebJobsStorage": azurite.connection_string,
            "AUTH_SIGNING_KEY": "bench-signing-key-0123456789abcdef0123456789",
            "WEATHER_PROVIDER": "simulated",
            "PYTHONDONTWRITEBYTECODE": "",
        })  # fmt: skip
        # Compile bytecode once so every run measures imports, not compilation.
        subprocess.run([sys.executable, "-m", "compileall", "-q", "shared", "functions",
                        "function_app.py"], cwd=ROOT, check=False)  # fmt: skip
        results["cold_import"] = {
            "function_app": cold_import("function_app", env, args.imports),
            "azure.functions": cold_import("azure.functions", env, args.imports),
        }
        results["cold_import"]["added_by_app_ms"] = round(
            results["cold_import"]["function_app"]["median_ms"]
            - results["cold_import"]["azure.functions"]["median_ms"],
            1,
        )

        values = {
            **TIMERS_OFF,
            "AzureWebJobsStorage": azurite.connection_string,
            "AUTH_SIGNING_KEY": env["AUTH_SIGNING_KEY"],
            "WEATHER_PROVIDER": "simulated",
        }
        with LocalHost(values) as host, requests.Session() as session:
            url = f"{host.url}/api/health"

            def health() -> None:
                response = session.get(url, timeout=10)
                response.raise_for_status()

            results["health_via_local_host"] = _summary(timed(health, args.requests, 20))

        with LocalHost(values) as host, requests.Session() as session:
            results["weather_cached_via_local_host"] = bench_weather(host, session, args.requests)
        results["weather_upstream_requests"] = bench_upstream(azurite)
        results["jobs"] = bench_jobs(values, args.jobs, args.repeats)
        results["joblists"] = bench_joblists(values, list_sizes, 30)

        table = TableClient.from_connection_string(azurite.connection_string, "benchpoint")
        table.create_table()
        table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "value": 1})
        results["azurite_point_read"] = _summary(
            timed(lambda: table.get_entity("p", "r"), args.requests, 20)
        )

    output = json.dumps(results, indent=2)
    print(output)
    target = ROOT / "bench" / "results"
    target.mkdir(parents=True, exist_ok=True)
    (target / "latest.json").write_text(output + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
