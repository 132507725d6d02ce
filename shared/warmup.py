"""Warm a new instance in the background once its first request is answered.

Importing the app loads almost nothing (cold start, issue 13): each route family loads what
it needs on its own first request (its pydantic models, PyJWT and cryptography for a bearer
token, the city index, the OpenAPI document's schemas). On a new instance the first request
(the platform's or a monitor's health probe, most often) is answered first; then one daemon
thread loads those for every other family, most used first, so that the requests that follow
find them ready instead of paying for them (issue 21; ``python -m bench --only firstrequest``).

Only imports and in-memory builds: no storage call, no network, nothing written. A step
that fails is logged and skipped (the request that needs it will load it, and fail, as
without the warm-up). Requests running meanwhile share what is loaded: Python's import
lock makes a request wait for a module being imported rather than import it twice.
"""

from __future__ import annotations

import atexit
import importlib
import threading
import time
from collections.abc import Callable

from shared.logging import get_logger

log = get_logger("app.warmup")

EXIT_WAIT_S = 10.0  # the longest an exiting process waits for a warm-up still running
_started = False
_lock = threading.Lock()


def _import(*modules: str) -> None:
    for module in modules:
        importlib.import_module(module)


def _weather() -> None:
    # A throwaway index over the same file: loads sqlite3 and brings the file's pages into
    # the page cache the container's own index then maps; touches no process-wide state.
    from shared.adapters.city_index import CityIndex
    from shared.container import CITY_INDEX_PATH

    index = CityIndex(CITY_INDEX_PATH)
    index.search("Paris")
    index.suggest("Pariss")
    _import(
        "shared.services.weather", "shared.adapters.table_weather",
        "shared.adapters.table_history", "shared.adapters.blob_archive",
        "shared.adapters.http_client", "shared.adapters.weather_openmeteo",
        "shared.adapters.weather_simulated", "functions.models.weather",
    )  # fmt: skip


def _token_library() -> None:
    import jwt  # noqa: F401 - PyJWT and cryptography: every signed-in request's first need


def _services() -> None:
    _import(
        "shared.services.accounts", "shared.services.jobs", "shared.services.subscriptions",
        "shared.services.limits", "shared.adapters.table_accounts", "shared.adapters.table_jobs",
        "shared.adapters.table_subscriptions", "shared.adapters.storage_queue",
        "shared.passwords",
    )  # fmt: skip


def _realtime_sdk() -> None:
    # Only where real time is configured, and only once the process's container exists
    # (built by the first request): the Web PubSub SDK is not small.
    import shared.container

    built = getattr(shared.container, "_container", None)
    if built is not None and built.realtime_configured:
        _import("azure.messaging.webpubsubservice", "shared.adapters.realtime_webpubsub")


# Most used first: weather and sign-in, then the models and services of every route; the
# modules that own a step add it with ``register``, so that this module imports none of them
# (shared/http.py: the models of every route, before the services; functions/openapi.py:
# the OpenAPI document, the largest, the least asked for, last).
STEPS: list[tuple[str, Callable[[], object]]] = [
    ("weather", _weather),
    ("token library", _token_library),
    ("services", _services),
    ("realtime sdk", _realtime_sdk),
]


def register(name: str, step: Callable[[], object], before: str | None = None) -> None:
    """Add a step after the others, or before the step named ``before``; once per name (a
    module imported twice adds it once)."""
    names = [existing for existing, _ in STEPS]
    if name not in names:
        STEPS.insert(names.index(before) if before in names else len(STEPS), (name, step))


def run() -> dict[str, float]:
    """Run every step now (in this thread); milliseconds per step that succeeded."""
    timings: dict[str, float] = {}
    for name, step in STEPS:
        started = time.perf_counter()
        try:
            step()
        except Exception:  # a warm-up step never fails the instance
            log.warning("warm-up step failed", extra={"step": name}, exc_info=True)
            continue
        timings[name] = round((time.perf_counter() - started) * 1000, 1)
    log.info("instance warmed up", extra={"steps_ms": timings})
    return timings


def after_first_request() -> None:
    """Start the warm-up thread, once per process; a no-op afterwards."""
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        _started = True
    thread = threading.Thread(target=run, name="warmup", daemon=True)
    thread.start()
    # A process that exits while the thread is still importing (a worker recycled, a script
    # that made one request) would have it stopped mid-import by the interpreter's
    # finalisation, which can abort the process in a native module ("FATAL: exception not
    # rethrown", SIGABRT: seen once in tests/unit/test_cold_start.py). Exit waits for it
    # instead, bounded: the warm-up takes about a second.
    atexit.register(thread.join, EXIT_WAIT_S)
