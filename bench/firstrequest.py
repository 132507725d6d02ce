"""``python -m bench --only firstrequest``: the first request of each route family on a freshly
started local host (issue 21), beside the same request warm.

For every family, ``starts`` fresh host processes (``python -m devtools.host``, the app
imported, nothing else): the health probe first (what the platform sends a new instance),
then the family's request, timed; then its warm p50 over 20 requests on the same host.
A family's figure is the median over the starts. Twice: the request sent as soon as the
probe is answered (``first_ms``, the worst case: the instance's background warm-up,
shared/warmup.py, has only just started) and one second later
(``first_1s_after_probe_ms``: a probe that precedes traffic, as a platform's does).
Each family gets hosts of its own, so its first request pays for what it alone needs
(settings, models, SDK clients, tables, the city index), not what another family already
loaded.

The signed-in families use a bearer token from one account registered beforehand on a
separate host (tokens are signed with AUTH_SIGNING_KEY, so every host accepts it). Real time
is on, against the local Web PubSub emulator. For ``weather`` the host's resident memory
(``/proc/<pid>/statm``) before and after the first lookup is recorded too.

Goals (issue 21): health-probed host, first ``GET /api/weather`` <= 150 ms and <= 25 MB
added; every family's first request <= 3 x its warm p50 + 100 ms.
"""

from __future__ import annotations

import email
import email.policy
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import timed

PASSWORD = "bench password 0123"  # noqa: S105 - a throwaway account on a bench Azurite

# family -> (method, path, needs a token, JSON body)
FAMILIES: dict[str, tuple[str, str, bool, Any]] = {
    "health": ("GET", "/api/health", False, None),
    "weather": ("GET", "/api/weather?city=Paris", False, None),
    "login": ("POST", "/api/login", False, "login"),
    "jobs_list": ("GET", "/api/jobs", True, None),
    "subscriptions": ("GET", "/api/subscriptions", True, None),
    "history": ("GET", "/api/history", True, None),
    "negotiate": ("POST", "/api/realtime/negotiate", True, None),
    "web_page": ("GET", "/api/app", False, None),
    "openapi": ("GET", "/api/openapi.json", False, None),
}
WEATHER_FIRST_MS_GOAL = 150.0
WEATHER_RSS_MB_GOAL = 25.0


def _rss_mb(pid: int) -> float:
    import os

    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _account(values: dict[str, str], outbox: Path) -> tuple[str, str]:
    """Register and verify one account on a host of its own; (e-mail, bearer token)."""
    import requests

    from shared.domain.accounts import code_from_email
    from tests.support.host import LocalHost

    address = f"first-{uuid.uuid4().hex[:8]}@example.com"
    with LocalHost(values) as host, requests.Session() as session:
        session.post(f"{host.url}/api/register", timeout=30,
                     json={"email": address, "password": PASSWORD}).raise_for_status()  # fmt: skip
        code = None
        deadline = time.monotonic() + 60
        while code is None and time.monotonic() < deadline:
            for path in outbox.glob("*.eml"):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if str(message["To"]) == address:
                    code = code_from_email(message)  # type: ignore[arg-type]
            time.sleep(0.1)
        if code is None:
            raise TimeoutError(f"no code for {address}")
        session.post(f"{host.url}/api/verify-email", timeout=30,
                     json={"email": address, "otp": code}).raise_for_status()  # fmt: skip
        login = session.post(f"{host.url}/api/login", timeout=30,
                             json={"email": address, "password": PASSWORD})  # fmt: skip
        login.raise_for_status()
        return address, str(login.json()["access_token"])


PAUSES = (0.0, 1.0)  # seconds between the probe's answer and the family's first request


