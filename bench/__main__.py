"""`make bench`: print the app's performance figures as JSON.

- cold import: median of 10 fresh interpreters importing ``function_app``, beside the same
  for a bare ``import azure.functions`` (what the app adds to a cold start), their ratio
  and the goal (at most 1.5);
- first request (``--only firstrequest``): the first request of each route family (health,
  weather, login, jobs list, subscriptions, history, negotiate, the web page, the OpenAPI
  document) on a freshly started local host whose only request was the health probe,
  beside the same request warm (p50 of 20), medians over 3 host starts per family
  (bench/firstrequest.py);
- city index (``--only cityindex``): the SQLite city index beside the in-memory one it
  replaced: first search, memory, lookups and suggestions per second (bench/cityindex.py);
- GET /api/health through the local host: p50/p99 over sequential requests on one
  keep-alive connection, beside one Azurite table point read (the floor of any request
  that touches storage);
- cached GET /api/weather the same way, and the upstream requests 100 lookups cost;
- jobs completed per second end to end (16 clients POST 500 jobs of 50 users, 10 each,
  and 200 jobs of one user, through 1 and 2 local hosts that also run the queue trigger;
  ``text.sentiment``, no storage I/O of its own; 16 untimed jobs a host first), each
  beside bare send/receive/delete
  cycles on the same fresh Azurite just before and after (the SDK's client; also through
  the app's transport); medians of 3 such pairs
  (``--job-scenarios``, ``--repeats``). ``--compare-with REV``: instead, the first
  scenario on 2 hosts with REV's hosts and this tree's alternated ``--repeats`` times
  (``bench_jobs_compare``: the way to compare two versions on a drifting machine);
- load (``--only load``): 50 concurrent clients, each a registered and verified account on
  its own keep-alive connection, mixing signed-in weather lookups (10 cities, simulated
  provider), history reads, job creation (scheduled a day ahead, so the queue worker
  stays idle and the figure is the request path's) and job reads, for 60 s
  (``--clients``, ``--duration``) through one local host with RATE_LIMITS_ENABLED=false:
  requests/s, p50/p99, per-operation counts, 4xx, and errors (5xx and connection
  failures; none allowed), beside one Azurite point read.

- login (``--only login``): POST /api/login (a verified account, right password) p50 with
  the abuse limits on, beside the same with ``RATE_LIMITS_ENABLED=false``, and the storage
  calls of a login with and without the limits, counted in process.

Every other figure runs with ``RATE_LIMITS_ENABLED=false``: a bench is a load test from
one client address, which the limits exist to stop.

- realtime (``--only realtime``): delivery latency from a server publish (the Python SDK's
  ``send_to_group``) to each client's receipt through the local Web PubSub emulator, with
  1,000 WebSocket connections open in 100 groups, beside a bare WebSocket echo
  (bench/realtime.py; needs no Azurite).

- refresh (``--only refresh``): the ``refresh_weather`` timer run once through the local
  host's admin endpoint for 1,000 subscribed cities (the most populous of the city index,
  put in the subscribed set directly), against the Open-Meteo stand-in enforcing 60
  requests a minute (``WEATHER_RATE_LIMIT_PER_MINUTE=60``): upstream requests, 429s and
  wall time (admin call to the run's summary log line), beside the naive count of one
  request per city; and what a one-city-a-request provider needs for the same set under
  the same limit (computed from the budget's window, not run: it takes 17 minutes).

- joblists (``--only joblists``): own job lists, the summary and creating a job at 100 and
  1,000 jobs of one user (``--list-sizes``, e.g. 100,1000,10000), each in Azurite point
  reads measured alternately; and one job's life counted on the wire: storage calls and
  entities written (bench/joblists.py).

- web (``--only web``): the web app in Debian's Chromium: bytes transferred for a first
  visit (compressed), and the time from the click on "Log in" to the first weather card
  with data, and to that card's chart with its recorded observations drawn (issue 20),
  beside the same page's fetch of a bare static file from the same host (bench/web.py).

- observations (``--only observations``): GET /api/cities/{id}/observations' query for the
  last 24 hours (145 rows) and for a week (1,008 rows, 6 pages) in a partition of a week's
  10-minute refreshes, beside one point read of that table; a refresh's write per city; a
  day's purge (bench/observations.py).

``--only SECTION`` (repeatable) runs some sections alone: imports, health, weather,
upstream, jobs, point, load, login, realtime, refresh, joblists, firstrequest, web,
cityindex, observations
(``python -m bench --only load --duration 15``).

Everything runs on loopback against an in-memory Azurite started here and stopped after.
Results are also written to bench/results/latest.json (``latest-<sections>.json`` with
``--only``).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import email
import email.policy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import summary as _summary  # noqa: E402
from bench.common import timed  # noqa: E402
from devtools.azurite import Azurite  # noqa: E402

# Timers fire once a year during the bench: nothing runs that the bench did not ask for.
TIMERS_OFF = {"JOBS_SWEEP_SCHEDULE": "0 0 0 1 1 *", "WEATHER_REFRESH_SCHEDULE": "0 0 0 1 1 *"}


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


COLD_IMPORT_GOAL = 1.5  # import function_app / import azure.functions (issue 13)


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


# (users, jobs per user): issue 17's targets, 2 hosts: >= 0.5x bare cycles for 50 users
# with 10 jobs each, >= 0.25x for 200 jobs of one user; 1 host beside both.
JOB_SCENARIOS = ((50, 10), (1, 200))
WARMUP_JOBS = 16  # a host's untimed jobs before a jobs run (one queue batch)


def bench_jobs(
    values: dict[str, str], repeats: int, scenarios: tuple[tuple[int, int], ...] = JOB_SCENARIOS
) -> dict[str, Any]:
    """Jobs completed per second end to end, beside bare queue send/receive/delete cycles
    on the same Azurite, measured just before and just after.

    The bare cycle is the yardstick: the SDK's ``QueueClient`` with its own transport
    (requests) and the settings the app gives every client (no proxy lookups). The app's
    storage clients send through a leaner transport (shared/adapters/sdk_transport.py);
    the same bare loop through that transport is reported beside it
    (``bare_cycles_per_second_app_transport``, ``ratio_to_app_transport``), so that what
    the transport alone buys is visible and not hidden in the ratio.

    The machine's speed drifts between runs (a shared 2-core box): every jobs run is
    paired with bare runs before and after it (the median of both sets) and the ratio is
    taken per pair; the figures are the medians over ``repeats`` pairs. Each pair gets a
    fresh in-memory Azurite: Azurite's queue service sweeps its message store every 60 s,
    and after some thousands of messages that sweep holds its event loop for seconds
    (measured: 11 s after ~8,000 messages), which would time the emulator, not the app.
    Each run also counts the warnings the hosts logged (a lost race, a job message sent
    again)."""
    results: dict[str, Any] = {"repeats": repeats, "kind": "text.sentiment"}
    for users, per_user in scenarios:
        figures: dict[str, Any] = {}
        for hosts in (1, 2):
            label = f"{hosts}_host{'s' if hosts > 1 else ''}"
            runs = []
            for _ in range(repeats):
                rate, bare, bare_runs, warnings, spent, lean = _paired_run(
                    values, users, per_user, hosts, app_transport_bare=True
                )
                runs.append((rate, rate / bare, bare, warnings, bare_runs, spent, lean))
            runs.sort(key=lambda r: r[1])
            rate, ratio, bare, warnings, bare_runs, spent, lean = runs[len(runs) // 2]
            spread = [round(runs[0][1], 2), round(runs[-1][1], 2)]
            figures[label] = {"jobs_per_second": rate, "bare_cycles_per_second": round(bare, 1),
                              "bare_runs": bare_runs, "ratio": round(ratio, 2),
                              "warnings_logged": warnings, "ratio_range": spread,
                              "all_ratios": [round(r[1], 2) for r in runs],
                              "bare_cycles_per_second_app_transport": round(lean, 1),
                              "ratio_to_app_transport": round(rate / lean, 2),
                              **spent}  # fmt: skip
        results[f"{users}_users_x_{per_user}_jobs"] = figures
    return results


def bench_jobs_compare(
    values: dict[str, str], rev: str, repeats: int, users: int, per_user: int
) -> dict[str, Any]:
    """The jobs figure (2 hosts) of git revision ``rev`` and of this tree, alternated
    ``repeats`` times, each run paired with its bare cycles as in ``bench_jobs``. The
    harness (clients, bare loop, counting) is this tree's for both; only the hosts run
    ``rev``'s code, from a temporary worktree. Alternating is what makes two versions
    comparable on a machine whose speed drifts by tens of per cent within an hour."""
    import shutil
    import tempfile

    runs: dict[str, list[dict[str, Any]]] = {rev: [], "this tree": []}
    with tempfile.TemporaryDirectory(prefix="bench-rev-") as temp:
        tree = Path(temp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT,
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        try:
            for index in (ROOT / "data").glob("*.sqlite3"):  # the built city index
                shutil.copy(index, tree / "data" / index.name)
            for _ in range(repeats):
                for label, cwd in ((rev, tree), ("this tree", ROOT)):
                    rate, bare, _, warnings, spent, _ = _paired_run(
                        values, users, per_user, 2, cwd=cwd
                    )
                    runs[label].append({"jobs_per_second": rate, "ratio": rate / bare,
                                        "warnings": warnings, **spent})  # fmt: skip
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT,
                           check=False, capture_output=True, timeout=120)  # fmt: skip
    results: dict[str, Any] = {"scenario": f"{users} users x {per_user} jobs, 2 hosts",
                               "repeats": repeats}  # fmt: skip
    for label, found in runs.items():
        cpu = {group: statistics.median(r["cpu_ms_per_job"][group] for r in found)
               for group in found[0]["cpu_ms_per_job"]}  # fmt: skip
        results[label] = {
            "jobs_per_second": statistics.median(r["jobs_per_second"] for r in found),
            "ratio": round(statistics.median(r["ratio"] for r in found), 3),
            "all_ratios": [round(r["ratio"], 3) for r in found],
            "all_jobs_per_second": [r["jobs_per_second"] for r in found],
            "cpu_ms_per_job": cpu,
            "warnings_logged": sum(r["warnings"] for r in found),
        }
    return results


def _paired_run(
    values: dict[str, str], users: int, per_user: int, hosts: int,
    cwd: Path | None = None, app_transport_bare: bool = False,
) -> tuple[float, float, list[float], int, dict[str, Any], float | None]:  # fmt: skip
    """One jobs run (``text.sentiment``) on a fresh Azurite between bare cycles just before
    and just after it: jobs/s, the bare figure (the median of both sets), every bare run,
    the warnings logged, where the CPU went, and (``app_transport_bare``) the bare cycles
    through the app's transport."""
    kind, params = "text.sentiment", BENCH_KINDS["text.sentiment"]
    with Azurite() as fresh:
        _, before = _bare_queue_rate(fresh)
        settings = {**values, "AzureWebJobsStorage": fresh.connection_string,
                    "SENTIMENT_PROVIDER": "local"}  # fmt: skip
        rate, warnings, spent = _jobs_rate(
            settings, users, per_user, hosts, kind, params, azurite=fresh, cwd=cwd
        )
        _, after = _bare_queue_rate(fresh)
        lean = _bare_queue_rate(fresh, app_transport=True)[0] if app_transport_bare else None
    return rate, statistics.median(before + after), before + after, warnings, spent, lean


