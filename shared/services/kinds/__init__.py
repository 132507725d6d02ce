"""Job kinds, one module each.

A kind is a module in this package that defines ``KIND``: a name, a pydantic model for its
``params`` (validated when the job is created, so a bad job is a 400, not a failure hours
later) and a function that does the work and returns a JSON-able output. Adding a kind is
adding a module here; ``shared.services.job_kinds`` finds them all.

A handler receives ``KindPorts`` (the ports a job may use, each built by the container on
first use) and raises to fail the attempt (the job is retried with backoff); it must not
catch everything and return an error as output. ``KindFailed`` carries a message that is
safe to show the job's owner; any other exception is shown by its class name only (the
details go to the logs). Blobs are written through ``ports.outputs``, never an SDK.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict

from shared.models import BaseModel

if TYPE_CHECKING:
    from shared.domain.jobs import Job
    from shared.ports import HistoryReader, JobOutputStore, SentimentAnalyzer, WeatherLookup


class KindFailed(Exception):
    """A handler's failure whose message may be shown to the job's owner as it is."""


class KindPorts:
    """The ports job handlers use. Each is built on first use (through the factory the
    container gives): a ``history.export`` job never loads the city index."""

    def __init__(
        self, *, outputs: Callable[[], JobOutputStore], sentiment: Callable[[], SentimentAnalyzer],
        history: Callable[[], HistoryReader], weather: Callable[[], WeatherLookup],
    ) -> None:  # fmt: skip
        self._outputs, self._sentiment = outputs, sentiment
        self._history, self._weather = history, weather

    @cached_property
    def outputs(self) -> JobOutputStore:
        return self._outputs()

    @cached_property
    def sentiment(self) -> SentimentAnalyzer:
        return self._sentiment()

    @cached_property
    def history(self) -> HistoryReader:
        return self._history()

    @cached_property
    def weather(self) -> WeatherLookup:
        return self._weather()


class Params(BaseModel):
    """Base of every kind's params: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Kind:
    name: str
    params: type[Params]
    run: Callable[[KindPorts, Job, Any], Any]
    description: str


def discover(package: str = __name__) -> dict[str, Kind]:
    """Every ``KIND`` defined by a module of ``package``, by name."""
    found: dict[str, Kind] = {}
    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, Kind):
            raise TypeError(f"{module.__name__} must define KIND = Kind(...)")
        if kind.name in found:
            raise ValueError(f"job kind {kind.name!r} is defined twice")
        found[kind.name] = kind
    return found
