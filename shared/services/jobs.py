"""Jobs: create, list, edit, cancel, run through the ``jobs`` queue, retry, bid, accept.

Scheduling. Creating a job sends ``{"owner_id", "job_id", "dispatch_id", "snapshot"}`` to
``jobs``, invisible until the scheduled time when that is within a queue message's 7-day
limit; later jobs go to the due index, which ``enqueue_due_jobs`` sweeps. Editing the time
gives the job a new ``dispatch_id`` (and a new message), so the old message finds a
different id and does nothing; cancelling clears it.

Running (``process_job``). The message is checked against the stored job (exists, not
finished, same dispatch, due); then ``pending -> in-progress`` is written with the job's
ETag and a lease: of two deliveries, or of a start and a cancel, exactly one wins. The
message's ``snapshot`` is the job as it was stored when the message was sent (row and
ETag): the worker first tries the start write against that version without reading, and
reads the job only when that write is refused (it changed since: edited, cancelled, or
started by another delivery) or when the snapshot does not call for a start. The
handler runs with a time limit; success stores the result and completes the job; an
exception counts the attempt and re-dispatches with exponential backoff and jitter until
``JOB_MAX_ATTEMPTS``, then the job is ``failed`` with ``last_error``. A worker that dies
leaves its lease and an undeleted message; the message comes back, waits for the lease to
expire ("busy": put back until then) and the next worker takes the job over.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as HandlerTimeout
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from shared.auth import Principal
from shared.domain.errors import (
    ConcurrencyConflict,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from shared.domain.jobs import (
    FINISHED,
    MAX_QUEUE_DELAY,
    SCHEDULE_SKEW,
    STATUSES,
    Bid,
    Fee,
    Job,
    JobNotOpen,
    OwnJob,
    ResultNotReady,
    new_job_id,
    retry_delay,
    time_sortable_id,
)
from shared.logging import get_logger
from shared.ports import Versioned
from shared.services.job_kinds import run_kind, validate_params

if TYPE_CHECKING:
    from shared.container import Container

JOBS_QUEUE = "jobs"
SENTIMENT_QUEUE = "bid-sentiment"
_RETRIES = 5

log = get_logger("app.jobs")

Outcome = Literal["completed", "retry", "failed", "dropped", "rescheduled", "busy", "lost-race"]
Verdict = Literal["drop", "busy", "early", "start"]  # what a message should do with its job


@lru_cache(maxsize=1)
def _handler_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="job-handler")


def _dispatch(c: Container, found: Versioned[Job]) -> None:
    """Make sure a message will run the pending job ``found`` at its time (now, later, or
    via the due index). The message carries the job as stored (``snapshot``)."""
    job, now = found.value, c.clock.now()
    delay = job.scheduled_time - now
    if delay > MAX_QUEUE_DELAY:
        c.jobs.add_due(job)
        return
    seconds = max(0, math.ceil(delay.total_seconds()))
    body = _message(job, c.jobs.snapshot(found))
    c.queue(JOBS_QUEUE).send(body, visibility_timeout=seconds or None)


def _message(job: Job, snapshot: dict[str, str] | None = None) -> str:
    """The ``jobs`` queue message that runs ``job``'s current dispatch."""
    body: dict[str, Any] = {
        "owner_id": job.owner_id, "job_id": job.id, "dispatch_id": job.dispatch_id,
    }  # fmt: skip
    if snapshot is not None:
        body["snapshot"] = snapshot
    return json.dumps(body, separators=(",", ":"))


def _visible(c: Container, principal: Principal, job_id: str) -> Versioned[Job]:
    found = c.jobs.find(job_id)
    if found is None or not found.value.may_read(principal.user_id):
        raise NotFound("No such job")
    return found


def _owned(c: Container, principal: Principal, job_id: str) -> Versioned[Job]:
    found = _visible(c, principal, job_id)
    if found.value.owner_id != principal.user_id:
        raise Forbidden("Only the job's owner can do this")
    return found


