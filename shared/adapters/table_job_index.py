"""Keyed lists and counters of one owner's jobs, in the owner's own partition of ``jobs``.

Why here: a job's row, its index rows and its counter change are written by ONE
entity-group transaction (same table, same partition), so a list can never disagree with
the job it shows, and there is no crash window between a job write and its index write.

Rows of partition ``{owner id}`` in table ``jobs`` (job ids begin with 13 digits, so every
row below sorts after every job row; a scan of job rows is ``RowKey lt 'x'``)::

    {job id}                              the job (table_jobs.py), unchanged
    x|j|{job id}                          anchor: the state the job is indexed (and counted)
                                          under: ``ix_status``, ``ix_sched`` (ms); one per job
    x|{filter}|{order}|{time}|{id key}    index row, ``d`` = the job as JSON (without result)
    y|c{n}                                counter shard n (0..SHARDS-1): a share of the count
                                          per status (``n_pending``, ...); the sum is exact
    y|m                                   ``ready``: every job row of the owner is indexed

``filter``: ``a`` (all), ``s.{status}``, ``k.{kind}``, ``q.{status}.{kind}``; ``order``:
``ca``/``cd`` (created_at ascending/descending), ``ta``/``td`` (scheduled_time); ``time`` is
milliseconds, 15 digits, inverted (10^15-1-ms) for descending orders; ``id key`` is the id's
29 time-and-random characters (inverted digit by digit for descending orders, so ties break
in the same direction). Every sort and filter of GET /jobs is one range query of ``limit+1``
rows; the cursor is the last RowKey returned (base64), checked to belong to that range.
The summary is one range query of ``y|`` (SHARDS+1 rows).

Writes (one transaction each, up to 1 + 1 + 12 + 16 + 1 = 31 operations):
- the job row (insert, or replace guarded by its ETag: the job's version, as before);
- the anchor (insert; or replace: the happy path assumes the job is indexed under the
  state it was read in, and deletes that state's rows that the new state does not have; a
  missing row makes the transaction fail (404) and the write is planned again from the
  anchor as stored, which is also how a job row written without its index heals);
- the 16 index rows (replace), deletes of the old ones whose key changed;
- a counter shard, only when the status changes: -1 for the old status and +1 for the new
  one, guarded by the shard's ETag. Any shard will do (only the sum means something), so
  concurrent writers of one owner take different shards (in one process: never the same
  one at once) instead of queueing on one row. The last counts and ETag of each shard are
  cached in the process, so a transition costs no read; a stale cache costs one failed
  transaction, one read, and the next try goes to another shard.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import decode_cursor, encode_cursor, etag_of
from shared.domain.errors import ConcurrencyConflict
from shared.domain.jobs import STATUSES, Job, JobNotStorable
from shared.logging import get_logger
from shared.ports import Versioned

if TYPE_CHECKING:
    from azure.data.tables import TableClient

log = get_logger(__name__)

SHARDS = 16
JOB_ROWS_END = "x"  # job rows sort before this; index rows and counters from here on
ANCHOR = "x|j|"
COUNTERS = "y|"
META = "y|m"
ORDERS = {"created_at": "ca", "-created_at": "cd", "scheduled_time": "ta", "-scheduled_time": "td"}
_TIME_SPAN = 10**15
_HEX = "0123456789abcdef"
_INVERT = str.maketrans(_HEX, _HEX[::-1])
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_ATTEMPTS = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JOBS_PER_BATCH = 5  # 17 operations each (anchor and 16 rows): 85 of a transaction's 100


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _column(status: str) -> str:
    return "n_" + status.replace("-", "_")


@dataclass(frozen=True)
class State:
    """What a job's index rows and counter depend on (kind and created never change)."""

    status: str
    sched: int  # ms

    @staticmethod
    def of(job: Job) -> State:
        return State(job.status, _ms(job.scheduled_time))


