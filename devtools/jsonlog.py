"""JSON-lines logging for the local host: one object per record, on stdout.

Every record written while an invocation runs carries ``function`` and ``invocation_id``
(as the Python worker attaches them in Azure); anything passed with ``extra=`` or set by
an app's own logging filter (request id, user id) is kept as a field.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

current_function: ContextVar[str | None] = ContextVar("host_function", default=None)
current_invocation: ContextVar[str | None] = ContextVar("host_invocation", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()) | {
    "message",
    "asctime",
    "taskName",
}


class InvocationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "function", None) is None:
            record.function = current_function.get()
        if getattr(record, "invocation_id", None) is None:
            record.invocation_id = current_invocation.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, then context and extras; ``exception`` when raised."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRS or key.startswith("_") or value is None:
                continue
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the root logger to one JSON line per record; quiet the SDKs' chatter."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(InvocationFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
