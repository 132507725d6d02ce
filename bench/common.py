"""What every bench section measures with: percentiles of millisecond samples, and a timer."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devtools.progress import progress


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": percentile(samples_ms, 50),
        "p90_ms": percentile(samples_ms, 90),
        "p99_ms": percentile(samples_ms, 99),
        "max_ms": round(max(samples_ms), 3),
    }


def timed(call: Callable[[], Any], count: int, warmup: int) -> list[float]:
    """Milliseconds of ``count`` calls, after ``warmup`` calls that are not kept."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in progress(range(count), desc="samples", unit="call", leave=False):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples
