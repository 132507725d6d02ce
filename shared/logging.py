"""Logging with request context.

Context (request id, function name, invocation id, user id) lives in context variables,
so every log line written while serving one request or one invocation carries it,
including lines from threads of a thread pool that copied the context. In Azure the
Python worker ships records (with these attributes as custom dimensions) to Application
Insights; locally ``devtools.jsonlog`` writes them as JSON lines.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
function_name_var: ContextVar[str | None] = ContextVar("function_name", default=None)
invocation_id_var: ContextVar[str | None] = ContextVar("invocation_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)

_CONTEXT_VARS = {
    "request_id": request_id_var,
    "function": function_name_var,
    "invocation_id": invocation_id_var,
    "user_id": user_id_var,
}


class ContextFilter(logging.Filter):
    """Copies the context variables onto each record (as attributes, for any formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT_VARS.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


def get_logger(name: str) -> logging.Logger:
    """A logger whose records carry the request context wherever they are handled."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, ContextFilter) for f in logger.filters):
        logger.addFilter(ContextFilter())
    return logger