def _bare_queue_rate(
    azurite: Azurite, runs: int = 5, count: int = 200, app_transport: bool = False
) -> tuple[float, list[float]]:
    """Sequential send, receive and delete cycles per second on one Azurite queue: the
    median of ``runs`` runs of ``count`` cycles, and each run's figure. The SDK's client
    with the app's settings; ``app_transport``: also the app's transport.

    One run is too noisy to divide by: 15 runs of 300 cycles on a quiet machine measured
    87 to 163 cycles/s (the same Azurite, a minute apart), while the jobs runs beside them
    varied by about 15 %; the median of five is what the jobs figure is divided by."""
    from azure.storage.queue import QueueClient

    from shared.settings import sdk_transport_options, storage_client_options

    options = storage_client_options() if app_transport else sdk_transport_options()
    queue = QueueClient.from_connection_string(azurite.connection_string, "benchbare", **options)
    with contextlib.suppress(Exception):
        queue.create_queue()

    def cycles(n: int) -> None:
        for index in range(n):
            queue.send_message(str(index))
            for message in queue.receive_messages(messages_per_page=1, max_messages=1):
                queue.delete_message(message)

    cycles(20)  # warm the connection
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        cycles(count)
        rates.append(round(count / (time.perf_counter() - started), 1))
    queue.close()
    return statistics.median(rates), rates


