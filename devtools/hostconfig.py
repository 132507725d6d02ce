"""What ``func start`` reads before it loads an app: ``local.settings.json`` and ``host.json``.

- ``local.settings.json`` "Values" become environment variables; a variable already set
  in the environment wins (as with Core Tools).
- ``host.json`` gives the route prefix, the queue extension settings and the function
  timeout; app settings named ``AzureFunctionsJobHost__path__to__key`` override it, as
  they do in Azure.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


class ConfigError(Exception):
    """A settings or host file the host cannot start with; the message says what to do."""


def load_local_settings(path: Path) -> dict[str, Any]:
    """Read and check ``local.settings.json``; raise ConfigError with a helpful message."""
    if not path.is_file():
        raise ConfigError(
            f"{path} not found. Create it from local.settings.example.json "
            "(`make local.settings.json` does, with a fresh signing key)."
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a JSON object with a 'Values' object")
    if document.get("IsEncrypted"):
        raise ConfigError(
            f"{path} is encrypted (IsEncrypted: true); this host reads plain settings only. "
            "Run `func settings decrypt` where Core Tools exist, or recreate the file."
        )
    values = document.get("Values", {})
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: 'Values' must be an object of setting names to strings")
    bad = [k for k, v in values.items() if not isinstance(v, (str, int, float, bool))]
    if bad:
        raise ConfigError(f"{path}: settings {', '.join(sorted(bad))} must be strings")
    host = document.get("Host", {})
    if not isinstance(host, dict):
        raise ConfigError(f"{path}: 'Host' must be an object")
    return document


def apply_settings(values: Mapping[str, Any], environ: MutableMapping[str, str]) -> list[str]:
    """Copy settings into the environment unless already set; return the names applied."""
    applied = []
    for name, value in values.items():
        if name in environ:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        environ[name] = text
        applied.append(name)
    return applied


def parse_timespan(value: str | int | float) -> float:
    """``00:00:02``, ``00:00:00.500``, ``1.00:00:00`` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(
        r"(?:(?P<d>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:\.\d+)?)", value.strip()
    )
    if not match:
        raise ConfigError(f"{value!r} is not a TimeSpan (hh:mm:ss)")
    return (
        int(match["d"] or 0) * 86400
        + int(match["h"]) * 3600
        + int(match["m"]) * 60
        + float(match["s"])
    )


def _apply_overrides(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``AzureFunctionsJobHost__extensions__queues__batchSize=4`` sets that key (any case)."""
    for name, value in environ.items():
        if not name.lower().startswith(OVERRIDE_PREFIX.lower()):
            continue
        path = [part for part in name[len(OVERRIDE_PREFIX) :].split("__") if part]
        node = document
        for part in path[:-1]:
            key = next((k for k in node if k.lower() == part.lower()), part)
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        if path:
            key = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
            node[key] = value


def _get(node: Mapping[str, Any], *path: str, default: Any = None) -> Any:
    for part in path:
        if not isinstance(node, Mapping):
            return default
        key = next((k for k in node if k.lower() == part.lower()), None)
        if key is None:
            return default
        node = node[key]
    return node


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HttpLimits:
    """``extensions.http`` limits, applied as the host's HttpThrottleMiddleware does
    (azure-webjobs-sdk-extensions, Middleware/HttpThrottleMiddleware.cs): a queue in
    front of the functions runs at most ``max_concurrent_requests`` at once and holds
    the rest, waiting; only when ``max_outstanding_requests`` is set (running plus
    waiting) is a request beyond it refused, with 429. -1 is unbounded (the default
    outside the Consumption plan and under ``func start``)."""

    max_concurrent_requests: int = -1
    max_outstanding_requests: int = -1


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    function_timeout: float = 300.0
    queues: QueueOptions = QueueOptions()
    http: HttpLimits = HttpLimits()


def load_host_config(path: Path, environ: Mapping[str, str] | None = None) -> HostConfig:
    """Read host.json (defaults when absent) with the environment's overrides applied."""
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    _apply_overrides(document, os.environ if environ is None else environ)
    queues = _get(document, "extensions", "queues", default={}) or {}
    defaults = QueueOptions()
    try:
        batch_size = int(_get(queues, "batchSize", default=defaults.batch_size))
        options = QueueOptions(
            batch_size=batch_size,
            new_batch_threshold=int(_get(queues, "newBatchThreshold", default=batch_size // 2)),
            max_dequeue_count=int(
                _get(queues, "maxDequeueCount", default=defaults.max_dequeue_count)
            ),
            max_polling_interval=parse_timespan(
                _get(queues, "maxPollingInterval", default=defaults.max_polling_interval)
            ),
            visibility_timeout=parse_timespan(
                _get(queues, "visibilityTimeout", default=defaults.visibility_timeout)
            ),
            message_encoding=str(
                _get(queues, "messageEncoding", default=defaults.message_encoding)
            ).lower(),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid queue settings: {exc}") from exc
    if not 1 <= options.batch_size <= 32:
        raise ConfigError(f"{path}: queues.batchSize must be 1..32 (the Storage maximum)")
    if options.new_batch_threshold < 0:
        raise ConfigError(f"{path}: queues.newBatchThreshold must not be negative")
    if options.max_dequeue_count < 1:
        raise ConfigError(f"{path}: queues.maxDequeueCount must be at least 1")
    if options.message_encoding not in {"base64", "none"}:
        raise ConfigError(f"{path}: queues.messageEncoding must be 'base64' or 'none'")
    prefix = _get(document, "extensions", "http", "routePrefix", default="api")
    timeout = _get(document, "functionTimeout", default="00:05:00")
    try:
        limits = HttpLimits(
            max_concurrent_requests=int(
                _get(document, "extensions", "http", "maxConcurrentRequests", default=-1)
            ),
            max_outstanding_requests=int(
                _get(document, "extensions", "http", "maxOutstandingRequests", default=-1)
            ),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid http settings: {exc}") from exc
    for name, value in vars(limits).items():
        if value == 0 or value < -1:
            raise ConfigError(f"{path}: http {name} must be -1 (unbounded) or at least 1")
    return HostConfig(
        route_prefix=str(prefix).strip("/"),
        function_timeout=parse_timespan(timeout) if timeout not in (None, "-1") else 3600.0,
        queues=options,
        http=limits,
    )
