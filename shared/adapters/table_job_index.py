"""Own job lists and status counts, in the owner's own partition of ``jobs`` (issue 17).

Why here: a job's row, its list rows and its count change are written by ONE
entity-group transaction (same table, same partition), so a list never disagrees with
the job it shows and there is no crash window between a job and its lists.

Rows of partition ``{owner id}`` in table ``jobs`` (job ids begin with 13 digits, so the
job rows are exactly ``RowKey lt ':'``; every other row sorts after them)::

    {job id}                      the job (table_jobs.py) plus ``ix`` = ``{status}|{sched ms}``:
                                  the state its list rows and count are under, written only
                                  together with them (a row written without them lacks it)
    l|cd|{inv created}|{inv id}   list row, newest first             (``status``, ``kind``,
    l|ta|{sched}|{id}             list row, scheduled_time ascending  ``ts`` = sched ms, ``d``
    l|td|{inv sched}|{inv id}     list row, scheduled_time descending = the job as JSON
                                                                      without its result)
    m|ready                       every job row of the owner is listed and counted
    n|{slot}                      a share of the count per status (``n_pending``, ...), slots
                                  00..31; the sum over the slots is exact

Lists: ``sort=created_at`` reads the job rows themselves (job ids sort by creation time);
the three other sorts read their list rows. An unfiltered page is ONE range query of
``limit + 1`` rows. Filters are not materialised: a row per filter value and order (the
design before: 16 rows per job, each rewritten on every transition) made a job's life cost
73 entities, and even one status-keyed row set per order would cost more than the budget
of 20 (docs/jobs.md). A filtered page reads the keys of the same range (``RowKey``,
``status``, ``kind``) until ``limit + 1`` match or ``SCAN_BUDGET`` rows were examined, then
the matching rows' content in one range query: every request costs at most the budget,
whatever the number of jobs; a page may hold fewer than ``limit`` jobs with a cursor to
go on (as an Azure Table query does). ``time`` is
milliseconds, 15 digits, inverted (10^15-1-ms) for descending orders; ``id`` is the id's 29
time-and-random characters (inverted digit by digit for descending orders). The cursor is
the last RowKey returned or examined (base64), checked to belong to that order.

Writes: create = one transaction of 5 entities (the job, 3 list rows, 1 count slot);
a transition = the job, its 3 list rows (replaced: they show every field the list does),
the count slot when the status changes, and deletes of the two scheduled-time rows when
the time changes. ``l|cd`` (its key never changes) is the job's anchor: replaced with
"must exist", so a job that was never listed fails the transaction and is healed.

Counts need no read in the common case: each process writes a lane of 4 slots (one of 8
lanes, at random), one write per slot at a time (a fifth concurrent write of one owner
waits for a slot of the lane), so two processes rarely write the same slot; a process
keeps the last counts and ETag of the slots it wrote and inserts a slot it has not seen
(a new owner needs no read). A stale ETag (another process wrote the slot) costs one
failed transaction and one read, and moves the process to another lane. The summary is
one range query of ``m|ready`` and the slots.

A job row without a matching ``ix`` (written by an older version, or by hand) is not
trusted: its next write reads the ``l|cd`` anchor first. The design before this one
(``x|`` and ``y|`` rows, issue 14) is migrated by ``repair``: run for an owner on the
first list or summary without ``m|ready``, or ahead of time by
``python -m devtools.job_index backfill``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import encode_cursor, etag_of, first_rows
from shared.domain.errors import ConcurrencyConflict, FieldError, ValidationFailed
from shared.domain.jobs import STATUSES, Job, JobNotStorable
from shared.logging import get_logger
from shared.ports import Versioned

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = get_logger(__name__)

SLOTS = 32
LANE = 4  # slots of one process (a lane); concurrent writers of one owner take one each
JOB_ROWS_END = ":"  # job ids begin with a digit: every job row sorts before ':'
LISTS = "l|"
READY = "m|ready"
COUNTERS = "n|"
OLD_ROWS = ("x|", "y}")  # the rows of the design before (issue 14): anchors, 16 copies, shards
ORDERS = {"-created_at": "cd", "scheduled_time": "ta", "-scheduled_time": "td"}
_TIME_SPAN = 10**15
_HEX = "0123456789abcdef"
_INVERT = str.maketrans(_HEX, _HEX[::-1])
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_JOB_KEY = re.compile(r"[0-9]{13}[0-9a-f]{16}-[A-Za-z0-9_-]{1,100}")
_ATTEMPTS = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JOBS_PER_BATCH = 20  # a first build: 4 operations per job, 80 of a transaction's 100
_SUSPECTS_MAX = 10_000
# Rows a filtered page examines at most (one Azure Table response's worth): a filter costs
# each request the same at any number of jobs; a rarer match takes more requests.
SCAN_BUDGET = 1000
_LANE_WAIT = 5.0  # seconds a write waits for a slot of its lane before taking any other


class JobListsBusy(RuntimeError):
    """Eight writes in a row failed on the lists or counts, not on the job itself."""


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _column(status: str) -> str:
    return "n_" + status.replace("-", "_")


@dataclass(frozen=True)
class State:
    """What a job's list keys and count depend on (kind and created never change)."""

    status: str
    sched: int  # ms

    @staticmethod
    def of(job: Job) -> State:
        return State(job.status, _ms(job.scheduled_time))

    @property
    def tag(self) -> str:
        return f"{self.status}|{self.sched}"


