"""Job kinds, one module each.

A kind is a module in this package that defines ``KIND``: a name, a pydantic model for its
``params`` (validated when the job is created, so a bad job is a 400, not a failure hours
later) and a function that does the work and returns a JSON-able output. Adding a kind is
adding a module here; ``shared.services.job_kinds`` finds them all.

A handler raises to fail the attempt (the job is retried with backoff); it must not catch
everything and return an error as output. It imports SDKs through the container, never at
module level (every kind module is imported at start).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from shared.container import Container
    from shared.domain.jobs import Job


class Params(BaseModel):
    """Base of every kind's params: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Kind:
    name: str
    params: type[Params]
    run: Callable[[Container, Job, Any], Any]
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