def check_schedule(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if value < now - SCHEDULE_SKEW:
        raise ValidationFailed(
            "The scheduled time is in the past",
            errors=[FieldError("scheduled_time", "must not be in the past")],
        )
    return max(value, now)


# -- create, read, edit, cancel ------------------------------------------------------


def create(
    c: Container, principal: Principal, *, name: str, description: str, kind: str,
    params: dict[str, Any] | None, scheduled_time: datetime | None,
) -> Job:  # fmt: skip
    now = c.clock.now()
    job = Job(
        id=new_job_id(now, principal.user_id),
        owner_id=principal.user_id,
        name=name,
        description=description,
        kind=kind,
        params=validate_params(kind, params),
        status="pending",
        scheduled_time=check_schedule(scheduled_time, now),
        created_at=now,
        updated_at=now,
        max_attempts=c.settings.job_max_attempts,
    )
    etag = c.jobs.create(job)
    _dispatch(c, Versioned(job, etag))
    log.info("job created", extra={"job_id": job.id, "kind": kind})
    return job


def get(c: Container, principal: Principal, job_id: str) -> Job:
    return _visible(c, principal, job_id).value


def edit(c: Container, principal: Principal, job_id: str, changes: dict[str, Any]) -> Job:
    for _ in range(_RETRIES):
        found = _owned(c, principal, job_id)
        now = c.clock.now()
        values = dict(changes)
        if "params" in values:
            values["params"] = validate_params(found.value.kind, values["params"])
        if "scheduled_time" in values:
            values["scheduled_time"] = check_schedule(values["scheduled_time"], now)
        job = found.value.edited(now, **values)
        try:
            etag = c.jobs.save(job, found)
        except ConcurrencyConflict:
            continue
        if job.dispatch_id != found.value.dispatch_id:
            _dispatch(c, Versioned(job, etag))
        return job
    raise ConcurrencyConflict("job kept changing")


def cancel(c: Container, principal: Principal, job_id: str) -> Job:
    for _ in range(_RETRIES):
        found = _owned(c, principal, job_id)
        job = found.value.cancelled(c.clock.now())  # 409 job-not-cancellable unless pending
        try:
            c.jobs.save(job, found)
        except ConcurrencyConflict:
            continue  # the worker may just have started it: read again
        log.info("job cancelled", extra={"job_id": job_id})
        return job
    raise ConcurrencyConflict("job kept changing")


def result(c: Container, principal: Principal, job_id: str) -> dict[str, Any]:
    job = _visible(c, principal, job_id).value
    if principal.user_id not in (job.owner_id, job.assignee_id):
        raise NotFound("No such job")
    if job.result is None or job.status not in ("completed", "failed"):
        raise ResultNotReady(f"The job is {job.status}")
    return {
        "job_id": job.id,
        "output": job.result.output,
        "error_message": job.result.error_message,
        "completed_at": job.result.completed_at,
    }


def summary(c: Container, principal: Principal) -> dict[str, int]:
    counts = c.jobs.status_counts(principal.user_id)
    body: dict[str, int] = {status: counts.get(status, 0) for status in STATUSES}
    body["total"] = sum(body.values())
    return body


# -- the worker ------------------------------------------------------------------------


def process(c: Container, message: str) -> Outcome:
    """The ``jobs`` queue handler. Safe to run twice for one message."""
    data = json.loads(message)
    now = c.clock.now()
    dispatched = c.jobs.restore(data.get("snapshot"))
    if (
        dispatched is not None
        and (dispatched.value.owner_id, dispatched.value.id) == (data["owner_id"], data["job_id"])
        and _verdict(data, dispatched.value, now) == "start"
    ):
        running = _start(c, dispatched, now)
        if running is not None:
            return _run(c, running)
        # Refused: the job changed since the message was sent. Decide on what is stored.
    found = c.jobs.get(str(data["owner_id"]), str(data["job_id"]))
    if found is None:
        return "dropped"
    job = found.value
    verdict = _verdict(data, job, now)
    if verdict == "drop":
        return "dropped"  # cancelled, done, or superseded by a newer schedule
    if verdict == "busy":
        _send_later(c, job, job.lease_until or now)
        return "busy"  # another worker holds it; look again when its lease ends
    if verdict == "early":
        _dispatch(c, found)  # a longer wait than one message can hold
        return "rescheduled"
    running = _start(c, found, now)
    if running is None:
        return "lost-race"  # a cancel or another delivery won
    return _run(c, running)


def _verdict(data: dict[str, Any], job: Job, now: datetime) -> Verdict:
    """What a message for ``job`` should do: drop, busy, early or start."""
    if job.status in FINISHED or job.dispatch_id != data.get("dispatch_id"):
        return "drop"
    if job.status == "in-progress" and not job.lease_expired(now):
        return "busy"
    if job.scheduled_time - now > timedelta(seconds=1):
        return "early"
    return "start"


def _start(c: Container, found: Versioned[Job], now: datetime) -> Versioned[Job] | None:
    """``pending`` (or an expired lease) -> ``in-progress`` if ``found`` is still the stored
    version; None if it is not."""
    timeout = c.settings.job_timeout_seconds
    lease = timedelta(seconds=timeout + min(30, timeout))  # the limit plus time to record
    running = found.value.started(now, lease)
    try:
        etag = c.jobs.save(running, found)
    except ConcurrencyConflict:
        return None
    log.info("job started", extra={"job_id": running.id, "kind": running.kind,
                                   "attempt": running.attempts})  # fmt: skip
    return Versioned(running, etag)


def _run(c: Container, running: Versioned[Job]) -> Outcome:
    """Run the handler of the started job with the time limit and record what happened."""
    try:
        future = _handler_pool().submit(run_kind, c, running.value)
        output = future.result(timeout=c.settings.job_timeout_seconds)
        error = None
    except HandlerTimeout:
        output, error = None, f"timed out after {c.settings.job_timeout_seconds} s"
    except Exception as exc:  # noqa: BLE001 - a failing handler is a failed attempt
        output, error = None, f"{type(exc).__name__}: {exc}"[:1000]
    return _finish(c, running, output, error)


def _finish(c: Container, running: Versioned[Job], output: Any, error: str | None) -> Outcome:
    job, now = running.value, c.clock.now()
    if error is None:
        done = job.succeeded(now, output)
    else:
        delay = retry_delay(job.attempts, c.settings.job_retry_base_seconds)
        done = job.failed_attempt(now, error, now + delay)
    try:
        etag = c.jobs.save(done, running)
    except ConcurrencyConflict:
        log.warning("job result discarded: lease lost", extra={"job_id": job.id})
        return "lost-race"
    if done.status == "pending":
        _dispatch(c, Versioned(done, etag))
        log.warning("job attempt failed; retrying", extra={
            "job_id": job.id, "attempt": job.attempts, "error": error,
            "retry_at": done.scheduled_time.isoformat()})  # fmt: skip
        return "retry"
    if done.status == "failed":
        log.warning("job failed", extra={"job_id": job.id, "error": error})
        return "failed"
    log.info("job completed", extra={"job_id": job.id})
    return "completed"


def _send_later(c: Container, job: Job, when: datetime) -> None:
    seconds = max(1, math.ceil((when - c.clock.now()).total_seconds()) + 1)
    # No snapshot: the job is in progress, a message for it never starts it without a read.
    c.queue(JOBS_QUEUE).send(_message(job), visibility_timeout=min(seconds, 3600))


def enqueue_due(c: Container) -> dict[str, int]:
    """The ``enqueue_due_jobs`` timer: jobs from the due index into the queue when their
    time is within a queue message's reach. (A worker that dies mid-job needs no sweep:
    its message was never deleted, so the queue delivers it again and the expired lease
    lets the next worker take over.)"""
    now = c.clock.now()
    moved = 0
    for entry in c.jobs.due_before(now + MAX_QUEUE_DELAY):
        found = c.jobs.get(entry["owner_id"], entry["job_id"])
        if (
            found is not None
            and found.value.status == "pending"
            and (found.value.dispatch_id == entry["dispatch_id"])
        ):
            _dispatch(c, found)
            moved += 1
        c.jobs.remove_due(entry["RowKey"])
    return {"enqueued": moved}


# -- bids ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BidInput:
    comment: str
    proposed_deadline: Any
    fee_amount: Decimal
    fee_currency: str


def place_bid(c: Container, principal: Principal, job_id: str, bid: BidInput) -> Bid:
    # Not ``_visible``: someone who found the job while it was open learns that it closed
    # (409 job-not-open, as API.md says) instead of a puzzling 404.
    found = c.jobs.find(job_id)
    if found is None:
        raise NotFound("No such job")
    job = found.value
    if job.owner_id == principal.user_id:
        raise OwnJob("You cannot bid on your own job")
    if not job.is_open:
        raise JobNotOpen(f"The job is {job.status}")
    now = c.clock.now()
    if bid.proposed_deadline < now.date():
        raise ValidationFailed(
            "The proposed deadline is in the past",
            errors=[FieldError("proposed_deadline", "must be today or later")],
        )
    placed = Bid(
        id=time_sortable_id(now), job_id=job.id, bidder_id=principal.user_id,
        comment=bid.comment, proposed_deadline=bid.proposed_deadline,
        fee=Fee(bid.fee_amount, bid.fee_currency), status="open", created_at=now,
    )  # fmt: skip
    c.bids.add(placed)
    try:
        c.queue(SENTIMENT_QUEUE).send(json.dumps({"job_id": job.id, "bid_id": placed.id}))
    except Exception:
        log.exception("sentiment nudge not queued", extra={"bid_id": placed.id})
    return placed


def list_bids(c: Container, principal: Principal, job_id: str) -> list[Bid]:
    found = c.jobs.find(job_id)
    if found is None:
        raise NotFound("No such job")
    if found.value.owner_id == principal.user_id:
        return c.bids.list_for_job(job_id)
    own = c.bids.list_for_job(job_id, bidder_id=principal.user_id)
    if not own and not found.value.may_read(principal.user_id):
        raise NotFound("No such job")
    return own


def accept_bid(c: Container, principal: Principal, job_id: str, bid_id: str) -> Job:
    for _ in range(_RETRIES):
        found = _owned(c, principal, job_id)
        job = found.value
        if not job.is_open:
            raise JobNotOpen(f"The job is {job.status}" + (
                " and already assigned" if job.assignee_id else ""))  # fmt: skip
        bid = c.bids.get(job_id, bid_id)
        if bid is None:
            raise NotFound("No such bid")
        assigned = replace(job, assignee_id=bid.bidder_id, updated_at=c.clock.now())
        try:
            c.jobs.save(assigned, found)  # the ETag makes one of two accepts win
        except ConcurrencyConflict:
            continue
        c.bids.settle(job_id, bid_id)
        log.info("bid accepted", extra={"job_id": job_id, "bid_id": bid_id})
        return assigned
    raise ConcurrencyConflict("job kept changing")


def score_pending_sentiment(c: Container, limit: int = 50) -> int:
    """Score bid comments not yet scored, in batches of the analyzer's request limit.

    A whole-batch failure (the service is down) raises and leaves them pending for the
    next run; a per-document error is logged and the bid keeps ``sentiment: null``.
    """
    pending = c.bids.pending_sentiment(limit)
    scored = 0
    size = max(1, c.sentiment.max_batch)
    for start in range(0, len(pending), size):
        done: list[tuple[str, str]] = []
        to_score: list[tuple[str, str]] = []
        for job_id, bid_id in pending[start : start + size]:
            bid = c.bids.get(job_id, bid_id)
            if bid is None or bid.sentiment is not None:
                done.append((job_id, bid_id))  # gone, or scored by a concurrent run
            else:
                to_score.append((f"{job_id}|{bid_id}", bid.comment))
        if to_score:
            for outcome in c.sentiment.analyze(to_score):
                job_id, bid_id = outcome.id.split("|", 1)
                if outcome.sentiment is None:
                    log.warning("comment not scored", extra={"bid_id": bid_id,
                                                             "error": outcome.error})  # fmt: skip
                else:
                    c.bids.set_sentiment(job_id, bid_id, outcome.sentiment.to_dict())
                    scored += 1
                done.append((job_id, bid_id))
        c.bids.clear_pending(done)
    return scored