def index_keys(job: Job, state: State) -> set[str]:
    """The RowKeys of ``job``'s index rows when it is in ``state``."""
    filters = ("a", f"s.{state.status}", f"k.{job.kind}", f"q.{state.status}.{job.kind}")
    stem = job.id[:29]
    created = _ms(job.created_at)
    keys = set()
    for f in filters:
        for order, moment in (("c", created), ("t", state.sched)):
            keys.add(f"x|{f}|{order}a|{moment:015d}|{stem}")
            inverted = _TIME_SPAN - 1 - moment
            keys.add(f"x|{f}|{order}d|{inverted:015d}|{stem.translate(_INVERT)}")
    return keys


def range_prefix(status: str | None, kind: str | None, sort: str) -> str:
    if status and kind:
        f = f"q.{status}.{kind}"
    elif status:
        f = f"s.{status}"
    elif kind:
        f = f"k.{kind}"
    else:
        f = "a"
    return f"x|{f}|{ORDERS[sort]}|"


class JobIndex:
    """The index rows, anchors and counters of ``jobs``; see the module docstring."""

    def __init__(
        self, table: TableClient, to_json: Callable[[Job], str], from_json: Callable[[str], Job]
    ) -> None:
        self._table = table
        self._to_json = to_json
        self._from_json = from_json
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, int], tuple[dict[str, int], str | None]] = {}
        self._ready: set[str] = set()
        self._busy: set[tuple[str, int]] = set()  # counter shards being written now

    # -- writes ----------------------------------------------------------------------

    def create(self, entity: dict[str, Any], job: Job) -> str:
        """Insert the job row with its index rows and count (ConcurrencyConflict if taken)."""
        self._mark_new_owner_ready(job.owner_id)
        return self._write(("create", entity), job, None)

    def _mark_new_owner_ready(self, owner: str) -> None:
        """An owner without any job row has nothing to build: mark it ready now, so that
        its first list does not scan (once per owner and process: a read, and for a new
        owner a query of one row and a write)."""
        with self._lock:
            if owner in self._ready:
                return
        meta = self._get(owner, META)
        if meta is None or not meta.get("ready"):
            rows = self._table.query_entities(
                "PartitionKey eq @pk and RowKey lt @end", parameters={"pk": owner,
                "end": JOB_ROWS_END}, select=["RowKey"], results_per_page=1,
            )  # fmt: skip
            if next(iter(rows), None) is not None:
                return  # jobs of an earlier version: the first list builds their index
            self._table.upsert_entity({"PartitionKey": owner, "RowKey": META, "ready": True})
        self._mark_ready(owner)

    def save(self, entity: dict[str, Any], job: Job, previous: Versioned[Job]) -> str:
        """Replace the job row if still at ``previous.etag``, with its index and count."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        job_op = ("update", entity, {"mode": UpdateMode.REPLACE, "etag": previous.etag,
                                     "match_condition": MatchConditions.IfNotModified})  # fmt: skip
        return self._write(job_op, job, previous)

    def _write(self, job_op: tuple[Any, ...], job: Job, previous: Versioned[Job] | None) -> str:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        # First plan: the job is indexed under the state it was read in (or is new).
        indexed: tuple[State, str | None] | None = (
            (State.of(previous.value), None) if previous is not None else None
        )
        missing = False  # a row of the anchor's own state was missing last time
        shard = self._take_shard(job.owner_id, None)
        try:
            for _ in range(_ATTEMPTS):
                if missing and indexed is not None:
                    # Rows the anchor says exist do not (deleted by hand?): delete the rest
                    # of them one by one, then write without those deletes.
                    for key in index_keys(job, indexed[0]) - index_keys(job, State.of(job)):
                        with contextlib.suppress(ResourceNotFoundError):
                            self._table.delete_entity(job.owner_id, key)
                plan = self._plan(job_op, job, indexed, shard, deletes=not missing)
                ops, counter_at, after = plan
                try:
                    results = self._table.submit_transaction(ops)
                except HttpResponseError as exc:
                    if self._job_moved(job, previous):
                        raise ConcurrencyConflict(str(exc.reason or "job changed")) from exc
                    if getattr(exc, "status_code", None) in (400, 413):
                        # PropertyValueTooLarge, EntityTooLarge, RequestBodyTooLarge: the job
                        # as it is cannot be stored, however often it is tried.
                        raise JobNotStorable(f"{exc.status_code} {exc.reason}") from exc
                    # The job is as read: the anchor, an index row or the counter was not.
                    read_before = indexed is not None and indexed[1] is not None
                    missing = read_before and getattr(exc, "status_code", None) == 404
                    indexed = self._read_anchor(job)
                    if counter_at is not None:
                        self._read_counter(job.owner_id, shard)
                        shard = self._take_shard(job.owner_id, shard)  # try another one
                    continue
                if counter_at is not None:
                    self._remember(job.owner_id, shard, after, etag_of(results[counter_at]))
                return etag_of(results[0])
        finally:
            self._release_shard(job.owner_id, shard)
        raise ConcurrencyConflict("job index kept changing")

    def _take_shard(self, owner: str, previous: int | None) -> int:
        """A counter shard no other write of this process is using now, at random."""
        with self._lock:
            if previous is not None:
                self._busy.discard((owner, previous))
            free = [n for n in range(SHARDS) if (owner, n) not in self._busy and n != previous]
            shard = random.choice(free or list(range(SHARDS)))
            self._busy.add((owner, shard))
            return shard

    def _release_shard(self, owner: str, shard: int) -> None:
        with self._lock:
            self._busy.discard((owner, shard))

    def _plan(
        self, job_op: tuple[Any, ...], job: Job, indexed: tuple[State, str | None] | None,
        shard: int, *, deletes: bool = True,
    ) -> tuple[list[Any], int | None, dict[str, int]]:  # fmt: skip
        """The operations of one transaction, the position of the counter update and the
        counts it writes."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        new = State.of(job)
        ops: list[Any] = [job_op]
        old_keys: set[str] = set()
        if indexed is None:
            ops.append(("create", _anchor(job, new)))
        else:
            state, etag = indexed
            condition = MatchConditions.IfNotModified if etag else MatchConditions.Unconditionally
            ops.append(("update", _anchor(job, new), {"mode": UpdateMode.REPLACE, "etag": etag,
                                                      "match_condition": condition}))  # fmt: skip
            old_keys = index_keys(job, state) if deletes else set()
        new_keys = index_keys(job, new)
        for key in sorted(old_keys - new_keys):
            ops.append(("delete", {"PartitionKey": job.owner_id, "RowKey": key}))
        ops.extend(self._upserts(job, new_keys))
        if indexed is not None and indexed[0].status == new.status:
            return ops, None, {}
        counts, etag = self._counter(job.owner_id, shard)
        after = dict(counts)
        if indexed is not None:
            after[indexed[0].status] = after.get(indexed[0].status, 0) - 1
        after[new.status] = after.get(new.status, 0) + 1
        row = {"PartitionKey": job.owner_id, "RowKey": f"y|c{shard}",
               **{_column(s): after.get(s, 0) for s in STATUSES}}  # fmt: skip
        if etag is None:
            ops.append(("create", row))
        else:
            guard = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
            ops.append(("update", row, {"mode": UpdateMode.REPLACE, **guard}))
        return ops, len(ops) - 1, after

    def _upserts(self, job: Job, keys: set[str]) -> list[Any]:
        from azure.data.tables import UpdateMode

        data = self._to_json(replace(job, result=None))
        return [("upsert", {"PartitionKey": job.owner_id, "RowKey": key, "d": data},
                 {"mode": UpdateMode.REPLACE}) for key in sorted(keys)]  # fmt: skip

    def _job_moved(self, job: Job, previous: Versioned[Job] | None) -> bool:
        """Whether the job row is no longer the one this write was guarded by."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            stored = self._table.get_entity(job.owner_id, job.id)
        except ResourceNotFoundError:
            return previous is not None  # a save of a job that is gone
        return previous is None or etag_of(stored) != previous.etag

    def _read_anchor(self, job: Job) -> tuple[State, str | None] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self._table.get_entity(job.owner_id, ANCHOR + job.id)
        except ResourceNotFoundError:
            return None
        return _state(row), etag_of(row)

    # -- counters ----------------------------------------------------------------------

    def _counter(self, owner: str, shard: int) -> tuple[dict[str, int], str | None]:
        with self._lock:
            cached = self._counters.get((owner, shard))
        return cached if cached is not None else self._read_counter(owner, shard)

    def _read_counter(self, owner: str, shard: int) -> tuple[dict[str, int], str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self._table.get_entity(owner, f"y|c{shard}")
        except ResourceNotFoundError:
            return self._remember(owner, shard, {}, None)
        return self._remember(owner, shard, _row_counts(row), etag_of(row))

    def _remember(
        self, owner: str, shard: int, counts: dict[str, int], etag: str | None
    ) -> tuple[dict[str, int], str | None]:
        with self._lock:
            if len(self._counters) > 100_000:
                self._counters.clear()
            self._counters[(owner, shard)] = (counts, etag)
        return counts, etag

    # -- reads -------------------------------------------------------------------------

    def page(
        self, owner: str, *, status: str | None, kind: str | None, sort: str, limit: int,
        cursor: str | None,
    ) -> tuple[list[Job], str | None]:  # fmt: skip
        """One range query of ``limit + 1`` index rows."""
        prefix = range_prefix(status, kind, sort)
        after = decode_cursor(cursor, prefix)
        if kind is not None and not _SAFE.fullmatch(kind):
            return [], None  # no job has such a kind
        self.ensure_ready(owner)
        rows: list[Any] = []
        for row in self._table.query_entities(
            "PartitionKey eq @pk and RowKey gt @start and RowKey lt @end",
            parameters={"pk": owner, "start": after or prefix, "end": prefix + "~"},
            select=["RowKey", "d"], results_per_page=min(limit + 1, 1000),
        ):  # fmt: skip
            rows.append(row)
            if len(rows) > limit:
                break
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1]["RowKey"]) if len(rows) > limit else None
        return [self._from_json(r["d"]) for r in page], next_cursor

    def counts(self, owner: str) -> dict[str, int]:
        """One range query of the counter shards (and the ready mark)."""
        for _ in range(2):
            rows = list(self._table.query_entities(
                "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
                parameters={"pk": owner, "start": COUNTERS, "end": "y}"},
            ))  # fmt: skip
            if any(r["RowKey"] == META and r.get("ready") for r in rows):
                self._mark_ready(owner)
                totals: dict[str, int] = {}
                for row in rows:
                    if row["RowKey"] != META:
                        for status, n in _row_counts(row).items():
                            totals[status] = totals.get(status, 0) + n
                return totals
            self.repair(owner)
        raise ConcurrencyConflict("job counters could not be built")

    def ensure_ready(self, owner: str) -> None:
        """Build the owner's index once (jobs written before it existed)."""
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            if owner in self._ready:
                return
        try:
            ready = bool(self._table.get_entity(owner, META).get("ready"))
        except ResourceNotFoundError:
            ready = False
        if not ready:
            self.repair(owner)
        self._mark_ready(owner)

    def _mark_ready(self, owner: str) -> None:
        with self._lock:
            if len(self._ready) > 100_000:
                self._ready.clear()  # a mark only saves one point read: forget, read again
            self._ready.add(owner)

    # -- repair ------------------------------------------------------------------------

    def _scan(self, owner: str, start: str, end: str) -> Iterable[Any]:
        return self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": owner, "start": start, "end": end}, results_per_page=1000,
        )  # fmt: skip

    def repair(self, owner: str) -> dict[str, int]:
        """Recompute the owner's index rows and counters from the job rows.

        Safe at any time, also while jobs change: every fix is one transaction guarded by
        the ETag of the anchor (or its absence) it was computed from, so a concurrent
        transition makes the fix fail instead of being undone by it (that transition left
        its job consistent anyway). Counters are recounted from the anchors, each shard
        written only if it did not change since before the anchors were read."""
        from azure.core.exceptions import HttpResponseError

        report = {"jobs": 0, "indexed": 0, "moved": 0, "rows_fixed": 0, "counters_fixed": 0}
        shards = {n: self._read_counter(owner, n) for n in range(SHARDS)}
        anchors = {r["RowKey"][len(ANCHOR) :]: r for r in self._scan(owner, ANCHOR, ANCHOR + "~")}
        jobs: dict[str, Job] = {}
        for row in self._scan(owner, "", JOB_ROWS_END):
            try:
                jobs[row["RowKey"]] = self._from_json(row["data"])
            except (KeyError, ValueError, TypeError):
                log.warning("job row not readable", extra={"row_key": row["RowKey"]})
        report["jobs"] = len(jobs)
        fixes: list[tuple[Job, tuple[State, str | None] | None]] = []
        for job_id, job in jobs.items():
            anchor = anchors.get(job_id)
            if anchor is None:
                fixes.append((job, None))
            elif _state(anchor) != State.of(job):
                fixes.append((job, (_state(anchor), etag_of(anchor))))
        # Jobs never indexed go JOBS_PER_BATCH to a transaction (a first build is mostly
        # these); a batch that fails (a transition indexed one of them) goes one by one.
        fresh = [job for job, was in fixes if was is None]
        built: set[str] = set()  # indexed just now in one piece: their rows need no check
        for start in range(0, len(fresh), JOBS_PER_BATCH):
            group = fresh[start : start + JOBS_PER_BATCH]
            try:
                self._table.submit_transaction([op for j in group for op in self._fix_ops(j, None)])
                report["indexed"] += len(group)
                built.update(j.id for j in group)
                continue
            except HttpResponseError:
                pass
            for job in group:
                report["indexed"] += self._fix_one(job, None)
        for job, was in fixes:
            if was is not None:
                report["moved"] += self._fix_one(job, was)
        report["rows_fixed"] = self._fix_rows(owner, built)
        report["counters_fixed"] = self._recount(owner, shards)
        self._table.upsert_entity({"PartitionKey": owner, "RowKey": META, "ready": True})
        self._mark_ready(owner)
        # A first build sets counters that did not exist: that is not damage.
        counters_off = report["counters_fixed"] and not report["indexed"]
        damaged = report["moved"] or report["rows_fixed"] or counters_off
        (log.warning if damaged else log.info)(
            "job index repaired", extra={"owner_id": owner, **report}
        )
        return report

    def _fix_one(self, job: Job, indexed: tuple[State, str | None] | None) -> int:
        from azure.core.exceptions import HttpResponseError

        try:
            self._table.submit_transaction(self._fix_ops(job, indexed))
        except HttpResponseError:
            return 0  # a transition got there first (and indexed the job itself)
        return 1

    def _fix_ops(self, job: Job, indexed: tuple[State, str | None] | None) -> list[Any]:
        """Index ``job`` as it is, guarded by the anchor ``indexed`` as read (or its absence).
        Rows of the old state are left to ``_fix_rows`` (deleting one that is already gone
        would fail the transaction); counters to ``_recount``."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        new = State.of(job)
        if indexed is None:
            op: Any = ("create", _anchor(job, new))
        else:
            op = ("update", _anchor(job, new), {"mode": UpdateMode.REPLACE, "etag": indexed[1],
                  "match_condition": MatchConditions.IfNotModified})  # fmt: skip
        return [op, *self._upserts(job, index_keys(job, new))]

    def _fix_rows(self, owner: str, skip: set[str]) -> int:
        """Delete index rows that no job's state calls for and rewrite rows whose data is
        stale. Each fix is one transaction guarded by the job's anchor, read before the job
        row itself: if the job changed since, the fix fails and is skipped (the job's own
        write was exact)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        fixed = 0
        seen: dict[str, tuple[Any, Job | None]] = {}
        rows = list(self._scan(owner, "x|", ANCHOR)) + list(self._scan(owner, "x|k", "x}"))
        for row in rows:
            job_id = _job_id_of(row["RowKey"], owner)
            if job_id is None or job_id in skip:
                continue
            if job_id not in seen:
                anchor = self._get(owner, ANCHOR + job_id)
                stored = self._get(owner, job_id)
                try:
                    seen[job_id] = (anchor, self._from_json(stored["data"]) if stored else None)
                except (KeyError, ValueError, TypeError):
                    continue  # a job row we cannot read: leave its rows alone
            anchor, job = seen[job_id]
            ops: list[Any] = []
            if job is None:
                # No job row (and so no write can be under way for it: ids are never reused).
                guard = {"etag": etag_of(row), "match_condition": MatchConditions.IfNotModified}
                ops.append(("delete", {"PartitionKey": owner, "RowKey": row["RowKey"]}, guard))
            elif anchor is None:
                continue  # not indexed (a concurrent write got there first); the next run
            else:
                state = _state(anchor)
                fresh = self._to_json(replace(job, result=None))
                if state != State.of(job):
                    continue  # the job moved between the two reads; its own write is exact
                if row["RowKey"] not in index_keys(job, state):
                    ops.append(("delete", {"PartitionKey": owner, "RowKey": row["RowKey"]}))
                elif row.get("d") != fresh and self._still_stale(owner, row["RowKey"], fresh):
                    ops.append(("upsert", {"PartitionKey": owner, "RowKey": row["RowKey"],
                                           "d": fresh}, {"mode": UpdateMode.REPLACE}))  # fmt: skip
                else:
                    continue
                guard = {"etag": etag_of(anchor), "match_condition": MatchConditions.IfNotModified}
                touch = {"PartitionKey": owner, "RowKey": ANCHOR + job_id}
                ops.insert(0, ("update", touch, {"mode": UpdateMode.MERGE, **guard}))
                seen.pop(job_id)  # the anchor's ETag changes: read again for the next row
            try:
                self._table.submit_transaction(ops)
                fixed += 1
            except HttpResponseError:
                continue
        return fixed

    def _still_stale(self, owner: str, row_key: str, fresh: str) -> bool:
        """Whether an index row seen stale in the scan still is (a write since fixed it)."""
        current = self._get(owner, row_key)
        return current is not None and current.get("d") != fresh

    def _get(self, owner: str, row_key: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._table.get_entity(owner, row_key)
        except ResourceNotFoundError:
            return None

    def _recount(self, owner: str, shards: dict[int, tuple[dict[str, int], str | None]]) -> int:
        """Make the shards sum to the count of anchors per status: shard 0 the totals, the
        others zero, in one transaction guarded by every shard's ETag as read before the
        anchors were (so a transition in between makes it fail: then read both again)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        for _ in range(_ATTEMPTS):
            truth: dict[str, int] = {}
            for anchor in self._scan(owner, ANCHOR, ANCHOR + "~"):
                status = _state(anchor).status
                truth[status] = truth.get(status, 0) + 1
            summed: dict[str, int] = {}
            for counts, _etag in shards.values():
                for status, n in counts.items():
                    summed[status] = summed.get(status, 0) + n
            if {s: n for s, n in summed.items() if n} == truth:
                return 0
            ops: list[Any] = []
            for n, (_counts, etag) in sorted(shards.items()):
                want = truth if n == 0 else {}
                row = {"PartitionKey": owner, "RowKey": f"y|c{n}",
                       **{_column(s): want.get(s, 0) for s in STATUSES}}  # fmt: skip
                if etag is None:
                    ops.append(("create", row))
                else:
                    guard = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
                    ops.append(("update", row, {"mode": UpdateMode.REPLACE, **guard}))
            try:
                self._table.submit_transaction(ops)
                return len(ops)
            except HttpResponseError:
                pass  # a transition counted in between: read the shards, then the anchors
            finally:
                shards = {n: self._read_counter(owner, n) for n in range(SHARDS)}
        return 0


def _state(anchor: Any) -> State:
    return State(anchor["ix_status"], int(anchor["ix_sched"]))


def _anchor(job: Job, state: State) -> dict[str, Any]:
    return {"PartitionKey": job.owner_id, "RowKey": ANCHOR + job.id,
            "ix_status": state.status, "ix_sched": str(state.sched)}  # fmt: skip


def _row_counts(row: Any) -> dict[str, int]:
    return {s: int(row.get(_column(s)) or 0) for s in STATUSES}


def _job_id_of(row_key: str, owner: str) -> str | None:
    """The job an index row belongs to (its id key, inverted back for descending orders)."""
    parts = row_key.split("|")
    if len(parts) != 5 or len(parts[4]) != 29:
        return None
    stem = parts[4].translate(_INVERT) if parts[2].endswith("d") else parts[4]
    return f"{stem}-{owner}"
