"""Job and bid events to the users concerned (API.md, "Subscriptions and real time").

- ``{"event": "job.updated", "job": <job>}`` to the owner and the assignee on every change
  of status or assignment (and when a job is created: its first status, to the owner);
- ``{"event": "bid.updated", "bid": <bid>}`` to the job's owner when a bid arrives or is
  scored, and to the bidder when it is accepted or rejected.

Sent after the change is stored. A failure is logged and swallowed: a push never fails a
job transition or a request (the stored state is the truth; a client that missed an event
reads it again).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.domain.jobs import Bid, Job
    from shared.ports import RealtimePublisher

log = get_logger("app.jobs.events")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def jsonable(value: dict[str, Any]) -> dict[str, Any]:
    """A public body as JSON values (times ISO 8601 UTC with ``Z``, as the API answers)."""
    return dict(json.loads(json.dumps(value, default=_default)))


def _send(realtime: RealtimePublisher, user_id: str, message: dict[str, Any]) -> None:
    try:
        realtime.send_to_user(user_id, message)
    except Exception:  # a push never fails what it reports
        log.warning("real-time event not sent", exc_info=True,
                    extra={"event": message.get("event")})  # fmt: skip


def job_updated(realtime: RealtimePublisher | None, job: Job) -> None:
    if realtime is None:
        return  # not configured: nothing to build or send
    message = {"event": "job.updated", "job": jsonable(job.to_public())}
    for user_id in dict.fromkeys(u for u in (job.owner_id, job.assignee_id) if u):
        _send(realtime, user_id, message)


def bid_updated(realtime: RealtimePublisher | None, bid: Bid, user_id: str) -> None:
    if realtime is None:
        return
    _send(realtime, user_id, {"event": "bid.updated", "bid": jsonable(bid.to_public())})