def bench_first_request(values: dict[str, str], starts: int = 3) -> dict[str, Any]:
    import requests

    from devtools.webpubsub import WebPubSubEmulator
    from tests.support.host import LocalHost

    with tempfile.TemporaryDirectory(prefix="bench-first-") as outbox, WebPubSubEmulator() as wps:
        settings = {
            **values,
            "EMAIL_PROVIDER": "outbox",
            "EMAIL_OUTBOX_DIR": outbox,
            "WEBPUBSUB_CONNECTION_STRING": wps.connection_string,
            "WEBPUBSUB_HUB": "weather",
        }
        address, token = _account(settings, Path(outbox))
        results: dict[str, Any] = {}
        for family, (method, path, signed_in, body) in FAMILIES.items():
            first: dict[float, list[float]] = {pause: [] for pause in PAUSES}
            warm: list[float] = []
            probe: list[float] = []
            rss_added: list[float] = []
            pauses = PAUSES[:1] if family == "health" else PAUSES
            for pause in (p for p in pauses for _ in range(starts)):
                with LocalHost(settings) as host, requests.Session() as session:
                    if signed_in:
                        session.headers["Authorization"] = f"Bearer {token}"
                    payload = {"email": address, "password": PASSWORD} if body == "login" else None
                    url = host.url + path

                    def call(url: str = url, payload: Any = payload, verb: str = method) -> None:
                        response = session.request(verb, url, json=payload, timeout=60)
                        response.raise_for_status()

                    if family != "health":
                        started = time.perf_counter()
                        session.get(host.url + "/api/health", timeout=60).raise_for_status()
                        probe.append((time.perf_counter() - started) * 1000)
                    time.sleep(pause if family != "health" else 0.0)
                    assert host.process is not None
                    before = _rss_mb(host.process.pid)
                    started = time.perf_counter()
                    call()
                    first[pause].append((time.perf_counter() - started) * 1000)
                    rss_added.append(_rss_mb(host.process.pid) - before)
                    warm.append(statistics.median(timed(call, 20, 2)))
            first_ms = statistics.median(first[0.0])
            later_ms = statistics.median(first[PAUSES[1]]) if family != "health" else first_ms
            warm_ms = statistics.median(warm)
            bound = 3 * warm_ms + 100
            figures: dict[str, Any] = {
                "first_ms": round(first_ms, 1),
                "first_1s_after_probe_ms": round(later_ms, 1),
                "warm_p50_ms": round(warm_ms, 1),
                "goal_first_ms_at_most": round(bound, 1),
                "goal_met": first_ms <= bound,
                "goal_met_1s_after_probe": later_ms <= bound,
                "rss_added_by_first_mb": round(statistics.median(rss_added), 1),
                "host_starts": starts * (1 if family == "health" else len(PAUSES)),
            }
            if probe:
                figures["health_probe_before_ms"] = round(statistics.median(probe), 1)
            if family == "weather":
                figures["goal_weather_first_ms"] = WEATHER_FIRST_MS_GOAL
                figures["goal_weather_rss_mb"] = WEATHER_RSS_MB_GOAL
                rss_ok = figures["rss_added_by_first_mb"] <= WEATHER_RSS_MB_GOAL
                figures["goal_met"] = figures["goal_met"] and first_ms <= WEATHER_FIRST_MS_GOAL
                figures["goal_met_1s_after_probe"] = (
                    figures["goal_met_1s_after_probe"] and later_ms <= WEATHER_FIRST_MS_GOAL
                )
                figures["goal_met"] = figures["goal_met"] and rss_ok
                figures["goal_met_1s_after_probe"] = figures["goal_met_1s_after_probe"] and rss_ok
            results[family] = figures
        results["health_probe_parts_ms"] = health_probe_parts(settings)
        return results


_HEALTH_PARTS = r"""
import json, os, sys, time
sys.path.insert(0, os.getcwd())
if os.environ.get("BENCH_AS_DEPLOYED"):
    # requirements.txt has no aiohttp (a dev dependency: the Web PubSub emulator); the
    # storage SDKs import it (and yarl) when present, so the venv's probe pays for it.
    sys.modules["aiohttp"] = None
    sys.modules["yarl"] = None
marks = [("start", time.perf_counter())]
import function_app
marks.append(("import the app", time.perf_counter()))
from shared.settings import get_settings
get_settings()
marks.append(("settings (pydantic-settings)", time.perf_counter()))
import azure.data.tables
marks.append(("import azure.data.tables", time.perf_counter()))
import azure.storage.queue
marks.append(("import azure.storage.queue", time.perf_counter()))
import azure.storage.blob
marks.append(("import azure.storage.blob", time.perf_counter()))
from shared.container import container
probes = container().storage_probes()
marks.append(("container", time.perf_counter()))
for name, probe in probes.items():
    probe()
    marks.append((f"first {name} listing (client built, connection opened)", time.perf_counter()))
for name, probe in probes.items():
    probe()
    marks.append((f"second {name} listing", time.perf_counter()))
print(json.dumps({b[0]: round((b[1] - a[1]) * 1000, 1) for a, b in zip(marks, marks[1:])}))
"""


def health_probe_parts(values: dict[str, str], runs: int = 3) -> dict[str, Any]:
    """What the first health probe of a new instance spends, step by step (sequentially, in
    a fresh interpreter; the probe itself runs the three listings at once): medians, with
    this venv and as deployed (without the dev-only aiohttp)."""
    return {
        "venv": _health_parts(values, runs, as_deployed=False),
        "as_deployed_without_aiohttp": _health_parts(values, runs, as_deployed=True),
    }


def _health_parts(values: dict[str, str], runs: int, as_deployed: bool) -> dict[str, float]:
    import os
    import subprocess
    import sys

    env = {**os.environ, **values}
    if as_deployed:
        env["BENCH_AS_DEPLOYED"] = "1"
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        result = subprocess.run(
            [sys.executable, "-c", _HEALTH_PARTS], cwd=Path(__file__).resolve().parent.parent,
            env=env, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        samples.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return {key: round(statistics.median(s[key] for s in samples), 1) for key in samples[0]}