def ix_of(job: Job) -> str:
    """The ``ix`` column of the job row written together with its list rows."""
    return State.of(job).tag


def list_keys(job: Job, sched: int) -> dict[str, str]:
    """The RowKeys of ``job``'s list rows when its scheduled time is ``sched`` (ms)."""
    stem = job.id[:29]
    created = _ms(job.created_at)
    back = stem.translate(_INVERT)
    return {
        "cd": f"l|cd|{_TIME_SPAN - 1 - created:015d}|{back}",
        "ta": f"l|ta|{sched:015d}|{stem}",
        "td": f"l|td|{_TIME_SPAN - 1 - sched:015d}|{back}",
    }


def anchor_key(job: Job) -> str:
    return list_keys(job, 0)["cd"]


def _job_id_of(row_key: str, owner: str) -> str | None:
    """The job a list row belongs to (its id key, inverted back for descending orders)."""
    parts = row_key.split("|")
    if len(parts) != 4 or len(parts[3]) != 29 or parts[1] not in ("cd", "ta", "td"):
        return None
    stem = parts[3].translate(_INVERT) if parts[1].endswith("d") else parts[3]
    return f"{stem}-{owner}"


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not valid", errors=[FieldError("cursor", "not a cursor of this list")]
    )


def decode_list_cursor(cursor: str | None, sort: str, owner: str) -> str | None:
    """The RowKey a cursor of ``sort`` stands for; 400 for anything else. A cursor of the
    design before (``x|{filter}|{order}|{time}|{id}``) is read as the same position."""
    if not cursor:
        return None
    try:
        value = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor() from None
    order = ORDERS.get(sort, "ca")
    parts = value.split("|")
    if value.startswith("x|") and len(parts) == 5 and len(parts[4]) == 29:
        if parts[2] != order:
            raise _bad_cursor()
        value = f"{parts[4]}-{owner}" if order == "ca" else f"l|{order}|{parts[3]}|{parts[4]}"
    if order == "ca":
        if not _JOB_KEY.fullmatch(value):
            raise _bad_cursor()
    elif not value.startswith(f"l|{order}|") or not value.isprintable():
        raise _bad_cursor()
    return value