def _proc_stats() -> dict[int, list[str]]:
    """Every process's ``/proc/<pid>/stat`` fields after the command name, read once (one
    moment for every group measured); empty where ``/proc`` cannot be read."""
    stats: dict[int, list[str]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{entry}/stat").read_text(encoding="ascii", errors="replace")
                    stats[int(entry)] = text.rsplit(")", 1)[1].split()
    return stats


def _cpu_seconds(stats: dict[int, list[str]], pids: list[int], only: bool = False) -> float:
    """User + system CPU seconds, in ``stats``, of these processes and all their
    descendants (``only``: not the descendants)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, fields in stats.items():
        children[int(fields[1])].append(pid)
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / tick
        if not only:
            todo.extend(children.get(pid, ()))
    return total


def _jobs_rate(
    values: dict[str, str], users: int, per_user: int, host_count: int, kind: str,
    params: dict[str, Any], azurite: Azurite | None = None, cwd: Path | None = None,
) -> tuple[float, int, dict[str, Any]]:  # fmt: skip
    """Create ``users * per_user`` jobs of ``kind`` through ``host_count`` local hosts on
    one Azurite (16 clients at once) and time until all are completed (each host also runs
    the queue trigger: a scale-out). Jobs per second, the warnings the hosts logged, and
    where the time went: CPU per job of the hosts, Azurite and this process (the clients),
    when the last ``POST`` was answered and when the first job completed (seconds)."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import ExitStack
    from datetime import UTC, datetime

    import requests
    import urllib3

    from shared.auth import TokenService
    from tests.support.host import LocalHost

    issuer = TokenService(values["AUTH_SIGNING_KEY"], 60)
    tokens = [issuer.issue(f"bench-{uuid.uuid4().hex[:8]}", "bench@example.com",
                           datetime.now(UTC)).access_token for _ in range(users)]  # fmt: skip
    count = users * per_user
    with ExitStack() as stack:
        hosts = [stack.enter_context(LocalHost(values, cwd=cwd)) for _ in range(host_count)]
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))
        for host in hosts:
            session.get(f"{host.url}/api/health", timeout=10)
        # The clients POST through urllib3 (keep-alive, 16 connections a host), not
        # requests: they share the 2 cores with what is measured, and requests costs
        # about twice the CPU a request (docs/benchmarks.md).
        clients = urllib3.PoolManager(maxsize=16, retries=False)

        def post(host: Any, token: str, index: int) -> str:
            body = json.dumps({"name": f"bench {index}", "kind": kind, "params": params})
            response = clients.request(
                "POST", f"{host.url}/api/jobs", body=body.encode(), timeout=60,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )  # fmt: skip
            if response.status != 201:
                raise RuntimeError(f"POST /api/jobs: {response.status} {response.data[:200]!r}")
            return str(json.loads(response.data)["id"])

        # Untimed warm-up, as the bare loop's first cycles: WARMUP_JOBS jobs of another
        # user are posted to each host and completed first, so that the timed window measures
        # throughput, not a host's first use of the job path (imports, clients, its first
        # storage connections), which has its own figure (--only firstrequest).
        warm_token = issuer.issue("bench-warmup", "warmup@example.com",
                                  datetime.now(UTC)).access_token  # fmt: skip
        warm = {post(host, warm_token, n) for host in hosts for n in range(WARMUP_JOBS)}
        warm_deadline, read = time.monotonic() + 60, [0] * len(hosts)
        while True:
            warm -= _new_completions(hosts, read)
            if not warm or time.monotonic() >= warm_deadline:
                break
            time.sleep(0.05)
        if warm:
            raise RuntimeError(f"warm-up: {len(warm)} jobs not completed")
        read = [len(host._lines) for host in hosts]  # the timed window's lines come after
        # (pids, only these processes: the hosts and Azurite are this one's children)
        groups = {"hosts": ([h.process.pid for h in hosts if h.process is not None], False),
                  "bench": ([os.getpid()], True)}  # fmt: skip
        if azurite is not None and azurite.process is not None:
            groups["azurite"] = ([azurite.process.pid], False)
        stats = _proc_stats()
        cpu_before = {name: _cpu_seconds(stats, pids, own) for name, (pids, own) in groups.items()}
        started = time.perf_counter()
        answered: list[float] = []

        def create(index: int) -> None:
            post(hosts[index % len(hosts)], tokens[index % users], index)
            answered.append(time.perf_counter())

        # Completions are counted from the hosts' own "job completed" log lines (read
        # where they are already kept, in this process), from the first POST on: polling
        # 50 users' summaries twice a second was itself ~100 requests/s against the hosts
        # being measured. The summaries are read once at the end, as the proof.
        first_done: float | None = None
        done: set[str] = set()
        deadline = time.monotonic() + 300
        with ThreadPoolExecutor(max_workers=16) as pool:
            posts = [pool.submit(create, index) for index in range(count)]
            while time.monotonic() < deadline and len(done) < count:
                seen = _new_completions(hosts, read)
                if seen:
                    done |= seen
                    first_done = first_done or time.perf_counter()
                if any(post.done() and post.exception() for post in posts):
                    break
                time.sleep(0.05)
            for post in posts:
                post.result()  # a POST that failed fails the run
        elapsed = time.perf_counter() - started
        stats = _proc_stats()
        cpu_after = {name: _cpu_seconds(stats, pids, own) for name, (pids, own) in groups.items()}
        spent: dict[str, Any] = {
            "cpu_ms_per_job": {
                name: round((after - cpu_before[name]) * 1e3 / count, 1)
                for name, after in cpu_after.items()
            },
            "last_post_answered_s": round(max(answered) - started, 2),
            # seen within 50 ms (the polling above) of the log line
            "first_completion_seen_s": round(first_done - started, 2) if first_done else None,
        }
        completed = 0
        for token in tokens:
            auth = {"Authorization": f"Bearer {token}"}
            completed += session.get(f"{hosts[0].url}/api/jobs/summary", timeout=30,
                                     headers=auth).json()["completed"]  # fmt: skip
        logged = [record for host in hosts for record in host.log_records()
                  if record.get("level") in ("WARNING", "ERROR")]  # fmt: skip
        warnings = len(logged)
        if completed < count or logged:  # say what went wrong, not just that it did
            kinds = collections.Counter(str(r.get("message")) for r in logged)
            print(f"  jobs: {completed}/{count} completed in {elapsed:.0f} s; "
                  f"warnings: {dict(kinds.most_common(5))}",
                  file=sys.stderr, flush=True)  # fmt: skip
    return round(completed / elapsed, 1), warnings, spent


