"""Jobs and bids: the model and its rules. Pure: no I/O, no clock reads.

Status machine::

    pending --start--> in-progress --succeed--> completed
       ^                   |   \\--fail (attempts left)--> pending (retry, backoff)
       |                   |    \\-fail (no attempts left)--> failed
       +--cancel (owner, only while pending) --> cancelled

Every transition is a compare-and-set on the stored job (its ETag), so of two racing
transitions exactly one wins. ``dispatch_id`` names the queue message that may run the
job now: a message carrying another id (an old schedule, a duplicate) changes nothing.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from shared.domain.errors import AppError, Conflict

Status = Literal["pending", "in-progress", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("pending", "in-progress", "completed", "failed", "cancelled")
FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
BidStatus = Literal["open", "accepted", "rejected"]

# Storage queue messages can stay invisible for at most 7 days; later jobs wait in the due
# index until the sweeper enqueues them.
MAX_QUEUE_DELAY = timedelta(days=7) - timedelta(minutes=5)
SCHEDULE_SKEW = timedelta(seconds=30)  # a time this little in the past still counts as now
EARLY_TOLERANCE = timedelta(seconds=1)
# How far ahead a job may be scheduled (further is a 400: also keeps every date arithmetic
# of the job system far from datetime's year 9999 ceiling).
MAX_SCHEDULE_AHEAD = timedelta(days=366)
# A pending job not started this long after its time may have lost its queue message: the
# sweep sends it again (same dispatch id, so the job still runs once).
DISPATCH_GRACE = timedelta(minutes=2)

# Sizes, in UTF-16 code units of the compact JSON (ensure_ascii off) that the job row
# stores: Table Storage keeps strings as UTF-16, at most 64 KiB (32,768 units) per string
# property and 1 MiB per entity. The job row's ``data`` property holds name (200 chars),
# description (2,000), params, the inline output and the short error; with JSON escapes
# at worst 6 units a character: 1,200 + 12,000 + 10,240 + 6,000 + ~1,000 < 32,768.
PARAMS_MAX_UNITS = 10_240
OUTPUT_INLINE_MAX_UNITS = 6_000  # larger outputs go to a blob; the row keeps a reference
OUTPUT_MAX_BYTES = 4 * 1024 * 1024  # larger than this, the result cannot be stored
ERROR_MAX_CHARS = 200


def utf16_units(text: str) -> int:
    """The length of ``text`` as Table Storage counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def compact_json(value: Any) -> str:
    """The JSON the job row stores (no ASCII escapes: a Cyrillic letter is one unit, not six)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class JobNotEditable(Conflict):
    slug, title = "job-not-editable", "Only a pending job can be changed"


class JobNotCancellable(Conflict):
    slug, title = "job-not-cancellable", "Only a pending job can be cancelled"


class ResultNotReady(Conflict):
    slug, title = "result-not-ready", "The job has not finished yet"


class JobNotOpen(Conflict):
    slug, title = "job-not-open", "The job is not open for bids"


# API.md: a bidder has at most one open bid on a job (a second gets 409 ``conflict``: it
# does not replace the first, whose comment may already be scored and seen by the owner),
# and a job takes at most 100 open bids (then 409 ``conflict`` too).
MAX_OPEN_BIDS_PER_JOB = 100


class BidExists(Conflict):
    title = "You already have an open bid on this job"


class TooManyBids(Conflict):
    title = f"The job has {MAX_OPEN_BIDS_PER_JOB} open bids, the most it takes"


class JobNotStorable(Exception):
    """Storage refused the job's row as it is (too large or malformed): writing it again
    would fail again. Not an AppError: it never reaches a caller as such."""


class OwnJob(AppError):
    status, slug, title = 403, "forbidden", "You cannot bid on your own job"


@dataclass(frozen=True)
class JobResult:
    """What a finished job produced. A large ``output`` lives in a blob: then ``output`` is
    None and ``output_ref`` names the blob (``GET /result`` reads it back)."""

    output: Any
    error_message: str | None
    completed_at: datetime
    output_ref: str | None = None


@dataclass(frozen=True)
class Job:
    id: str
    owner_id: str
    name: str
    description: str
    kind: str
    params: dict[str, Any]
    status: Status
    scheduled_time: datetime
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    max_attempts: int = 3
    assignee_id: str | None = None
    last_error: str | None = None
    dispatch_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    lease_until: datetime | None = None
    result: JobResult | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "pending" and self.assignee_id is None

    def may_read(self, user_id: str) -> bool:
        """Owner, assignee, or anyone while the job is open for bids."""
        return user_id in (self.owner_id, self.assignee_id) or self.is_open

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "params": self.params,
            "status": self.status,
            "scheduled_time": self.scheduled_time,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "owner_id": self.owner_id,
            "assignee_id": self.assignee_id,
            "last_error": self.last_error,
        }

    # -- transitions (each returns the new job; the caller writes it with the ETag) --------

    def edited(self, now: datetime, **changes: Any) -> Job:
        if self.status != "pending":
            raise JobNotEditable(f"The job is {self.status}")
        new = replace(self, updated_at=now, **changes)
        if "scheduled_time" in changes and changes["scheduled_time"] != self.scheduled_time:
            new = replace(new, dispatch_id=uuid.uuid4().hex)  # old messages become void
        return new

    def cancelled(self, now: datetime) -> Job:
        if self.status != "pending":
            raise JobNotCancellable(f"The job is {self.status}")
        return replace(self, status="cancelled", updated_at=now, dispatch_id="")

    def started(self, now: datetime, lease: timedelta) -> Job:
        return replace(
            self,
            status="in-progress",
            attempts=self.attempts + 1,
            lease_until=now + lease,
            updated_at=now,
        )

    def succeeded(self, now: datetime, output: Any, output_ref: str | None = None) -> Job:
        return replace(
            self,
            status="completed",
            lease_until=None,
            last_error=None,
            updated_at=now,
            dispatch_id="",
            result=JobResult(
                output=output, error_message=None, completed_at=now, output_ref=output_ref
            ),
        )

    def given_up(self, now: datetime, error: str) -> Job:
        """Failed for good, whatever attempts are left (a result that cannot be stored, a
        job whose workers all died): retrying would only repeat it."""
        return replace(
            self,
            status="failed",
            lease_until=None,
            last_error=error,
            updated_at=now,
            dispatch_id="",
            result=JobResult(output=None, error_message=error, completed_at=now),
        )

    def failed_attempt(self, now: datetime, error: str, retry_at: datetime) -> Job:
        """After a failed run: pending again with a new dispatch, or failed for good."""
        if self.attempts >= self.max_attempts:
            return self.given_up(now, error)
        return replace(
            self,
            status="pending",
            lease_until=None,
            last_error=error,
            updated_at=now,
            scheduled_time=retry_at,
            dispatch_id=uuid.uuid4().hex,
        )

    def lease_expired(self, now: datetime) -> bool:
        return self.status == "in-progress" and (
            self.lease_until is None or self.lease_until <= now
        )

    @property
    def out_of_attempts(self) -> bool:
        return self.attempts >= self.max_attempts


def retry_delay(attempt: int, base_seconds: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter on the upper half: base * 2^(n-1) * [0.5, 1)."""
    ceiling = base_seconds * (2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling * jitter)


