"""The warm-up after a new instance's first request (shared/warmup.py, issue 21): the other
route families' modules, the city index and the OpenAPI document are loaded in the
background, once, without storage calls; a failing step is skipped. The city index's module
stands for the index (sqlite3 itself is loaded by coverage when `make test` measures the
subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared import warmup

ROOT = Path(__file__).resolve().parents[2]

_FIRST_REQUEST = r"""
import json, sys, threading
import azure.functions as func, function_app
fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
WATCHED = ("jwt", "functions.models.jobs", "shared.adapters.city_index")
before = {m for m in WATCHED if m in sys.modules}
response = fns["web_app"](func.HttpRequest("GET", "http://localhost/api/app", body=b""))
assert response.status_code == 200
threads = [t for t in threading.enumerate() if t.name == "warmup"]
fns["web_app"](func.HttpRequest("GET", "http://localhost/api/app", body=b""))
assert [t for t in threading.enumerate() if t.name == "warmup"] == threads
for thread in threads:
    thread.join(60)
from functions import openapi as ops
print(json.dumps({
    "before": sorted(before), "threads": len(threads),
    "after": sorted(m for m in WATCHED if m in sys.modules),
    "openapi_built": ops._openapi_document.cache_info().currsize,
    "storage_sdk": sorted(m for m in ("azure.data.tables", "azure.storage.queue",
                                      "azure.storage.blob") if m in sys.modules),
}))
"""


def test_the_first_request_warms_the_other_routes_once_without_storage() -> None:
    environ = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    result = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUEST], cwd=ROOT, env=environ, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["before"] == []  # importing the app loads none of it (cold start)
    assert measured["threads"] == 1  # one warm-up, not one per request
    assert measured["after"] == ["functions.models.jobs", "jwt", "shared.adapters.city_index"]
    assert measured["openapi_built"] == 1
    assert measured["storage_sdk"] == []  # no storage client, no storage call


def test_a_failing_step_is_logged_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("no such file")

    monkeypatch.setattr(warmup, "STEPS", (("broken", broken), ("fine", lambda: ran.append("fine"))))
    timings = warmup.run()
    assert list(timings) == ["fine"] and ran == ["fine"]
    assert any(getattr(r, "step", None) == "broken" for r in caplog.records)


def test_after_first_request_starts_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    done = threading.Event()
    monkeypatch.setattr(warmup, "_started", False)
    monkeypatch.setattr(warmup, "run", lambda: (started.append(1), done.set()))
    for _ in range(5):
        warmup.after_first_request()
    assert done.wait(10)
    assert started == [1]


def test_a_request_during_the_warm_up_waits_for_its_openapi_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The warm-up and a GET /api/openapi.json arriving meanwhile build the document once."""
    import time

    import shared.openapi
    from functions import openapi as ops

    builds: list[int] = []
    real = shared.openapi.build_document

    def slow_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        builds.append(1)
        time.sleep(0.2)  # widen the window in which a second caller arrives
        return real(*args, **kwargs)

    monkeypatch.setattr(shared.openapi, "build_document", slow_build)
    ops._openapi_document.cache_clear()
    try:
        results: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: results.append(ops.openapi_document_bytes()))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert builds == [1]
        assert len(set(results)) == 1 and len(results) == 3
    finally:
        ops._openapi_document.cache_clear()


_EXIT_DURING_WARM_UP = r"""
import time
import azure.functions as func, function_app
from shared import warmup
def slow_last_step():
    time.sleep(0.5)
    print("last step done", flush=True)
warmup.register("slow last step", slow_last_step)
fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
response = fns["web_app"](func.HttpRequest("GET", "http://localhost/api/app", body=b""))
assert response.status_code == 200
print("exiting", flush=True)
"""


def test_a_process_exiting_during_the_warm_up_waits_for_it() -> None:
    # Stopped mid-import by the interpreter's finalisation, the daemon thread could abort the
    # process in a native module ("FATAL: exception not rethrown", SIGABRT, seen in a suite
    # run). The exit now waits for the warm-up to finish: its last step gets to print.
    environ = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    result = subprocess.run(
        [sys.executable, "-c", _EXIT_DURING_WARM_UP], cwd=ROOT, env=environ,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["exiting", "last", "step", "done"]