def _new_completions(hosts: list[Any], read: list[int]) -> set[str]:
    """The ids of the jobs the hosts logged as completed since ``read`` (each host's lines
    read so far, moved on past those read now)."""
    seen: set[str] = set()
    for n, host in enumerate(hosts):
        lines = host._lines[read[n] :]
        read[n] += len(lines)
        seen.update(str(json.loads(line).get("job_id", "")) for line in lines
                    if '"job completed"' in line)  # fmt: skip
    return seen


LOAD_CITIES = ["London", "Paris", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Warsaw",
               "Lisbon", "Dublin"]  # fmt: skip
LOAD_MIX = ["weather"] * 8 + ["history"] * 4 + ["create_job"] * 3 + ["read_job"] * 5


def _register_accounts(host: Any, outbox: Path, count: int) -> list[str]:
    """Register, verify (the code from the outbox folder) and log in ``count`` accounts;
    their bearer tokens."""
    import uuid
    from concurrent.futures import ThreadPoolExecutor
    from email.message import EmailMessage

    import requests

    from shared.domain.accounts import code_from_email

    password = "bench password 0123"  # noqa: S105 - throwaway accounts on a bench Azurite

    def code_for(address: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for path in outbox.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if isinstance(message, EmailMessage) and str(message["To"]) == address:
                    code = code_from_email(message)
                    if code:
                        return code
            time.sleep(0.2)
        raise TimeoutError(f"no code for {address}")

    def account(index: int) -> str:
        address = f"load{index}-{uuid.uuid4().hex[:8]}@example.com"
        with requests.Session() as session:
            session.post(
                f"{host.url}/api/register",
                timeout=30,
                json={"email": address, "password": password},
            ).raise_for_status()
            session.post(
                f"{host.url}/api/verify-email",
                timeout=30,
                json={"email": address, "otp": code_for(address)},
            ).raise_for_status()
            login = session.post(f"{host.url}/api/login", timeout=30,
                                 json={"email": address, "password": password})  # fmt: skip
            login.raise_for_status()
            return str(login.json()["access_token"])

    from devtools.progress import progress

    with ThreadPoolExecutor(max_workers=10) as pool:
        tokens = pool.map(account, range(count))
        return list(progress(tokens, desc="register accounts", total=count, unit="account",
                             leave=False))  # fmt: skip


def bench_load(
    azurite: Azurite, values: dict[str, str], clients: int, duration: float, point_reads: int
) -> dict[str, Any]:
    """``clients`` concurrent clients for ``duration`` s; see the module docstring."""
    import random
    import tempfile
    import threading
    from datetime import UTC, datetime, timedelta

    import requests
    from azure.data.tables import TableClient

    from tests.support.host import FAST_QUEUE_SETTINGS, LocalHost

    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as outbox:
        settings = {**values, **FAST_QUEUE_SETTINGS, "RATE_LIMITS_ENABLED": "false",
                    "EMAIL_PROVIDER": "outbox", "EMAIL_OUTBOX_DIR": outbox}  # fmt: skip
        with LocalHost(settings) as host:
            tokens = _register_accounts(host, Path(outbox), clients)
            later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            samples: list[float] = []
            counts: dict[str, int] = {op: 0 for op in set(LOAD_MIX)}
            statuses: dict[str, int] = {}
            failures: list[str] = []
            lock = threading.Lock()
            start = threading.Barrier(clients + 1)
            stop_at: list[float] = []

            def client(index: int) -> None:
                chooser = random.Random(index)
                auth = {"Authorization": f"Bearer {tokens[index]}"}
                mine: list[str] = []
                with requests.Session() as session:
                    start.wait()
                    while time.perf_counter() < stop_at[0]:
                        op = chooser.choice(LOAD_MIX)
                        if op == "read_job" and not mine:
                            op = "create_job"
                        began = time.perf_counter()
                        try:
                            if op == "weather":
                                city = chooser.choice(LOAD_CITIES)
                                r = session.get(f"{host.url}/api/weather", params={"city": city},
                                                headers=auth, timeout=30)  # fmt: skip
                            elif op == "history":
                                r = session.get(f"{host.url}/api/history", headers=auth,
                                                timeout=30)  # fmt: skip
                            elif op == "create_job":
                                r = session.post(f"{host.url}/api/jobs", headers=auth, timeout=30,
                                                 json={"name": f"load {index}",
                                                       "kind": "history.export",
                                                       "scheduled_time": later})  # fmt: skip
                                if r.status_code == 201:
                                    mine.append(r.json()["id"])
                            else:
                                job_id = chooser.choice(mine)
                                r = session.get(f"{host.url}/api/jobs/{job_id}", headers=auth,
                                                timeout=30)  # fmt: skip
                        except requests.RequestException as exc:
                            with lock:
                                failures.append(type(exc).__name__)
                            continue
                        elapsed = (time.perf_counter() - began) * 1000
                        with lock:
                            samples.append(elapsed)
                            counts[op] += 1
                            key = f"{r.status_code // 100}xx"
                            statuses[key] = statuses.get(key, 0) + 1

            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for thread in threads:
                thread.start()
            stop_at.append(time.perf_counter() + duration)
            began = time.perf_counter()
            start.wait()
            for thread in threads:
                thread.join(duration + 120)
            wall = time.perf_counter() - began

    table = TableClient.from_connection_string(azurite.connection_string, "benchpoint")
    with contextlib.suppress(Exception):
        table.create_table()
    table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "value": 1})
    point = _summary(timed(lambda: table.get_entity("p", "r"), point_reads, 20))
    total = sum(counts.values())
    return {
        "clients": clients,
        "duration_s": round(wall, 1),
        "requests": total,
        "requests_per_second": round(total / wall, 1),
        "latency": _summary(samples) if samples else {},
        "by_operation": counts,
        "status_classes": statuses,
        "errors": {
            "5xx": statuses.get("5xx", 0),
            "connection_failures": len(failures),
            "kinds": sorted(set(failures)),
        },
        "azurite_point_read": point,
    }


