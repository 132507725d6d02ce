"""Health: real, short-timeout checks of the storage services the app depends on.

The three checks run concurrently, so a dead dependency costs one timeout, not three. A
check that neither answers nor fails within ``CHECK_TIMEOUT`` seconds counts as down.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import lru_cache

from shared.logging import get_logger
from shared.settings import APP_VERSION

CHECK_TIMEOUT = 3.0

log = get_logger("app.health")


@dataclass(frozen=True)
class HealthReport:
    status: str  # "ok" | "degraded"
    checks: dict[str, str]
    version: str
    latency_ms: dict[str, float] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def _timed(probe: Callable[[], None]) -> float:
    started = time.perf_counter()
    probe()
    return round((time.perf_counter() - started) * 1000, 1)


def check(probes: Mapping[str, Callable[[], None]], timeout: float = CHECK_TIMEOUT) -> HealthReport:
    """Run every probe at once; each is ``ok`` if it returns within ``timeout``."""
    futures = {name: _pool().submit(_timed, probe) for name, probe in probes.items()}
    deadline = time.monotonic() + timeout
    checks: dict[str, str] = {}
    latency: dict[str, float] = {}
    for name, future in futures.items():
        try:
            latency[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            checks[name] = "ok"
        except FutureTimeout:
            checks[name] = "timeout"
            log.warning("health check %s timed out", name)
        except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "down"
            checks[name] = "down"
            log.warning("health check %s failed: %s", name, type(exc).__name__)
    status = "ok" if all(value == "ok" for value in checks.values()) else "degraded"
    return HealthReport(status=status, checks=checks, version=APP_VERSION, latency_ms=latency)