@dataclass(frozen=True)
class Fee:
    amount: Decimal
    currency: str

    def to_public(self) -> dict[str, Any]:
        return {"amount": float(self.amount), "currency": self.currency}


@dataclass(frozen=True)
class Bid:
    id: str
    job_id: str
    bidder_id: str
    comment: str
    proposed_deadline: date
    fee: Fee
    status: BidStatus
    created_at: datetime
    sentiment: dict[str, Any] | None = None

    def settled_by(self, assignee_id: str | None) -> Bid:
        """The bid as its job's assignment settles it. Accepting a bid writes the job and
        that one bid only; the others keep ``open`` in storage and read as ``rejected``
        once the job has an assignee (and the assignee's own bid, its one bid on the job,
        as ``accepted`` even if that second write was lost)."""
        if self.status != "open" or not assignee_id:
            return self
        return replace(self, status="accepted" if self.bidder_id == assignee_id else "rejected")

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job_id": self.job_id,
            "bidder_id": self.bidder_id,
            "comment": self.comment,
            "proposed_deadline": self.proposed_deadline,
            "fee": self.fee.to_public(),
            "status": self.status,
            "sentiment": self.sentiment,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class PendingComment:
    """A bid comment waiting for its sentiment score (``bidsentiment``)."""

    job_id: str
    bid_id: str
    comment: str
    queued_at: datetime


def time_sortable_id(now: datetime) -> str:
    """An id that sorts by creation time (ms) and is unique: 13 digits + 16 hex."""
    return f"{int(now.timestamp() * 1000):013d}{uuid.uuid4().hex[:16]}"


# A job id is ``{time-sortable id}-{owner id}``: whoever holds the id can find the job with
# one point read (the owner is its partition), and the owner is public in the job anyway.
_OWNER_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_JOB_ID = re.compile(r"[0-9]{13}[0-9a-f]{16}-(?P<owner>[A-Za-z0-9_-]{1,100})")


def new_job_id(now: datetime, owner_id: str) -> str:
    if not _OWNER_ID.fullmatch(owner_id):
        raise ValueError(f"unusable owner id for a job id: {owner_id!r}")
    return f"{time_sortable_id(now)}-{owner_id}"


def owner_in_job_id(job_id: str) -> str | None:
    """The owner named by a job id, or None when ``job_id`` is not one (then no job has it)."""
    match = _JOB_ID.fullmatch(job_id)
    return match["owner"] if match else None