LOGINS = 25  # with 3 warm-up logins, under the 30 per 5 minutes one client may make


def _login_p50(values: dict[str, str], outbox: Path, limits: bool) -> dict[str, Any]:
    """Register, verify (code from the outbox) and time sequential logins of one account."""
    import uuid

    import requests

    from shared.domain.accounts import code_from_email
    from tests.support.host import LocalHost

    settings = {**values, "RATE_LIMITS_ENABLED": str(limits).lower(),
                "EMAIL_PROVIDER": "outbox", "EMAIL_OUTBOX_DIR": str(outbox)}  # fmt: skip
    address = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": address, "password": "correct horse battery"}
    with LocalHost(settings) as host, requests.Session() as session:
        session.post(f"{host.url}/api/register", json=body, timeout=30).raise_for_status()
        code = None
        deadline = time.monotonic() + 30
        while code is None and time.monotonic() < deadline:
            for path in outbox.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if str(message["To"]) == address:
                    code = code_from_email(message)  # type: ignore[arg-type]
            time.sleep(0.05)
        assert code is not None, "no verification e-mail in the outbox"
        verify = {"email": address, "otp": code}
        session.post(f"{host.url}/api/verify-email", json=verify, timeout=30).raise_for_status()

        def login() -> None:
            response = session.post(f"{host.url}/api/login", json=body, timeout=30)
            response.raise_for_status()

        return _summary(timed(login, LOGINS, 3))


