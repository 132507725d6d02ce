"""Issue 18 item 16: stopping the local host is bounded, and a second signal ends it at once.

With storage gone, Ctrl-C waited on running invocations without end (the wait was the
5-minute functionTimeout, then the interpreter's exit joined the thread pool's workers still
inside the stuck calls) and a second Ctrl-C or SIGTERM only set the same flag again. Now, as
the Functions host does, a stop drains running invocations for 10 s at most
(azure-functions-host: RpcFunctionInvocationDispatcher.ShutdownAsync waits
WorkerProcessCountOptions.ProcessShutdownTimeout, 10 s, then shuts the worker down) and a
second signal exits at once.

The host runs the probe app on an Azurite of its own, which the test stops (its queue
listeners then retry against nothing), with an HTTP invocation that does not return (the
probe's /api/slow for 10 minutes, standing for a call stuck on storage).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from devtools.azurite import Azurite
from tests.conftest import base_settings_values
from tests.support.host import LocalHost
from tests.support.waiting import wait_for

PROBE_APP = "tests.support.probe_app"
GRACE = 3.0  # --shutdown-grace of the test hosts (the default, 10 s, as the real host)


@pytest.fixture
def stuck_host(azurite_factory: Callable[[], Azurite]) -> Iterator[Callable[[float], LocalHost]]:
    """A host with an invocation that never returns, on an Azurite that is then stopped."""
    started: list[LocalHost] = []

    def start(grace: float) -> LocalHost:
        storage = azurite_factory()
        run = uuid.uuid4().hex[:10]
        values = {
            **base_settings_values(storage.connection_string),
            "PROBE_RUN_ID": run, "PROBE_QUEUE_OK": f"ok{run}", "PROBE_QUEUE_FAIL": f"fail{run}",
            "PROBE_SCHEDULE": "0 0 0 1 1 *",
        }  # fmt: skip
        host = LocalHost(values, app=PROBE_APP, extra_args=("--shutdown-grace", str(grace)))
        started.append(host.start())

        def call() -> None:
            with contextlib.suppress(requests.RequestException):  # the host goes away
                requests.get(f"{host.url}/api/slow", params={"seconds": "600"}, timeout=700)

        threading.Thread(target=call, daemon=True).start()
        wait_for(lambda: "slow invocation started" in host.logs, timeout=15)
        storage.stop()
        return host

    yield start
    for host in started:
        host.close()


def _wait_exit(host: LocalHost, timeout: float) -> tuple[int | None, float]:
    assert host.process is not None
    started = time.monotonic()
    try:
        code = host.process.wait(timeout=timeout)
    except Exception:
        code = None
    return code, time.monotonic() - started


def test_item16_sigint_with_a_stuck_invocation_exits_after_the_grace_period(
    stuck_host: Callable[[float], LocalHost],
) -> None:
    host = stuck_host(GRACE)
    assert host.process is not None
    host.process.send_signal(signal.SIGINT)
    code, waited = _wait_exit(host, timeout=GRACE + 15)
    assert code is not None, f"still running {GRACE + 15}s after SIGINT:\n{host.logs[-3000:]}"
    assert code == 1  # work was abandoned
    assert GRACE - 0.5 <= waited <= GRACE + 10, waited
    assert "waiting up to 3s for running invocations" in host.logs
    assert "running work abandoned" in host.logs


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_item16_a_second_signal_ends_the_host_at_once(
    stuck_host: Callable[[float], LocalHost], second: signal.Signals
) -> None:
    host = stuck_host(120.0)  # a grace far longer than the test waits
    assert host.process is not None
    host.process.send_signal(signal.SIGINT)
    wait_for(lambda: "waiting up to 120s" in host.logs, timeout=10)
    host.process.send_signal(second)
    code, waited = _wait_exit(host, timeout=10)
    assert code == 128 + int(second), (code, host.logs[-3000:])
    assert waited < 5, waited
    assert "second signal" in host.logs


def test_item16_a_host_with_nothing_running_still_stops_cleanly(
    azurite_factory: Callable[[], Azurite],
) -> None:
    """The grace is an upper bound, not a wait: an idle host exits 0 at once."""
    storage = azurite_factory()
    host = LocalHost(base_settings_values(storage.connection_string)).start()
    try:
        assert host.process is not None
        host.process.send_signal(signal.SIGINT)
        code, waited = _wait_exit(host, timeout=15)
        assert code == 0, host.logs[-3000:]
        assert waited < 8, waited
    finally:
        host.close()
