"""Jobs: create, list, edit, cancel, run through the ``jobs`` queue, retry, bid, accept.

Scheduling. Creating a job sends ``{"owner_id", "job_id", "dispatch_id", "snapshot"}`` to
``jobs``, invisible until the scheduled time when that is within a queue message's 7-day
limit; later jobs go to the due index, which ``enqueue_due_jobs`` sweeps. Editing the time
gives the job a new ``dispatch_id`` (and a new message), so the old message finds a
different id and does nothing; cancelling clears it.

Lost messages. Before a job (or a new dispatch of it) is written, its dispatch row records
that it must have started by its time plus ``DISPATCH_GRACE`` (the same row is the job's
entry in the open list). Starting writes nothing there. The sweep (``redispatch_lost``, on
the ``enqueue_due_jobs`` timer) reads the rows past their time, asks each owner's list
rows which jobs are still pending with that dispatch, sends their message again with the
same dispatch id, and deletes the other rows in batches: whichever of two messages comes
first starts the job, the other finds it started. So a send that fails, or a process
that dies between the write and the send, costs a delay, never the job.

Running (``process``). The message is checked against the stored job (exists, not
finished, same dispatch, due); then ``pending -> in-progress`` is written with the job's
ETag and a lease: of two deliveries, or of a start and a cancel, exactly one wins. The
message's ``snapshot`` is the job as it was stored when the message was sent (row and
ETag): the worker first tries the start write against that version without reading, and
reads the job only when that write is refused (it changed since: edited, cancelled, or
started by another delivery) or when the snapshot does not call for a start. The
handler runs with a time limit; success stores the result (a large output in a blob) and
completes the job; an exception counts the attempt and re-dispatches with exponential
backoff and jitter until ``JOB_MAX_ATTEMPTS``, then the job is ``failed`` with a short
``last_error`` that names what failed, never the exception's text (that goes to the log
line, with the invocation id). A result that cannot be stored fails the job at once. A
worker that dies leaves its lease and an undeleted message; the message comes back,
waits for the lease to expire ("busy": put back until then) and the next worker takes
the job over, unless the job has no attempts left: then it is failed.

Bid sentiment. Each comment is queued in ``bidsentiment``; a scoring run claims up to 10
of them at once with one ETag-guarded transaction (so concurrent runs never score the
same comment) and sends them in one request. A run scores a batch when it is full or its
oldest comment has waited ``SENTIMENT_BATCH_WAIT``; otherwise it leaves a nudge for then.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal

from shared import telemetry
from shared.auth import Principal
from shared.domain.errors import (
    ConcurrencyConflict,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from shared.domain.jobs import (
    DISPATCH_GRACE,
    ERROR_MAX_CHARS,
    FINISHED,
    MAX_QUEUE_DELAY,
    MAX_SCHEDULE_AHEAD,
    OUTPUT_INLINE_MAX_UNITS,
    OUTPUT_MAX_BYTES,
    SCHEDULE_SKEW,
    STATUSES,
    Bid,
    Fee,
    Job,
    JobNotOpen,
    JobNotStorable,
    OwnJob,
    PendingComment,
    ResultNotReady,
    compact_json,
    new_job_id,
    owner_in_job_id,
    retry_delay,
    time_sortable_id,
    utf16_units,
)
from shared.logging import get_logger
from shared.ports import (
    BidRepository,
    Clock,
    JobRepository,
    MessageQueue,
    RealtimePublisher,
    Versioned,
)
from shared.queues import JOBS_QUEUE as JOBS_QUEUE  # re-exported
from shared.queues import SENTIMENT_QUEUE as SENTIMENT_QUEUE
from shared.services.job_events import bid_updated, job_updated
from shared.services.job_kinds import KindFailed, KindPorts, run_kind, validate_params

# A scoring run waits this long for a batch to fill before it scores a part of one.
SENTIMENT_BATCH_WAIT = timedelta(seconds=2)
SENTIMENT_CLAIM = timedelta(seconds=60)  # a run that dies frees its comments after this
_RETRIES = 5

log = get_logger("app.jobs")

Outcome = Literal["completed", "retry", "failed", "dropped", "rescheduled", "busy", "lost-race"]
# What a message should do with its job.
Verdict = Literal["drop", "busy", "early", "start", "exhausted"]


@lru_cache(maxsize=1)
def _handler_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="job-handler")


def _message(job: Job, snapshot: dict[str, str] | None = None) -> str:
    """The ``jobs`` queue message that runs ``job``'s current dispatch."""
    body: dict[str, Any] = {
        "owner_id": job.owner_id, "job_id": job.id, "dispatch_id": job.dispatch_id,
    }  # fmt: skip
    if snapshot is not None:
        body["snapshot"] = snapshot
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def check_schedule(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        too_late = value - now > MAX_SCHEDULE_AHEAD
        too_early = value < now - SCHEDULE_SKEW
    except OverflowError:  # an offset that pushes a time beyond year 9999
        too_late, too_early = True, False
    if too_early:
        raise ValidationFailed(
            "The scheduled time is in the past",
            errors=[FieldError("scheduled_time", "must not be in the past")],
        )
    if too_late:
        raise ValidationFailed(
            "The scheduled time is too far ahead",
            errors=[FieldError("scheduled_time",
                               f"must be within {MAX_SCHEDULE_AHEAD.days} days from now")],
        )  # fmt: skip
    return max(value, now)


class _Unstorable(Exception):
    """The handler's output cannot be kept: the job fails at once with this message."""


def _failure_message(exc: BaseException, *, timed_out: bool, timeout_seconds: int) -> str:
    """What the job's owner sees of a failed attempt: what failed, never the details."""
    if timed_out:  # the limit ran out (a TimeoutError raised by the handler is not this)
        return f"the job's handler timed out after {timeout_seconds} s"
    if isinstance(exc, KindFailed):
        return f"the job's handler failed: {exc}"[:ERROR_MAX_CHARS]
    return f"the job's handler failed ({type(exc).__name__})"


@dataclass(frozen=True)
class BidInput:
    comment: str
    proposed_deadline: Any
    fee_amount: Decimal
    fee_currency: str


@dataclass
class JobService:
    jobs: JobRepository
    bids: BidRepository
    job_queue: MessageQueue
    sentiment_queue: MessageQueue
    kinds: KindPorts
    clock: Clock
    max_attempts: int = 3
    retry_base_seconds: float = 30
    timeout_seconds: int = 120
    # job.updated / bid.updated pushes (shared/services/job_events.py); None: none.
    realtime: RealtimePublisher | None = None

    # -- dispatch ----------------------------------------------------------------------

    def _far(self, job: Job) -> bool:
        return job.scheduled_time - self.clock.now() > MAX_QUEUE_DELAY

    def _prepare(self, job: Job) -> None:
        """Before a pending job with a new dispatch is written: record the dispatch so that
        it runs even if its message never arrives (its dispatch row, also its entry in the
        open list; far jobs in the due index as well)."""
        if self._far(job):
            self.jobs.add_due(job)
        self.jobs.watch(job)

    def _forget(self, job: Job) -> None:
        """A dispatch row written for a job write that failed: not in the open list."""
        try:
            self.jobs.unwatch(job)
        except Exception:
            log.warning("dispatch row not removed", exc_info=True, extra={"job_id": job.id})

    def _send(self, found: Versioned[Job]) -> None:
        """Send the message that runs ``found`` at its time (it is near enough). A failure
        is logged, not raised: the job is written and watched, the sweep sends it again."""
        job = found.value
        seconds = max(0, math.ceil((job.scheduled_time - self.clock.now()).total_seconds()))
        try:
            self.job_queue.send(
                _message(job, self.jobs.snapshot(found)), visibility_timeout=seconds or None
            )
        except Exception:
            log.exception("job message not sent; the dispatch sweep will send it",
                          extra={"job_id": job.id})  # fmt: skip

    def _dispatch(self, found: Versioned[Job]) -> None:
        """Make sure a message will run the (already indexed) pending job at its time."""
        if self._far(found.value):
            self.jobs.add_due(found.value)
        else:
            self._send(found)

    # -- create, read, edit, cancel ----------------------------------------------------

    def _visible(self, principal: Principal, job_id: str) -> Versioned[Job]:
        found = self.jobs.find(job_id)
        if found is None or not found.value.may_read(principal.user_id):
            raise NotFound("No such job")
        return found

    def _owned(self, principal: Principal, job_id: str) -> Versioned[Job]:
        found = self._visible(principal, job_id)
        if found.value.owner_id != principal.user_id:
            raise Forbidden("Only the job's owner can do this")
        return found

    def create(
        self, principal: Principal, *, name: str, description: str, kind: str,
        params: dict[str, Any] | None, scheduled_time: datetime | None,
    ) -> Job:  # fmt: skip
        now = self.clock.now()
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
            max_attempts=self.max_attempts,
        )
        self._prepare(job)
        try:
            etag = self.jobs.create(job)
        except Exception:
            self._forget(job)
            raise
        if not self._far(job):
            self._send(Versioned(job, etag))
        job_updated(self.realtime, job)
        log.info("job created", extra={"job_id": job.id, "kind": kind})
        return job

    def get(self, principal: Principal, job_id: str) -> Job:
        return self._visible(principal, job_id).value

    def edit(self, principal: Principal, job_id: str, changes: dict[str, Any]) -> Job:
        for _ in range(_RETRIES):
            found = self._owned(principal, job_id)
            now = self.clock.now()
            values = dict(changes)
            if "params" in values:
                values["params"] = validate_params(found.value.kind, values["params"])
            if "scheduled_time" in values:
                values["scheduled_time"] = check_schedule(values["scheduled_time"], now)
            job = found.value.edited(now, **values)
            redispatch = job.dispatch_id != found.value.dispatch_id
            if redispatch:
                self._prepare(job)
            try:
                etag = self.jobs.save(job, found)
            except ConcurrencyConflict:
                if redispatch:
                    self._forget(job)
                continue
            if redispatch and not self._far(job):
                self._send(Versioned(job, etag))
            return job
        raise ConcurrencyConflict("job kept changing")

    def cancel(self, principal: Principal, job_id: str) -> Job:
        for _ in range(_RETRIES):
            found = self._owned(principal, job_id)
            job = found.value.cancelled(self.clock.now())  # 409 unless pending
            try:
                self.jobs.save(job, found)
            except ConcurrencyConflict:
                continue  # the worker may just have started it: read again
            job_updated(self.realtime, job)
            log.info("job cancelled", extra={"job_id": job_id})
            return job
        raise ConcurrencyConflict("job kept changing")

    def result(self, principal: Principal, job_id: str) -> dict[str, Any]:
        job = self._visible(principal, job_id).value
        if principal.user_id not in (job.owner_id, job.assignee_id):
            raise NotFound("No such job")
        if job.result is None or job.status not in ("completed", "failed"):
            raise ResultNotReady(f"The job is {job.status}")
        output = job.result.output
        if job.result.output_ref:
            output = json.loads(self.kinds.outputs.get(job.result.output_ref))
        return {
            "job_id": job.id,
            "output": output,
            "error_message": job.result.error_message,
            "completed_at": job.result.completed_at,
        }

    def summary(self, principal: Principal) -> dict[str, int]:
        counts = self.jobs.status_counts(principal.user_id)
        body: dict[str, int] = {status: counts.get(status, 0) for status in STATUSES}
        body["total"] = sum(body.values())
        return body

    # -- the worker --------------------------------------------------------------------

    def process(self, message: str) -> Outcome:
        """The ``jobs`` queue handler. Safe to run twice for one message."""
        data = json.loads(message)
        telemetry.annotate(job_id=str(data.get("job_id")), user_id=str(data.get("owner_id")))
        now = self.clock.now()
        dispatched = self.jobs.restore(data.get("snapshot"))
        if (
            dispatched is not None
            and (dispatched.value.owner_id, dispatched.value.id)
            == (data["owner_id"], data["job_id"])
            and self._verdict(data, dispatched.value, now) == "start"
        ):
            running = self._start(dispatched, now)
            if running is not None:
                return self._run(running)
            # Refused: the job changed since the message was sent. Decide on what is stored.
        found = self.jobs.get(str(data["owner_id"]), str(data["job_id"]))
        if found is None:
            return "dropped"
        job = found.value
        verdict = self._verdict(data, job, now)
        if verdict == "drop":
            return "dropped"  # cancelled, done, or superseded by a newer schedule
        if verdict == "busy":
            self._send_later(job, job.lease_until or now)
            return "busy"  # another worker holds it; look again when its lease ends
        if verdict == "early":
            self._dispatch(found)  # a longer wait than one message can hold
            return "rescheduled"
        if verdict == "exhausted":
            return self._give_up(found, "the job's worker stopped before it finished")
        running = self._start(found, now)
        if running is None:
            return "lost-race"  # a cancel or another delivery won
        return self._run(running)

    @staticmethod
    def _verdict(data: dict[str, Any], job: Job, now: datetime) -> Verdict:
        """What a message for ``job`` should do."""
        if job.status in FINISHED or job.dispatch_id != data.get("dispatch_id"):
            return "drop"
        if job.status == "in-progress":
            if not job.lease_expired(now):
                return "busy"
            if job.out_of_attempts:
                return "exhausted"  # every attempt started and none finished: stop here
        if job.scheduled_time - now > timedelta(seconds=1):
            return "early"
        return "start"

    def _start(self, found: Versioned[Job], now: datetime) -> Versioned[Job] | None:
        """``pending`` (or an expired lease) -> ``in-progress`` if ``found`` is still the
        stored version; None if it is not."""
        timeout = self.timeout_seconds
        lease = timedelta(seconds=timeout + min(30, timeout))  # the limit plus time to record
        running = found.value.started(now, lease)
        try:
            etag = self.jobs.save(running, found)
        except ConcurrencyConflict:
            return None
        job_updated(self.realtime, running)
        log.info("job started", extra={"job_id": running.id, "kind": running.kind,
                                       "attempt": running.attempts})  # fmt: skip
        telemetry.count("jobs.started", kind=running.kind)
        # Its dispatch row stays: the sweep deletes it, 100 to a transaction.
        return Versioned(running, etag)

    def _run(self, running: Versioned[Job]) -> Outcome:
        """Run the handler of the started job with the time limit and record what happened."""
        job = running.value
        future = _handler_pool().submit(run_kind, self.kinds, job)
        try:
            output = future.result(timeout=self.timeout_seconds)
        except Exception as exc:  # a failing handler is a failed attempt
            error = _failure_message(exc, timed_out=not future.done(),
                                     timeout_seconds=self.timeout_seconds)  # fmt: skip
            log.warning("job attempt failed: %s", error, exc_info=exc, extra={
                "job_id": job.id, "kind": job.kind, "attempt": job.attempts})  # fmt: skip
            return self._finish(running, None, error)
        try:
            inline, reference = self._keep(job, output)
        except _Unstorable as exc:
            return self._give_up(running, str(exc))
        except Exception as exc:  # the blob store failed: a failed attempt
            log.warning("job output not stored", exc_info=exc, extra={"job_id": job.id})
            return self._finish(running, None, f"could not store the result ({type(exc).__name__})")
        return self._finish(running, inline, None, reference)

    def _keep(self, job: Job, output: Any) -> tuple[Any, str | None]:
        """The output to keep in the row, or None and the blob it was written to."""
        try:
            text = compact_json(output)
        except (TypeError, ValueError) as exc:
            raise _Unstorable("could not store the result: output is not JSON") from exc
        if utf16_units(text) <= OUTPUT_INLINE_MAX_UNITS:
            return output, None
        data = text.encode("utf-8")
        if len(data) > OUTPUT_MAX_BYTES:
            raise _Unstorable("could not store the result: output too large")
        name = f"results/{job.owner_id}/{job.id}.json"
        return None, self.kinds.outputs.put(name, data, "application/json")

    def _finish(
        self, running: Versioned[Job], output: Any, error: str | None,
        output_ref: str | None = None,
    ) -> Outcome:  # fmt: skip
        job, now = running.value, self.clock.now()
        if error is None:
            done = job.succeeded(now, output, output_ref)
        else:
            delay = retry_delay(job.attempts, self.retry_base_seconds)
            done = job.failed_attempt(now, error, now + delay)
        if done.status == "pending":
            self._prepare(done)
        try:
            etag = self.jobs.save(done, running)
        except ConcurrencyConflict:
            log.warning("job result discarded: lease lost", extra={"job_id": job.id})
            return "lost-race"
        except JobNotStorable:
            log.exception("job row refused by storage", extra={"job_id": job.id})
            return self._give_up(running, "could not store the result")
        job_updated(self.realtime, done)
        if done.status == "pending":
            if not self._far(done):
                self._send(Versioned(done, etag))
            log.warning("job attempt failed; retrying", extra={
                "job_id": job.id, "attempt": job.attempts, "error": error,
                "retry_at": done.scheduled_time.isoformat()})  # fmt: skip
            telemetry.count("jobs.retried", kind=job.kind)
            return "retry"
        if done.status == "failed":
            log.warning("job failed", extra={"job_id": job.id, "error": error})
            telemetry.count("jobs.failed", kind=job.kind)
            return "failed"
        log.info("job completed", extra={"job_id": job.id})
        telemetry.count("jobs.completed", kind=job.kind)
        return "completed"

    def _give_up(self, found: Versioned[Job], error: str) -> Outcome:
        """Fail the job for good (guarded by its ETag like every transition)."""
        failed = found.value.given_up(self.clock.now(), error)
        try:
            self.jobs.save(failed, found)
        except ConcurrencyConflict:
            return "lost-race"
        job_updated(self.realtime, failed)
        log.warning("job failed", extra={"job_id": found.value.id, "error": error})
        telemetry.count("jobs.failed", kind=found.value.kind)
        return "failed"

    def _send_later(self, job: Job, when: datetime) -> None:
        seconds = max(1, math.ceil((when - self.clock.now()).total_seconds()) + 1)
        # No snapshot: the job is in progress, a message for it never starts it without a read.
        self.job_queue.send(_message(job), visibility_timeout=min(seconds, 3600))

    # -- sweeps (the ``enqueue_due_jobs`` timer) ----------------------------------------

    def enqueue_due(self) -> dict[str, int]:
        """Jobs from the due index into the queue when their time is within a queue
        message's reach. (A worker that dies mid-job needs no sweep: its message was never
        deleted, so the queue delivers it again and the expired lease lets the next worker
        take over.)"""
        now = self.clock.now()
        moved = 0
        for entry in self.jobs.due_before(now + MAX_QUEUE_DELAY):
            found = self.jobs.get(entry["owner_id"], entry["job_id"])
            if (
                found is not None
                and found.value.status == "pending"
                and (found.value.dispatch_id == entry["dispatch_id"])
            ):
                self.jobs.watch(found.value)
                self._send(found)
                moved += 1
            self.jobs.remove_due(entry["RowKey"])
        return {"enqueued": moved}

    def redispatch_lost(self, rounds: int = 20) -> dict[str, int]:
        """Send again the message of every pending job not started ``DISPATCH_GRACE``
        after its time (its message may be lost). Same dispatch id: if the first message
        turns up after all, one of the two starts the job and the other finds it started.
        The dispatch rows of every other job (started, cancelled, re-dispatched) are
        deleted, 100 to a transaction; one range query per owner tells which is which."""
        now = self.clock.now()
        resent = dropped = 0
        for _ in range(rounds):
            entries = self.jobs.overdue(now)
            if not entries:
                break
            by_owner: dict[str, list[dict[str, Any]]] = {}
            for entry in entries:
                by_owner.setdefault(str(entry["owner_id"]), []).append(entry)
            done: list[str] = []
            for owner, group in by_owner.items():
                pending = self.jobs.still_pending(owner, group)
                for entry in group:
                    if entry["RowKey"] not in pending:
                        done.append(entry["RowKey"])
                        continue
                    self._resend(owner, str(entry["job_id"]), str(entry["dispatch_id"]))
                    self.jobs.recheck_later(entry["RowKey"], now + DISPATCH_GRACE)
                    resent += 1
            self.jobs.drop_watches(done)
            dropped += len(done)
        return {"resent": resent, "dropped": dropped}

    def _resend(self, owner_id: str, job_id: str, dispatch_id: str) -> None:
        body = {"owner_id": owner_id, "job_id": job_id, "dispatch_id": dispatch_id}
        try:
            self.job_queue.send(json.dumps(body, separators=(",", ":")))
        except Exception:
            log.exception("job message not sent again", extra={"job_id": job_id})
            return
        log.warning("job message sent again: not started in time", extra={"job_id": job_id})

    # -- bids --------------------------------------------------------------------------

    def place_bid(self, principal: Principal, job_id: str, bid: BidInput) -> Bid:
        # Not ``_visible``: someone who found the job while it was open learns that it
        # closed (409 job-not-open, as API.md says) instead of a puzzling 404.
        found = self.jobs.find(job_id)
        if found is None:
            raise NotFound("No such job")
        job = found.value
        if job.owner_id == principal.user_id:
            raise OwnJob("You cannot bid on your own job")
        if not job.is_open:
            raise JobNotOpen(f"The job is {job.status}")
        now = self.clock.now()
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
        self.bids.add(placed, now)
        bid_updated(self.realtime, placed, job.owner_id)
        try:  # scored once the batch has had time to fill (the timer scores leftovers)
            self.sentiment_queue.send(
                json.dumps({"job_id": job.id, "bid_id": placed.id}),
                visibility_timeout=math.ceil(SENTIMENT_BATCH_WAIT.total_seconds()),
            )
        except Exception:
            log.exception("sentiment nudge not queued", extra={"bid_id": placed.id})
        return placed

    def list_bids(
        self, principal: Principal, job_id: str, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[Bid], str | None]:
        found = self.jobs.find(job_id)
        if found is None:
            raise NotFound("No such job")
        assignee = found.value.assignee_id
        if found.value.owner_id == principal.user_id:
            bids, next_cursor = self.bids.page_for_job(job_id, None, limit, cursor)
            return [b.settled_by(assignee) for b in bids], next_cursor
        own, next_cursor = self.bids.page_for_job(job_id, principal.user_id, limit, cursor)
        if not own and cursor is None and not found.value.may_read(principal.user_id):
            raise NotFound("No such job")
        return [b.settled_by(assignee) for b in own], next_cursor

    def accept_bid(self, principal: Principal, job_id: str, bid_id: str) -> Job:
        """The job gets the bidder as assignee (ETag-guarded: one of two accepts wins) and
        the bid is marked accepted: two writes, whatever the number of bids. The others
        read as rejected from then on (``Bid.settled_by``); their bidders are told by
        the queue (``announce_rejections``), not inside this request."""
        for _ in range(_RETRIES):
            found = self._owned(principal, job_id)
            job = found.value
            if not job.is_open:
                raise JobNotOpen(f"The job is {job.status}" + (
                    " and already assigned" if job.assignee_id else ""))  # fmt: skip
            bid = self.bids.get(job_id, bid_id)
            if bid is None:
                raise NotFound("No such bid")
            assigned = replace(job, assignee_id=bid.bidder_id, updated_at=self.clock.now())
            try:
                self.jobs.save(assigned, found)  # the ETag makes one of two accepts win
            except ConcurrencyConflict:
                continue
            try:
                self.bids.accept(job_id, bid_id)
            except Exception:  # the assignment decides; the stored status is a convenience
                log.exception("accepted bid not marked", extra={"bid_id": bid_id})
            job_updated(self.realtime, assigned)
            bid_updated(self.realtime, bid.settled_by(assigned.assignee_id), bid.bidder_id)
            try:
                self.sentiment_queue.send(json.dumps({"settled_job_id": job_id}))
            except Exception:  # the verdict is in the listing either way; only the push is lost
                log.exception("rejections not queued", extra={"job_id": job_id})
            log.info("bid accepted", extra={"job_id": job_id, "bid_id": bid_id})
            return assigned
        raise ConcurrencyConflict("job kept changing")

    def handle_bid_message(self, body: str) -> None:
        """A message of the ``bidsentiment`` queue: a new bid's nudge to score comments, or
        an accepted job's note to tell the other bidders (one queue, so that no further
        function group, and no further always-ready instance, is needed)."""
        try:
            message = json.loads(body)
        except ValueError:
            message = {}
        job_id = message.get("settled_job_id") if isinstance(message, dict) else None
        if isinstance(job_id, str) and job_id:
            self.announce_rejections(job_id)
        else:
            self.score_pending_sentiment()

    def announce_rejections(self, job_id: str) -> int:
        """bid.updated ``rejected`` to every bidder but the assignee, a page at a time; a
        message delivered twice tells them twice (an event carries state, not a change)."""
        found = self.jobs.find(job_id)
        if found is None or not found.value.assignee_id:
            return 0
        assignee, sent, cursor = found.value.assignee_id, 0, None
        while True:
            page, cursor = self.bids.page_for_job(job_id, None, 100, cursor)
            for bid in page:
                settled = bid.settled_by(assignee)
                if settled.status == "rejected" and bid.bidder_id != assignee:
                    bid_updated(self.realtime, settled, bid.bidder_id)
                    sent += 1
            if cursor is None:
                return sent

    def score_pending_sentiment(self, *, everything: bool = False, limit: int = 50) -> int:
        """Score queued bid comments, each once, in requests of the analyzer's batch size.

        A batch is claimed (one ETag-guarded transaction) before it is sent, so concurrent
        runs never send the same comment. Without ``everything`` (the queue nudge) only a
        full batch, or one whose oldest comment has waited ``SENTIMENT_BATCH_WAIT``, is
        scored; a younger part of one leaves a nudge for when it is due. A whole-batch
        failure (the service is down) gives its claim back and raises, so the queue's retry
        of the message scores the batch seconds later (a claim left to lapse would hide
        it from that retry, until the timer). A run stops after ``limit`` comments and
        leaves a nudge when more wait. A per-document error is logged and the bid keeps
        ``sentiment: null``.
        """
        size = max(1, self.kinds.sentiment.max_batch)
        scored = sent = 0
        while sent < limit:
            now = self.clock.now()
            pending = self.bids.claimable_comments(now, size)
            if not pending:
                break
            oldest = min(item.value.queued_at for item in pending)
            if not (everything or len(pending) >= size or oldest <= now - SENTIMENT_BATCH_WAIT):
                wait = (oldest + SENTIMENT_BATCH_WAIT - now).total_seconds()
                self.sentiment_queue.send("{}", visibility_timeout=max(1, math.ceil(wait)))
                break
            claimed = self.bids.claim_comments(pending, now + SENTIMENT_CLAIM)
            if not claimed:
                continue  # another run claimed some of them: look again
            sent += len(claimed)
            try:
                scored += self._score([item.value for item in claimed])
            except Exception:
                # Give the claim back, so that the queue's retry of this message (after
                # the host's visibilityTimeout, seconds) scores them: a claim left to
                # lapse would make that retry find nothing, and leave the comments to
                # the timer a minute or two later.
                self._release(claimed)
                raise
        if sent >= limit and self.bids.claimable_comments(self.clock.now(), 1):
            # This run's share is done and more are waiting: a nudge now, not the timer.
            self.sentiment_queue.send("{}")
        return scored

    def _release(self, claimed: list[Versioned[PendingComment]]) -> None:
        try:
            self.bids.release_comments(claimed)
        except Exception:  # the claim lapses after SENTIMENT_CLAIM; the timer scores them
            log.warning("sentiment claim not released", exc_info=True,
                        extra={"comments": len(claimed)})  # fmt: skip

    def _score(self, comments: list[PendingComment]) -> int:
        outcomes = self.kinds.sentiment.analyze(
            [(f"{c.job_id}|{c.bid_id}", c.comment) for c in comments]
        )
        scores: list[tuple[str, str, dict[str, Any]]] = []
        for outcome in outcomes:
            job_id, bid_id = outcome.id.split("|", 1)
            if outcome.sentiment is None:
                log.warning("comment not scored", extra={"bid_id": bid_id,
                                                         "error": outcome.error})  # fmt: skip
            else:
                scores.append((job_id, bid_id, outcome.sentiment.to_dict()))
        self.bids.set_sentiments(scores)
        self.bids.clear_comments([(c.job_id, c.bid_id) for c in comments])
        if self.realtime is not None:
            self._publish_scored(scores)
        return len(scores)

    def _publish_scored(self, scores: list[tuple[str, str, dict[str, Any]]]) -> None:
        """bid.updated to each scored bid's job owner (named by the job id), with the bid as
        its job's assignment settles it: a score that lands after an accept shows the bid
        ``rejected`` (or ``accepted``), as GET /bids does, not the ``open`` kept in storage.
        One point read of the job per job of the batch."""
        assignees: dict[str, str | None] = {}
        for job_id, bid_id, _ in scores:
            owner = owner_in_job_id(job_id)
            try:
                bid = self.bids.get(job_id, bid_id)
                if owner is not None and job_id not in assignees:
                    found = self.jobs.get(owner, job_id)
                    assignees[job_id] = found.value.assignee_id if found is not None else None
            except Exception:
                log.warning("scored bid not read for its event", exc_info=True,
                            extra={"bid_id": bid_id})  # fmt: skip
                continue
            if bid is not None and owner is not None:
                bid_updated(self.realtime, bid.settled_by(assignees.get(job_id)), owner)
