"""``GET /admin/metrics`` of the local host: the app's counters in Prometheus text format.

The host runs the app in-process, so it reads the app's in-process registry
(``shared.telemetry.snapshot()``) and renders it with the official ``prometheus_client``
(a dev dependency: the deployed app never imports it). A metric ``jobs.started`` with the
attribute ``kind`` becomes ``jobs_started_total{kind="..."}``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _AppCollector:
    def __init__(self, telemetry: Any) -> None:
        self.telemetry = telemetry

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        by_name: dict[str, list[tuple[dict[str, str], float]]] = {
            name: [] for name in self.telemetry.METRICS
        }
        for (name, attributes), value in sorted(self.telemetry.snapshot().items()):
            by_name.setdefault(name, []).append((dict(attributes), value))
        for name, samples in by_name.items():
            labels = sorted({key for attributes, _ in samples for key in attributes})
            family = CounterMetricFamily(
                name.replace(".", "_").replace("-", "_"),
                self.telemetry.METRICS.get(name, name),
                labels=labels,
            )
            for attributes, value in samples:
                family.add_metric([attributes.get(label, "") for label in labels], value)
            yield family


def prometheus_text() -> bytes:
    """Every counter the app recorded in this process (none if it records none)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    telemetry = sys.modules.get("shared.telemetry")
    if telemetry is not None:
        registry.register(_AppCollector(telemetry))
    return generate_latest(registry)


def flush() -> None:
    """Export what the app's telemetry holds (when the app exports any) before exiting."""
    telemetry = sys.modules.get("shared.telemetry")
    if telemetry is not None:
        telemetry.flush()
