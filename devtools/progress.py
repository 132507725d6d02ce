"""Progress bars for the commands a person waits on (tqdm), and only for a person.

``progress(iterable, desc=...)`` wraps an iterable in a tqdm bar on stderr when stderr is a
terminal, and returns it untouched otherwise: piped or redirected output, CI logs and tests
(pytest captures stderr, and ``PYTEST_CURRENT_TEST`` is set) get no bar and no escape codes.
``say(line)`` prints a line to stdout without tearing a bar that is on screen.
``WEATHER_JOBS_PROGRESS=0`` turns bars off, ``=1`` forces them on (to see one in a pipe).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")


def enabled(stream: IO[str] | None = None) -> bool:
    """Whether a bar would be drawn on ``stream`` (stderr by default)."""
    forced = os.environ.get("WEATHER_JOBS_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if "PYTEST_CURRENT_TEST" in os.environ:
        return False
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    leave: bool = True,
    stream: IO[str] | None = None,
) -> Iterable[T]:
    """``iterable`` with a bar while it is consumed, when a person is watching."""
    if not enabled(stream):
        return iterable
    from tqdm import tqdm  # only when a bar is drawn

    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    bar: Iterator[T] = tqdm(
        iterable, desc=desc, total=total, unit=unit, leave=leave, file=stream or sys.stderr,
        dynamic_ncols=True,
    )  # fmt: skip
    return bar


class Steps:
    """A bar over named steps (``make bench`` sections): ``start(name)`` when a step begins
    (the previous one is then done), ``close()`` after the last."""

    def __init__(self, names: Iterable[str], *, desc: str, stream: IO[str] | None = None):
        self.names = list(names)
        self._bar: Any = None
        self._current: str | None = None
        if enabled(stream) and self.names:
            from tqdm import tqdm

            self._bar = tqdm(total=len(self.names), desc=desc, unit="section",
                             file=stream or sys.stderr, dynamic_ncols=True)  # fmt: skip

    def start(self, name: str) -> None:
        self._finish()
        self._current = name
        if self._bar is not None:
            self._bar.set_postfix_str(name)

    def _finish(self) -> None:
        if self._bar is not None and self._current is not None:
            self._bar.update(1)
        self._current = None

    def close(self) -> None:
        self._finish()
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def say(line: str) -> None:
    """Print ``line`` to stdout; with a bar on screen, above it."""
    if enabled():
        from tqdm import tqdm

        tqdm.write(line, file=sys.stdout)
    else:
        print(line, flush=True)
