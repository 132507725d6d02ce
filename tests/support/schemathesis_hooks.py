"""Schemathesis hooks for fuzzing this API (loaded through ``schemathesis.toml``).

One rule of the API cannot be written in JSON Schema: times relative to now (a job's
``scheduled_time`` must be neither past nor more than 366 days ahead, a bid's
``proposed_deadline`` not past). A generated value that is well formed but outside that
window is moved into it, so that "schema-valid request rejected" keeps meaning what it
says. Anything else is left as generated
(malformed values included: those are for the negative checks).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import schemathesis

_FUTURE_TIMES = {"create_job": "scheduled_time", "edit_job": "scheduled_time"}
_FUTURE_DATES = {"place_bid": "proposed_deadline"}


def _future_time(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    now = datetime.now(UTC)
    if parsed.tzinfo is None or now + timedelta(minutes=5) < parsed < now + timedelta(days=300):
        return value
    moved = datetime.now(parsed.tzinfo) + timedelta(days=1)
    return moved.isoformat()


def _future_date(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return value
    today = datetime.now(UTC).date()
    return (today + timedelta(days=2)).isoformat() if parsed <= today + timedelta(days=1) else value


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    operation_id = case.operation.definition.raw.get("operationId")
    body = case.body
    if isinstance(body, dict):  # a generated body may be anything: only objects are touched
        if operation_id in _FUTURE_TIMES and _FUTURE_TIMES[operation_id] in body:
            field = _FUTURE_TIMES[operation_id]
            body[field] = _future_time(body[field])
        if operation_id in _FUTURE_DATES and _FUTURE_DATES[operation_id] in body:
            field = _FUTURE_DATES[operation_id]
            body[field] = _future_date(body[field])
    return case