def _storage_calls_per_login(values: dict[str, str], limits: bool) -> dict[str, int]:
    """Storage calls of one successful login in process (the service on Azurite, every
    table call counted): the first of this process, and a later one."""
    import uuid
    from datetime import UTC, datetime

    from shared.container import Container
    from shared.domain.accounts import User
    from shared.settings import Settings

    calls: list[str] = []

    class Counting:
        def __init__(self, table: Any) -> None:
            self._table = table

        def __getattr__(self, name: str) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                calls.append(name)
                return getattr(self._table, name)(*args, **kwargs)

            return call

    class CountingContainer(Container):
        def table(self, name: str) -> Any:
            return Counting(super().table(name))

    settings = Settings(**{**values, "RATE_LIMITS_ENABLED": str(limits).lower()})  # type: ignore[arg-type]
    c = CountingContainer(settings)
    address, password = f"calls-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery"
    c.accounts.users.add(User(
        id=str(uuid.uuid4()), email=address, password_hash=c.passwords.hash(password),
        email_verified=True, plan="basic", created_at=datetime.now(UTC),
    ))  # fmt: skip
    counts = {}
    for label in ("first_login", "later_login"):
        calls.clear()
        c.accounts.login(address, password, "203.0.113.9")
        counts[label] = len(calls)
    return counts


def _limiter_hit_ms(connection_string: str) -> dict[str, float]:
    """One allowed hit on a key this process knows (one conditional write), in process."""
    from azure.data.tables import TableClient

    from shared.adapters.clock import SystemClock
    from shared.adapters.table_ratelimits import TableRateLimiter
    from shared.domain.ratelimits import Rate

    table = TableClient.from_connection_string(connection_string, "ratelimits")
    with contextlib.suppress(Exception):
        table.create_table()
    limiter, rate = TableRateLimiter(table, SystemClock()), Rate("bench", 10**9, 1)
    return _summary(timed(lambda: limiter.hit(rate, "bench-key"), 200, 20))