class JobIndex:
    """The list rows and count slots of ``jobs``; see the module docstring."""

    def __init__(
        self, table: TableClient, to_json: Callable[[Job], str], from_json: Callable[[str], Job]
    ) -> None:
        self._table = table
        self._to_json = to_json
        self._from_json = from_json
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._lane = random.randrange(SLOTS // LANE) * LANE
        # (owner, slot) -> (counts, ETag or None when known absent); missing: not seen yet
        self._counters: dict[tuple[str, int], tuple[dict[str, int], str | None]] = {}
        self._busy: set[tuple[str, int]] = set()
        self._ready: set[str] = set()
        self.scan_budget = SCAN_BUDGET
        self._suspects: dict[str, None] = {}  # ETags of job rows whose lists may differ

    # -- trust ---------------------------------------------------------------------

    def note(self, entity: Any, job: Job) -> None:
        """A job row as read: remember its version if it was not written with its lists."""
        if entity.get("ix") != ix_of(job):
            self.suspect(etag_of(entity))

    def suspect(self, etag: str) -> None:
        with self._lock:
            if len(self._suspects) > _SUSPECTS_MAX:
                self._suspects.clear()  # forgetting only costs a heal that is not needed
            self._suspects[etag] = None

    def trusted(self, etag: str) -> bool:
        with self._lock:
            return etag not in self._suspects

    # -- writes ----------------------------------------------------------------------

    def create(self, entity: dict[str, Any], job: Job) -> str:
        """Insert the job row with its list rows and count (ConcurrencyConflict if taken)."""
        return self._write(("create", {**entity, "ix": ix_of(job)}), job, None)

    def save(self, entity: dict[str, Any], job: Job, previous: Versioned[Job]) -> str:
        """Replace the job row if still at ``previous.etag``, with its lists and count."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        job_op = ("update", {**entity, "ix": ix_of(job)},
                  {"mode": UpdateMode.REPLACE, "etag": previous.etag,
                   "match_condition": MatchConditions.IfNotModified})  # fmt: skip
        return self._write(job_op, job, previous)

    def _write(self, job_op: tuple[Any, ...], job: Job, previous: Versioned[Job] | None) -> str:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        owner = job.owner_id
        # Where the job's lists and count are: as the job row read says (it was written
        # with them), or, for a row that was not, as its anchor says.
        anchor: tuple[State, str | None] | None = None
        known = previous is None
        if previous is not None and self.trusted(previous.etag):
            anchor, known = (State.of(previous.value), None), True
        if not known:
            anchor = self._read_anchor(job)
        missing = False  # a scheduled-time row the anchor promised was gone last time
        slot = self._take_slot(owner, None)
        try:
            for _ in range(_ATTEMPTS):
                if missing and anchor is not None and anchor[0].sched != _ms(job.scheduled_time):
                    # Rows the anchor says exist do not (deleted by hand?): delete the rest
                    # of them one by one, then write without those deletes.
                    old = list_keys(job, anchor[0].sched)
                    for order in ("ta", "td"):
                        with contextlib.suppress(ResourceNotFoundError):
                            self._table.delete_entity(owner, old[order])
                ops, counter_at, after = self._plan(job_op, job, anchor, slot, deletes=not missing)
                try:
                    results = self._table.submit_transaction(ops)
                except HttpResponseError as exc:
                    if self._job_moved(job, previous):
                        raise ConcurrencyConflict(str(exc.reason or "job changed")) from exc
                    if getattr(exc, "status_code", None) in (400, 413):
                        # PropertyValueTooLarge, EntityTooLarge, RequestBodyTooLarge: the job
                        # as it is cannot be stored, however often it is tried.
                        raise JobNotStorable(f"{exc.status_code} {exc.reason}") from exc
                    # The job is as read: its anchor, a list row or the count slot was not.
                    read_before = anchor is not None and anchor[1] is not None
                    missing = read_before and getattr(exc, "status_code", None) == 404
                    anchor = self._read_anchor(job)
                    if counter_at is not None:
                        self._read_counter(owner, slot)
                        slot = self._take_slot(owner, slot)  # and try another slot
                    continue
                if counter_at is not None:
                    self._remember(owner, slot, after, etag_of(results[counter_at]))
                return etag_of(results[0])
        finally:
            self._release_slot(owner, slot)
        # Not a ConcurrencyConflict: the job did not change, so no caller may take this
        # for a lost race (a worker would drop its result); the caller's retry takes it.
        raise JobListsBusy("job lists kept changing")

    def _take_slot(self, owner: str, previous: int | None) -> int:
        """A count slot of this process's lane that no other write of this process uses
        now (waiting a little for one). After a conflict on ``previous`` (another process
        wrote it) the process moves to another lane, so two processes part ways."""
        with self._cond:
            if previous is not None:
                self._busy.discard((owner, previous))
                self._cond.notify_all()
                lanes = [n for n in range(0, SLOTS, LANE) if n != self._lane]
                self._lane = random.choice(lanes)
            deadline = time.monotonic() + _LANE_WAIT
            while True:
                lane = [self._lane + n for n in range(LANE)]
                free = [n for n in lane if (owner, n) not in self._busy]
                if free:
                    slot = free[0]
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:  # busier than a lane: any free slot will do
                    spare = [n for n in range(SLOTS) if (owner, n) not in self._busy]
                    slot = random.choice(spare or list(range(SLOTS)))
                    break
                self._cond.wait(remaining)
            self._busy.add((owner, slot))
            return slot

    def _release_slot(self, owner: str, slot: int) -> None:
        with self._cond:
            self._busy.discard((owner, slot))
            self._cond.notify_all()

    def rows(self, job: Job) -> dict[str, dict[str, Any]]:
        """``job``'s list rows, by RowKey."""
        data = self._to_json(replace(job, result=None))
        sched = _ms(job.scheduled_time)
        return {
            key: {"PartitionKey": job.owner_id, "RowKey": key, "status": job.status,
                  "kind": job.kind, "ts": str(sched), "d": data}
            for key in list_keys(job, sched).values()
        }  # fmt: skip

    def _plan(
        self, job_op: tuple[Any, ...], job: Job, anchor: tuple[State, str | None] | None,
        slot: int, *, deletes: bool = True,
    ) -> tuple[list[Any], int | None, dict[str, int]]:  # fmt: skip
        """The operations of one transaction, the position of the count update and the
        counts it writes. ``anchor``: the state the job is listed under and the anchor's
        ETag (None: replace it if it exists), or None for a job not listed at all."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        new = State.of(job)
        ops: list[Any] = [job_op]
        rows = self.rows(job)
        key = anchor_key(job)
        if anchor is None:
            ops.append(("create", rows.pop(key)))
        else:
            state, etag = anchor
            condition = MatchConditions.IfNotModified if etag else MatchConditions.Unconditionally
            ops.append(("update", rows.pop(key), {"mode": UpdateMode.REPLACE, "etag": etag,
                                                  "match_condition": condition}))  # fmt: skip
            if deletes and state.sched != new.sched:
                old = list_keys(job, state.sched)
                ops.extend(("delete", {"PartitionKey": job.owner_id, "RowKey": old[o]})
                           for o in ("ta", "td"))  # fmt: skip
        ops.extend(("upsert", row, {"mode": UpdateMode.REPLACE}) for row in rows.values())
        if anchor is not None and anchor[0].status == new.status:
            return ops, None, {}
        found = self._counter(job.owner_id, slot)
        counts, etag = found if found is not None else ({}, None)
        after = dict(counts)
        if anchor is not None:
            after[anchor[0].status] = after.get(anchor[0].status, 0) - 1
        after[new.status] = after.get(new.status, 0) + 1
        row = {"PartitionKey": job.owner_id, "RowKey": f"{COUNTERS}{slot:02d}",
               **{_column(s): after.get(s, 0) for s in STATUSES}}  # fmt: skip
        if etag is None:
            ops.append(("create", row))  # a slot not seen (or seen absent): insert-if-absent
        else:
            guard = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            ops.append(("update", row, {"mode": UpdateMode.REPLACE, **guard}))
        return ops, len(ops) - 1, after

    def _job_moved(self, job: Job, previous: Versioned[Job] | None) -> bool:
        """Whether the job row is no longer the one this write was guarded by."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            stored = self._table.get_entity(job.owner_id, job.id)
        except ResourceNotFoundError:
            return previous is not None  # a save of a job that is gone
        return previous is None or etag_of(stored) != previous.etag

    def _read_anchor(self, job: Job) -> tuple[State, str | None] | None:
        row = self._get(job.owner_id, anchor_key(job))
        if row is None:
            return None
        return State(str(row["status"]), int(row["ts"])), etag_of(row)

    # -- counts ------------------------------------------------------------------------

    def _counter(self, owner: str, slot: int) -> tuple[dict[str, int], str | None] | None:
        with self._lock:
            return self._counters.get((owner, slot))

    def _read_counter(self, owner: str, slot: int) -> tuple[dict[str, int], str | None]:
        row = self._get(owner, f"{COUNTERS}{slot:02d}")
        if row is None:
            return self._remember(owner, slot, {}, None)
        return self._remember(owner, slot, _row_counts(row), etag_of(row))

    def _remember(
        self, owner: str, slot: int, counts: dict[str, int], etag: str | None
    ) -> tuple[dict[str, int], str | None]:
        with self._lock:
            if len(self._counters) > 100_000:
                self._counters.clear()
            self._counters[(owner, slot)] = (counts, etag)
        return counts, etag

    # -- reads -------------------------------------------------------------------------

    def page(
        self, owner: str, *, status: str | None, kind: str | None, sort: str, limit: int,
        cursor: str | None,
    ) -> tuple[list[Job], str | None]:  # fmt: skip
        """Unfiltered: one range query of ``limit + 1`` rows. Filtered: see ``_filtered``."""
        after = decode_list_cursor(cursor, sort, owner)
        if kind is not None and not _SAFE.fullmatch(kind):
            return [], None  # no job has such a kind
        self.ensure_ready(owner)
        if sort in ORDERS:
            start, end, column = f"l|{ORDERS[sort]}|", f"l|{ORDERS[sort]}|~", "d"
        else:
            start, end, column = "", JOB_ROWS_END, "data"  # the job rows themselves
        if status is not None or kind is not None:
            return self._filtered(owner, status, kind, (after or start, end), column, limit)
        page, next_cursor = first_rows(
            self._table, "PartitionKey eq @pk and RowKey gt @start and RowKey lt @end",
            {"pk": owner, "start": after or start, "end": end}, limit, ["RowKey", column],
        )  # fmt: skip
        return [self._from_json(r[column]) for r in page], next_cursor

    def _filtered(
        self, owner: str, status: str | None, kind: str | None, bounds: tuple[str, str],
        column: str, limit: int,
    ) -> tuple[list[Job], str | None]:  # fmt: skip
        """A filtered page that examines at most ``scan_budget`` rows, whatever the data.

        1. Keys: the range after the cursor is read as ``RowKey``, ``status`` and ``kind``
           only (no server filter, so what the service examines is what crosses the wire and
           is counted), in growing steps (10 x (limit + 1) rows first: a filter that one job
           in ten matches is done in one call), until ``limit + 1`` rows match, the range
           ends, or the budget is spent.
        2. Content: one range query from the first to the last matching key of the page,
           filtered on the service, selects the list column: only the page's rows.

        When the budget is spent first, the page holds the matches found (possibly none)
        and the cursor is the last key examined: the next page goes on from there (as an
        Azure Table query returns fewer rows than asked with a continuation token). So a
        filter that matches 1 job in 10,000 costs each request the same, and the client
        walks on; the figures are in docs/jobs.md."""
        start, end = bounds
        budget = max(self.scan_budget, limit + 1)
        matches: list[str] = []
        examined, last_seen, ended = 0, start, False
        step = min(10 * (limit + 1), budget)
        query = "PartitionKey eq @pk and RowKey gt @start and RowKey lt @end"
        while len(matches) <= limit and examined < budget:
            want, got = min(step, budget - examined), 0
            for row in self._table.query_entities(
                query, parameters={"pk": owner, "start": last_seen, "end": end},
                select=["RowKey", "status", "kind"], results_per_page=want,
            ):  # fmt: skip
                got += 1
                last_seen = row["RowKey"]
                if status in (None, row.get("status")) and kind in (None, row.get("kind")):
                    matches.append(last_seen)
                if len(matches) > limit or got >= want:
                    break
            examined += got
            if got < want and len(matches) <= limit:
                ended = True
                break
            step *= 4
        next_key: str | None
        if len(matches) > limit:
            matches, next_key = matches[:limit], matches[limit - 1]
        else:
            next_key = None if ended else last_seen
        if not matches:
            return [], encode_cursor(next_key) if next_key else None
        content = "PartitionKey eq @pk and RowKey ge @first and RowKey le @last"
        parameters: dict[str, Any] = {"pk": owner, "first": matches[0], "last": matches[-1]}
        if status is not None:
            content += " and status eq @status"
            parameters["status"] = status
        if kind is not None:
            content += " and kind eq @kind"
            parameters["kind"] = kind
        rows: list[Any] = []
        for row in self._table.query_entities(
            content, parameters=parameters, select=["RowKey", column],
            results_per_page=min(len(matches) + 1, 1000),
        ):  # fmt: skip
            rows.append(row)
            if len(rows) > limit:  # a job of the span began to match in between
                break
        if len(rows) > limit:
            rows, next_key = rows[:limit], rows[limit - 1]["RowKey"]
        return [self._from_json(r[column]) for r in rows], (
            encode_cursor(next_key) if next_key else None
        )

    def counts(self, owner: str) -> dict[str, int]:
        """One range query of the ready mark and the count slots."""
        for _ in range(2):
            rows = list(self._scan(owner, READY, COUNTERS + "~"))
            if any(r["RowKey"] == READY for r in rows):
                self._mark_ready(owner)
                totals: dict[str, int] = {}
                for row in rows:
                    if row["RowKey"].startswith(COUNTERS):
                        for status, n in _row_counts(row).items():
                            totals[status] = totals.get(status, 0) + n
                return totals
            self.repair(owner)
        raise ConcurrencyConflict("job counts could not be built")

    def ensure_ready(self, owner: str) -> None:
        """Build the owner's lists once (jobs written before them, or by the design before)."""
        with self._lock:
            if owner in self._ready:
                return
        if self._get(owner, READY) is None:
            self.repair(owner)
        self._mark_ready(owner)

    def _mark_ready(self, owner: str) -> None:
        with self._lock:
            if len(self._ready) > 100_000:
                self._ready.clear()  # a mark only saves one point read: forget, read again
            self._ready.add(owner)

    # -- repair ------------------------------------------------------------------------

    def _scan(
        self, owner: str, start: str, end: str, select: list[str] | None = None
    ) -> Iterable[Any]:
        return self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": owner, "start": start, "end": end}, select=select,
            results_per_page=1000,
        )  # fmt: skip

    def repair(self, owner: str) -> dict[str, int]:
        """Recompute the owner's list rows and counts from the job rows, and delete the
        rows of the design before. Safe at any time, also while jobs change: each fix is a
        transaction guarded by the ETag of the job row it was computed from (a transition
        in between makes it fail: that transition wrote the job's lists itself), and the
        counts are written only if no slot changed since before the job rows were read."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        report = {"jobs": 0, "indexed": 0, "moved": 0, "rows_fixed": 0, "counters_fixed": 0,
                  "old_rows_deleted": 0}  # fmt: skip
        # The job rows first, then the list rows: a transition in between leaves list rows
        # newer than the job row read, so the fix (guarded by that job row's ETag) fails
        # and is not taken for damage; a job created in between has list rows and no job
        # row read, so those are checked before they are deleted as orphans.
        job_rows = list(self._scan(owner, "", JOB_ROWS_END))
        listed: dict[str, dict[str, Any]] = {}
        for row in self._scan(owner, LISTS, LISTS + "~"):
            listed.setdefault(_job_id_of(row["RowKey"], owner) or "", {})[row["RowKey"]] = row
        fresh: list[list[Any]] = []
        for entity in job_rows:
            try:
                job = self._from_json(entity["data"])
            except (KeyError, ValueError, TypeError):
                log.warning("job row not readable", extra={"row_key": entity["RowKey"]})
                listed.pop(entity["RowKey"], None)  # leave that job's rows alone
                continue
            report["jobs"] += 1
            want = self.rows(job)
            have = listed.pop(job.id, {})
            same = all(
                key in have and all(have[key].get(c) == v for c, v in row.items())
                for key, row in want.items()
            )
            if entity.get("ix") == ix_of(job) and same and set(have) == set(want):
                continue
            guard = {"etag": etag_of(entity), "match_condition": MatchConditions.IfNotModified}
            ops: list[Any] = [
                (
                    "update",
                    {"PartitionKey": owner, "RowKey": job.id, "ix": ix_of(job)},
                    {"mode": UpdateMode.MERGE, **guard},
                )
            ]
            ops += [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in want.values()]
            ops += [("delete", {"PartitionKey": owner, "RowKey": key},
                     {"etag": etag_of(have[key]), "match_condition": MatchConditions.IfNotModified})
                    for key in sorted(set(have) - set(want))]  # fmt: skip
            if not have:
                fresh.append(ops)
                continue
            # A job row written without its lists (damage, or an older version's write).
            report["moved" if entity.get("ix") != ix_of(job) else "rows_fixed"] += self._submit(ops)
        for start in range(0, len(fresh), JOBS_PER_BATCH):
            group = fresh[start : start + JOBS_PER_BATCH]
            try:
                self._table.submit_transaction([op for ops in group for op in ops])
                report["indexed"] += len(group)
            except HttpResponseError:  # a transition listed one of them: one by one
                report["indexed"] += sum(self._submit(ops) for ops in group)
        # Rows of no job (ids are never reused, so no write can be under way for them),
        # unless the job was created after the job rows were read.
        orphans = [row for job_id, rows in listed.items()
                   if not job_id or self._get(owner, job_id) is None
                   for row in rows.values()]  # fmt: skip
        report["rows_fixed"] += self._delete_rows(owner, orphans, guarded=True)
        old = list(self._scan(owner, OLD_ROWS[0], OLD_ROWS[1], select=["RowKey"]))
        report["old_rows_deleted"] = self._delete_rows(owner, old, guarded=False)
        report["counters_fixed"] = self._recount(owner)
        self._table.upsert_entity({"PartitionKey": owner, "RowKey": READY, "ready": True})
        self._mark_ready(owner)
        # A first build sets counts that did not exist: that is not damage.
        counts_off = report["counters_fixed"] and not (report["indexed"] or old)
        damaged = report["moved"] or report["rows_fixed"] or counts_off
        (log.warning if damaged else log.info)(
            "job lists repaired", extra={"owner_id": owner, **report}
        )
        return report

    def _submit(self, ops: list[Any]) -> int:
        from azure.core.exceptions import HttpResponseError

        try:
            self._table.submit_transaction(ops)
        except HttpResponseError:
            return 0  # a transition got there first (and wrote the job's lists itself)
        return 1

    def _delete_rows(self, owner: str, rows: list[Any], *, guarded: bool) -> int:
        """Delete ``rows`` (100 to a transaction; one by one when a batch fails)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        def op(row: Any) -> Any:
            key = {"PartitionKey": owner, "RowKey": row["RowKey"]}
            if not guarded:
                return ("delete", key)
            return ("delete", key, {"etag": etag_of(row),
                                    "match_condition": MatchConditions.IfNotModified})  # fmt: skip

        deleted = 0
        for start in range(0, len(rows), 100):
            chunk = rows[start : start + 100]
            try:
                self._table.submit_transaction([op(r) for r in chunk])
                deleted += len(chunk)
            except HttpResponseError:
                deleted += sum(self._submit([op(r)]) for r in chunk)
        return deleted

    def _get(self, owner: str, row_key: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._table.get_entity(owner, row_key)
        except ResourceNotFoundError:
            return None

    def _recount(self, owner: str) -> int:
        """Make the slots sum to the count of listed jobs per status: slot 0 the totals,
        the others zero, in one transaction guarded by every slot as read before the job
        rows were (an absent slot by inserting it), so a transition in between makes it
        fail: then read both again. Zero slots are deleted after (guarded as well), so
        that a process's first write of a slot finds it absent and needs no read."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        for _ in range(_ATTEMPTS):
            slots = {r["RowKey"]: r for r in self._scan(owner, COUNTERS, COUNTERS + "~")}
            truth: dict[str, int] = {}
            for row in self._scan(owner, "", JOB_ROWS_END, select=["RowKey", "ix"]):
                status = str(row.get("ix") or "").split("|")[0]
                if status in STATUSES:
                    truth[status] = truth.get(status, 0) + 1
            summed: dict[str, int] = {}
            for row in slots.values():
                for status, n in _row_counts(row).items():
                    summed[status] = summed.get(status, 0) + n
            if {s: n for s, n in summed.items() if n} == truth:
                return 0
            ops: list[Any] = []
            for n in range(SLOTS):
                key = f"{COUNTERS}{n:02d}"
                want = truth if n == 0 else {}
                row = {"PartitionKey": owner, "RowKey": key,
                       **{_column(s): want.get(s, 0) for s in STATUSES}}  # fmt: skip
                if key not in slots:
                    ops.append(("create", row))
                else:
                    guard = {"etag": etag_of(slots[key]),
                             "match_condition": MatchConditions.IfNotModified}  # fmt: skip
                    ops.append(("update", row, {"mode": UpdateMode.REPLACE, **guard}))
            try:
                results = self._table.submit_transaction(ops)
            except HttpResponseError:
                continue  # a transition counted in between: read the slots and jobs again
            unchanged = MatchConditions.IfNotModified
            with contextlib.suppress(HttpResponseError):
                self._table.submit_transaction([
                    ("delete", {"PartitionKey": owner, "RowKey": f"{COUNTERS}{n:02d}"},
                     {"etag": etag_of(results[n]), "match_condition": unchanged})
                    for n in range(1, SLOTS)
                ])  # fmt: skip
            with self._lock:  # this process's view of the slots is stale now
                for n in range(SLOTS):
                    self._counters.pop((owner, n), None)
            return 1
        return 0


def _row_counts(row: Any) -> dict[str, int]:
    return {s: int(row.get(_column(s)) or 0) for s in STATUSES}
