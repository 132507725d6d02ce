"""How long a ``pytest -n N --dist loadscope`` run lasts for given test durations: replays
pytest-xdist's LoadScopeScheduling (3.8: a module, or a class, is one unit; every worker
starts with one unit and takes another whenever it has at most two tests left) on the
per-test times of a JUnit XML report, in the old order (xdist's reorder by number of tests)
and in the suite's order (tests/conftest.py's LONGEST_FIRST). Same durations, two orders:
the effect of the order alone, free of the machine's load (docs/benchmarks.md).

    .venv/bin/python -m pytest -n 2 --dist loadscope --cov --junitxml=/tmp/suite.xml
    .venv/bin/python -m devtools.suite_schedule /tmp/suite.xml --workers 2
"""

from __future__ import annotations

import argparse
import heapq
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

Units = dict[str, list[float]]


def units_of(report: Path) -> Units:
    """Per-test seconds (setup, call and teardown) grouped by xdist scope, in report order."""
    units: Units = {}
    for case in ET.parse(report).iter("testcase"):  # noqa: S314
        parts = (case.get("classname") or "").split(".")
        last = max(i for i, part in enumerate(parts) if part.startswith("test_"))
        scope = "/".join(parts[: last + 1]) + ".py"
        if parts[last + 1 :]:
            scope += "::" + ".".join(parts[last + 1 :])
        units.setdefault(scope, []).append(float(case.get("time") or 0))
    return units


def finish_times(units: Units, order: Sequence[str], workers: int) -> list[float]:
    """When each worker ends, handing out ``order`` as xdist's loadscope does."""
    queue = deque(order)
    pending: list[deque[float]] = [deque() for _ in range(workers)]

    def take(node: int, only_if_low: bool) -> None:
        if queue and not (only_if_low and len(pending[node]) > 2):
            pending[node].extend(units[queue.popleft()])

    for node in range(workers):
        take(node, only_if_low=False)
    for node in range(workers):
        take(node, only_if_low=True)
    ends = [0.0] * workers
    events = [(pending[n][0], n) for n in range(workers) if pending[n]]
    heapq.heapify(events)
    while events:
        moment, node = heapq.heappop(events)
        ends[node] = moment
        pending[node].popleft()
        take(node, only_if_low=True)
        if pending[node]:
            heapq.heappush(events, (moment + pending[node][0], node))
    return ends


def by_test_count(units: Units) -> list[str]:
    """xdist's default order (--loadscope-reorder): most tests first, ties by path."""
    return sorted(sorted(units), key=lambda scope: -len(units[scope]))


def longest_first(units: Units, weights: Mapping[str, float]) -> list[str]:
    """The suite's order: LONGEST_FIRST's modules first, the rest by path."""
    return sorted(sorted(units), key=lambda scope: -weights.get(scope.split("::", 1)[0], 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a JUnit XML report (pytest --junitxml)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from tests.conftest import LONGEST_FIRST

    units = units_of(args.report)
    print(f"{sum(map(len, units.values()))} tests, {sum(map(sum, units.values())):.0f} s "
          f"of worker time in {len(units)} scopes")  # fmt: skip
    for name, order in (
        ("by number of tests (xdist's default)", by_test_count(units)),
        ("longest first (tests/conftest.py)", longest_first(units, LONGEST_FIRST)),
    ):
        ends = finish_times(units, order, args.workers)
        print(f"{name}: last worker ends at {max(ends):.0f} s "
              f"(workers: {', '.join(f'{e:.0f}' for e in ends)})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