def bench_login(values: dict[str, str]) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        on = _login_p50(values, Path(folder) / "on", limits=True)
        off = _login_p50(values, Path(folder) / "off", limits=False)
    return {
        "limits_on": on,
        "limits_off": off,
        "p50_added_ms": round(on["p50_ms"] - off["p50_ms"], 3),
        "limiter_hit_in_process": _limiter_hit_ms(values["AzureWebJobsStorage"]),
        "storage_calls_per_login": {
            "limits_on": _storage_calls_per_login(values, limits=True),
            "limits_off": _storage_calls_per_login(values, limits=False),
        },
    }


def bench_refresh(azurite: Azurite, values: dict[str, str], count: int = 1000) -> dict[str, Any]:
    """Refresh ``count`` subscribed cities once under a 60/min limit (Open-Meteo stand-in)."""
    import gzip
    import math

    import requests

    from devtools.progress import progress
    from shared.adapters.city_index_build import SOURCE_PATH
    from shared.adapters.table_budget import DEFAULT_MARGIN_SECONDS
    from shared.adapters.table_subscriptions import TableSubscriptionRepository
    from shared.adapters.weather_openmeteo import OpenMeteoProvider
    from shared.container import Container
    from shared.domain.weather import City
    from shared.settings import Settings
    from tests.support.host import LocalHost
    from tests.support.weather_standins import OpenMeteoStandIn

    with gzip.open(SOURCE_PATH) as raw:
        rows = json.load(raw)
    rows.sort(key=lambda row: -int(row[7]))
    places = [City(str(r[0]), str(r[2]), str(r[4]), float(r[5]), float(r[6])) for r in rows[:count]]
    limit = 60
    with OpenMeteoStandIn() as stand_in:
        stand_in.limit_rate(limit, 60.0)
        settings = {
            **values,
            "WEATHER_PROVIDER": "open-meteo",
            "OPEN_METEO_BASE_URL": f"{stand_in.url}/v1",
            "OPEN_METEO_GEOCODING_URL": f"{stand_in.url}/v1",
            "WEATHER_RATE_LIMIT_PER_MINUTE": str(limit),
        }
        container = Container(settings=Settings(**settings))  # type: ignore[arg-type]
        repository = TableSubscriptionRepository(
            container.table("subscriptions"), container.table("citysubscribers"),
            container.table("subscribedcities"),
        )  # fmt: skip
        for place in progress(places, desc="seed subscribed cities", unit="city", leave=False):
            repository.join_city(place, "bench-user")
        with LocalHost(settings) as host:
            started = time.perf_counter()
            requests.post(f"{host.url}/admin/functions/refresh_weather", json={"input": ""},
                          timeout=10).raise_for_status()  # fmt: skip
            summary: dict[str, Any] | None = None
            while summary is None and time.perf_counter() - started < 300:
                summary = next((r for r in host.log_records()
                                if r.get("message") == "weather refresh"), None)  # fmt: skip
                time.sleep(0.05)
            wall = time.perf_counter() - started
        if summary is None:
            raise RuntimeError("the refresh did not finish in 5 minutes")
        upstream = stand_in.count("/v1/forecast")
        window = 60.0 + DEFAULT_MARGIN_SECONDS
        return {
            "cities": count,
            "limit_per_minute": limit,
            "open_meteo": {
                "batch": OpenMeteoProvider.max_batch,
                "upstream_requests": upstream,
                "naive_requests": count,
                "percent_of_naive": round(100 * upstream / count, 2),
                "responses_429": stand_in.rate_limited,
                "max_requests_in_any_60_s": stand_in.max_in_window(60.0),
                "wall_time_s": round(wall, 2),
                "run_duration_ms": summary.get("duration_ms"),
                "refreshed": summary.get("refreshed"),
                "published": summary.get("published"),
                "deferred": summary.get("deferred"),
            },
            "one_city_per_request_minimum": {
                "upstream_requests": count,
                # ``limit`` at once, then ``limit`` more each window: the last group's start.
                "minutes_at_least": round((math.ceil(count / limit) - 1) * window / 60, 1),
            },
        }


SECTIONS = (
    "imports", "firstrequest", "health", "weather", "upstream", "jobs", "point", "load",
    "login", "realtime", "refresh", "joblists", "web", "cityindex", "observations",
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print performance figures as JSON.")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--imports", type=int, default=10)
    parser.add_argument("--job-scenarios", default="50x10,1x200",
                        help="jobs: USERSxJOBS_EACH, comma-separated")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="bare/jobs pairs per figure")
    parser.add_argument("--compare-with", metavar="REV",
                        help="jobs: the first scenario, 2 hosts, REV's hosts and this "
                             "tree's alternated --repeats times")  # fmt: skip
    parser.add_argument("--clients", type=int, default=50, help="load: concurrent clients")
    parser.add_argument("--duration", type=float, default=60.0, help="load: seconds")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--list-sizes", default="100,1000", help="joblists: jobs of one user")
    args = parser.parse_args(argv)
    run = set(args.only or SECTIONS)

    import requests
    from azure.data.tables import TableClient

    from devtools.progress import Steps
    from tests.support.host import LocalHost

    results: dict[str, Any] = {"machine": _machine()}
    steps = Steps([s for s in SECTIONS if s in run], desc="bench")
    if "realtime" in run:  # needs no Azurite
        steps.start("realtime")
        from bench.realtime import bench_realtime

        results["realtime"] = bench_realtime()
    if "cityindex" in run:  # needs no Azurite either
        steps.start("cityindex")
        from bench.cityindex import bench_cityindex

        results["city_index"] = bench_cityindex()
    if not run - {"realtime", "cityindex"}:  # no Azurite needed
        steps.close()
        return _write(results, f"latest-{'-'.join(sorted(run))}.json")
    with Azurite() as azurite:
        env = dict(os.environ)
        env.update({
            "AzureWebJobsStorage": azurite.connection_string,
            "AUTH_SIGNING_KEY": "bench-signing-key-0123456789abcdef0123456789",
            "WEATHER_PROVIDER": "simulated",
            "PYTHONDONTWRITEBYTECODE": "",
        })  # fmt: skip
        if "imports" in run:
            steps.start("imports")
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
            results["cold_import"]["ratio"] = round(
                results["cold_import"]["function_app"]["median_ms"]
                / results["cold_import"]["azure.functions"]["median_ms"],
                2,
            )
            results["cold_import"]["goal_ratio"] = COLD_IMPORT_GOAL
            results["cold_import"]["goal_met"] = results["cold_import"]["ratio"] <= COLD_IMPORT_GOAL

        values = {
            **TIMERS_OFF,
            "AzureWebJobsStorage": azurite.connection_string,
            "AUTH_SIGNING_KEY": env["AUTH_SIGNING_KEY"],
            "WEATHER_PROVIDER": "simulated",
            "RATE_LIMITS_ENABLED": "false",
        }
        if "firstrequest" in run:
            steps.start("firstrequest")
            from bench.firstrequest import bench_first_request

            results["first_request"] = bench_first_request(values)
        if "health" in run:
            steps.start("health")
            with LocalHost(values) as host, requests.Session() as session:
                url = f"{host.url}/api/health"

                def health() -> None:
                    response = session.get(url, timeout=10)
                    response.raise_for_status()

                results["health_via_local_host"] = _summary(timed(health, args.requests, 20))

        if "weather" in run:
            steps.start("weather")
            with LocalHost(values) as host, requests.Session() as session:
                results["weather_cached_via_local_host"] = bench_weather(
                    host, session, args.requests
                )
        if "upstream" in run:
            steps.start("upstream")
            results["weather_upstream_requests"] = bench_upstream(azurite)
        if "jobs" in run:
            steps.start("jobs")
            scenarios = tuple(
                (int(u), int(n)) for u, n in (x.split("x") for x in args.job_scenarios.split(","))
            )
            if args.compare_with:
                users, per_user = scenarios[0]
                results["jobs_compare"] = bench_jobs_compare(
                    values, args.compare_with, args.repeats, users, per_user
                )
            else:
                results["jobs"] = bench_jobs(values, args.repeats, scenarios)
        if "load" in run:
            steps.start("load")
            results["load"] = bench_load(
                azurite, values, args.clients, args.duration, args.requests
            )
        if "login" in run:
            steps.start("login")
            results["login"] = bench_login(values)
        if "refresh" in run:
            steps.start("refresh")
            results["refresh"] = bench_refresh(azurite, values)
        if "joblists" in run:
            steps.start("joblists")
            from bench.joblists import bench_joblists

            sizes = tuple(int(n) for n in args.list_sizes.split(","))
            results["joblists"] = bench_joblists(values, sizes, 30)
        if "web" in run:
            steps.start("web")
            from bench.web import bench_web

            results["web"] = bench_web(values)
        if "observations" in run:
            steps.start("observations")
            from bench.observations import bench_observations

            results["observations"] = bench_observations(azurite.connection_string)

        if "point" in run:
            steps.start("point")
            table = TableClient.from_connection_string(azurite.connection_string, "benchpoint")
            with contextlib.suppress(Exception):
                table.create_table()
            table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "value": 1})
            results["azurite_point_read"] = _summary(
                timed(lambda: table.get_entity("p", "r"), args.requests, 20)
            )
    steps.close()
    # A partial run (--only) does not replace the figures of a full one.
    partial = f"latest-{'-'.join(sorted(run))}.json"
    return _write(results, partial if args.only else "latest.json")


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(terse=True),
    }


def _write(results: dict[str, Any], name: str) -> int:
    output = json.dumps(results, indent=2)
    print(output)
    target = ROOT / "bench" / "results"
    target.mkdir(parents=True, exist_ok=True)
    (target / name).write_text(output + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
