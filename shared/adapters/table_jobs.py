"""Jobs and bids in Table Storage.

Tables and keys (every request is a point read or one partition query):

``jobs``         PartitionKey = owner id, RowKey = job id (``{time-sortable}-{owner}``, so
                 that the id alone finds the row with one point read). The job as JSON
                 plus ``status``, ``kind``, ``created_at``, ``scheduled_time`` and ``ix``
                 columns. The ETag is the job's version. The same partition holds the
                 owner's list rows and count slots (RowKeys from ``l|``, after every job
                 id; see table_job_index.py): each transition writes the job row, its 3
                 list rows and its count slot in one entity-group transaction guarded by
                 that ETag. GET /jobs (every sort and filter) is one range query; the
                 summary one range query of the count slots. Job rows: ``RowKey lt ':'``.
``assignedjobs`` PartitionKey = assignee id, RowKey = ``{inverted created}|{id}``: a copy
                 rewritten on every change of an assigned job.
``duejobs``      PartitionKey = "due", RowKey = ``{scheduled}|{owner}|{id}``: jobs further
                 ahead than a queue message can wait; swept by ``enqueue_due_jobs``.
``jobdispatch``  PartitionKey = "watch", RowKey = ``{scheduled + grace}|{owner}|{id}|{dispatch}``
                 plus ``next_check``, ``open`` and ``data`` (the job as JSON): one row per
                 dispatch, written before the job (or its new dispatch). It is also the
                 open list (GET /jobs/open): rows with ``open`` whose time has not come,
                 soonest first. Starting a job writes nothing here (its time has come, so
                 the open list no longer shows it); the sweep reads the rows whose time
                 plus grace has passed (one range query, oldest first), asks each owner's
                 list rows in one range query which are still pending with that dispatch,
                 sends their message again and deletes the others, 100 to a transaction:
                 a lost message costs a delay, never the job.
``bids``         PartitionKey = job id, RowKey = bid id (time-sortable): a job's bids in
                 the order placed, one range query per page (RowKey < "~"). Beside them,
                 in the same partition: RowKey ``~bidder|{bidder id}`` (one per bidder:
                 one open bid each) and ``~count`` (``open``: the job's bids, at most
                 100). Placing a bid is one query of those two rows and ONE transaction
                 (bid + marker insert-if-absent + count under its ETag): a second bid of
                 one bidder or a 101st bid cannot slip in between concurrent requests.
                 Accepting writes the accepted bid only (one update); the others stay
                 ``open`` in storage and read as ``rejected`` once the job has an
                 assignee (``Bid.settled_by``).
``bidsentiment`` PartitionKey = "pending", RowKey = ``{bid id}|{job id}`` (oldest first):
                 comments not yet scored, with the comment and ``claimed_until``; a scoring
                 run claims up to 10 at once in one ETag-guarded transaction, so two runs
                 never score the same comment.

The copies in ``assignedjobs`` and the open-list fields of ``jobdispatch`` are rewritten
after the job itself; if that second write fails, the next change of the job rewrites them
(they converge). ``openjobs`` (the open list before issue 17) is read only by the
migration (``python -m devtools.job_index backfill``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import (
    decode_cursor,
    etag_of,
    first_rows,
    from_iso,
    key_range_page,
    to_iso,
)
from shared.domain.errors import Conflict
from shared.domain.jobs import (
    DISPATCH_GRACE,
    MAX_OPEN_BIDS_PER_JOB,
    Bid,
    BidExists,
    Fee,
    Job,
    JobResult,
    PendingComment,
    TooManyBids,
    compact_json,
    owner_in_job_id,
)
from shared.ports import Clock, Versioned

if TYPE_CHECKING:
    from azure.data.tables import TableClient

MAX_TIME = 10**13  # ms; inverted times sort newest first
# A snapshot travels in a queue message (64 KiB once base64-encoded, so 48 KiB of UTF-8):
# jobs whose row is larger than this (in UTF-8 bytes) are read instead.
SNAPSHOT_MAX_BYTES = 16 * 1024


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _inv(value: datetime) -> str:
    return f"{MAX_TIME - int(value.timestamp() * 1000):013d}"


def job_to_json(job: Job) -> str:
    result = None
    if job.result is not None:
        result = {
            "output": job.result.output,
            "error_message": job.result.error_message,
            "completed_at": to_iso(job.result.completed_at),
        }
        if job.result.output_ref:
            result["output_ref"] = job.result.output_ref
    return compact_json(
        {
            "id": job.id, "owner_id": job.owner_id, "name": job.name,
            "description": job.description, "kind": job.kind, "params": job.params,
            "status": job.status, "scheduled_time": to_iso(job.scheduled_time),
            "created_at": to_iso(job.created_at), "updated_at": to_iso(job.updated_at),
            "attempts": job.attempts, "max_attempts": job.max_attempts,
            "assignee_id": job.assignee_id, "last_error": job.last_error,
            "dispatch_id": job.dispatch_id, "lease_until": to_iso(job.lease_until),
            "result": result,
        }
    )  # fmt: skip


def job_from_json(text: str) -> Job:
    data = json.loads(text)
    result = data.get("result")
    return Job(
        id=data["id"], owner_id=data["owner_id"], name=data["name"],
        description=data["description"], kind=data["kind"], params=data["params"],
        status=data["status"], scheduled_time=_required(data["scheduled_time"]),
        created_at=_required(data["created_at"]), updated_at=_required(data["updated_at"]),
        attempts=data["attempts"], max_attempts=data["max_attempts"],
        assignee_id=data.get("assignee_id"), last_error=data.get("last_error"),
        dispatch_id=data.get("dispatch_id") or "", lease_until=from_iso(data.get("lease_until")),
        result=JobResult(
            output=result["output"], error_message=result["error_message"],
            completed_at=_required(result["completed_at"]),
            output_ref=result.get("output_ref"),
        ) if result else None,
    )  # fmt: skip


def _required(value: Any) -> datetime:
    parsed = from_iso(value)
    if parsed is None:
        raise ValueError("missing time")
    return parsed


def _entity(job: Job) -> dict[str, Any]:
    return {
        "PartitionKey": job.owner_id,
        "RowKey": job.id,
        "status": job.status,
        "kind": job.kind,
        "created_at": to_iso(job.created_at),
        "scheduled_time": to_iso(job.scheduled_time),
        "data": job_to_json(job),
    }


class TableJobRepository:
    def __init__(self, tables: dict[str, TableClient], clock: Clock | None = None) -> None:
        from shared.adapters.group_commit import GroupCommit
        from shared.adapters.table_job_index import JobIndex

        self._jobs = tables["jobs"]
        self.index = JobIndex(self._jobs, job_to_json, job_from_json)
        self._open = tables["openjobs"]
        self._assigned = tables["assignedjobs"]
        self._due = tables["duejobs"]
        self._watch = tables["jobdispatch"]
        self.watches = GroupCommit(self._watch)  # concurrent creates share transactions
        self._clock = clock

    def create(self, job: Job) -> str:
        return self.index.create(_entity(job), job)  # the row, its list rows and count

    def save(self, job: Job, previous: Versioned[Job]) -> str:
        """Write ``job`` if its stored version is still ``previous`` (ConcurrencyConflict)."""
        etag = self.index.save(_entity(job), job, previous)  # one transaction, see JobIndex
        self.project(job, previous.value)
        return etag

    def project(self, job: Job, previous: Job) -> None:
        """After a transition: the open-list fields of the dispatch row, the assigned copy.

        A started or finished job needs nothing: its time has come, so the open list no
        longer shows its dispatch row (and the sweep deletes it)."""
        if job.status == "pending" and job.dispatch_id == previous.dispatch_id:
            self.watch(job)  # edited, assigned: the open list shows what it is now
        elif previous.status == "pending" and previous.dispatch_id != job.dispatch_id:
            self._close(previous)  # cancelled or moved: the old dispatch leaves the list
        if job.assignee_id:
            self._assigned.upsert_entity(
                {"PartitionKey": job.assignee_id, "RowKey": f"{_inv(job.created_at)}|{job.id}",
                 "data": job_to_json(job)}
            )  # fmt: skip

    def _close(self, job: Job) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with contextlib.suppress(ResourceNotFoundError):
            self._watch.update_entity(
                {"PartitionKey": "watch", "RowKey": self._watch_key(job), "open": False},
                mode=UpdateMode.MERGE,
            )

    def get(self, owner_id: str, job_id: str) -> Versioned[Job] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._jobs.get_entity(owner_id, job_id)
        except ResourceNotFoundError:
            return None
        job = job_from_json(entity["data"])
        self.index.note(entity, job)
        return Versioned(job, etag_of(entity))

    def find(self, job_id: str) -> Versioned[Job] | None:
        owner = owner_in_job_id(job_id)
        return self.get(owner, job_id) if owner else None

    def snapshot(self, found: Versioned[Job]) -> dict[str, str] | None:
        """The row as stored at version ``found.etag``, to travel in a queue message; None
        when too large. ``restore`` gives back exactly what ``get`` would have read then:
        a write guarded by that ETag succeeds only if nothing changed since."""
        data = job_to_json(found.value)
        if len(data.encode("utf-8")) > SNAPSHOT_MAX_BYTES:
            return None
        snapshot = {"etag": found.etag, "data": data}
        if self.index.trusted(found.etag):
            snapshot["ix"] = "1"  # written with its lists (a message of an older version: no)
        return snapshot

    def restore(self, snapshot: Any) -> Versioned[Job] | None:
        """``snapshot``'s job and version, or None for anything that is not one."""
        if not isinstance(snapshot, dict):
            return None
        etag, data = snapshot.get("etag"), snapshot.get("data")
        if not isinstance(etag, str) or not isinstance(data, str):
            return None
        try:
            found = Versioned(job_from_json(data), etag)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        if snapshot.get("ix") != "1":
            self.index.suspect(etag)
        return found

    # -- lists ------------------------------------------------------------------------

    def list_own(
        self, owner_id: str, *, status: str | None, kind: str | None, sort: str,
        limit: int, cursor: str | None,
    ) -> tuple[list[Job], str | None]:  # fmt: skip
        """One range query of the owner's index rows (table_job_index.py)."""
        return self.index.page(
            owner_id, status=status, kind=kind, sort=sort, limit=limit, cursor=cursor
        )

    def list_open(
        self, exclude_owner: str, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        """Dispatch rows with ``open`` whose time has not come, soonest first."""
        now = self._clock.now() if self._clock is not None else datetime.now(UTC)
        since = f"{to_iso(now + DISPATCH_GRACE)}"
        after = decode_cursor(cursor, "")
        page, next_cursor = first_rows(
            self._watch,
            "PartitionKey eq 'watch' and RowKey ge @since and RowKey gt @after"
            " and open eq true and owner_id ne @me",
            {"since": since, "after": after or "", "me": exclude_owner}, limit, ["RowKey", "data"],
        )  # fmt: skip
        return [job_from_json(r["data"]) for r in page], next_cursor

    def list_assigned(
        self, assignee_id: str, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        rows, next_cursor = key_range_page(
            self._assigned, "PartitionKey eq @me", {"me": assignee_id}, limit, cursor
        )
        return [job_from_json(r["data"]) for r in rows], next_cursor

    def status_counts(self, owner_id: str) -> dict[str, int]:
        """The owner's counter shards, one range query (table_job_index.py)."""
        return self.index.counts(owner_id)

    # -- the due index -----------------------------------------------------------------

    def add_due(self, job: Job) -> None:
        self._due.upsert_entity({
            "PartitionKey": "due",
            "RowKey": f"{to_iso(job.scheduled_time)}|{job.owner_id}|{job.id}",
            "owner_id": job.owner_id, "job_id": job.id, "dispatch_id": job.dispatch_id,
        })  # fmt: skip

    def due_before(self, moment: datetime, limit: int = 500) -> list[dict[str, Any]]:
        entities = self._due.query_entities(
            "PartitionKey eq 'due' and RowKey lt @until",
            parameters={"until": f"{to_iso(moment)}}}"},
            results_per_page=limit,
        )
        return [dict(e) for _, e in zip(range(limit), entities, strict=False)]

    def remove_due(self, row_key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self._due.delete_entity("due", row_key)

    # -- the dispatch watch --------------------------------------------------------------

    @staticmethod
    def _watch_key(job: Job) -> str:
        due = to_iso(job.scheduled_time + DISPATCH_GRACE)
        return f"{due}|{job.owner_id}|{job.id}|{job.dispatch_id}"

    def watch(self, job: Job) -> None:
        """The dispatch row of ``job``'s current dispatch (also its open-list entry),
        stored when this returns; rows written at the same moment by other threads of
        this process go in the same transaction (group_commit.py)."""
        key = self._watch_key(job)
        self.watches.upsert({
            "PartitionKey": "watch", "RowKey": key, "owner_id": job.owner_id,
            "job_id": job.id, "dispatch_id": job.dispatch_id, "next_check": key.split("|")[0],
            "sched_ms": str(_ms(job.scheduled_time)), "open": job.is_open,
            "data": job_to_json(replace(job, result=None)),
        })  # fmt: skip

    def unwatch(self, job: Job) -> None:
        self.drop_watch(self._watch_key(job))

    def overdue(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        moment = to_iso(now)
        entities = self._watch.query_entities(
            "PartitionKey eq 'watch' and RowKey lt @until and next_check le @now",
            parameters={"until": f"{moment}}}", "now": moment},
            results_per_page=min(limit, 1000),
        )
        return [dict(e) for _, e in zip(range(limit), entities, strict=False)]

    def recheck_later(self, row_key: str, when: datetime) -> None:
        from azure.data.tables import UpdateMode

        self._watch.update_entity(
            {"PartitionKey": "watch", "RowKey": row_key, "next_check": to_iso(when)},
            mode=UpdateMode.MERGE,
        )

    def drop_watch(self, row_key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self._watch.delete_entity("watch", row_key)

    def drop_watches(self, row_keys: list[str]) -> None:
        """Delete dispatch rows, 100 to a transaction (one by one if a batch fails)."""
        from azure.data.tables import TableTransactionError

        for chunk in _chunks(row_keys, 100):
            try:
                self._watch.submit_transaction(
                    [("delete", {"PartitionKey": "watch", "RowKey": key}) for key in chunk]
                )
            except TableTransactionError:
                for key in chunk:
                    self.drop_watch(key)

    def still_pending(self, owner_id: str, entries: list[dict[str, Any]]) -> set[str]:
        """The RowKeys of the dispatch rows (of one owner) whose job is still pending with
        that dispatch: one range query of the owner's scheduled-time list rows over the
        entries' times; a point read only for a job not found there (moved, not listed)."""
        from shared.adapters.table_job_index import ORDERS

        times = {e["RowKey"]: _sched_ms(e) for e in entries}
        found: dict[str, str] = {}  # job id -> dispatch id of the pending ones
        seen: set[str] = set()
        prefix = f"l|{ORDERS['scheduled_time']}|"
        for row in self._jobs.query_entities(
            "PartitionKey eq @pk and RowKey ge @start and RowKey lt @end",
            parameters={"pk": owner_id, "start": f"{prefix}{min(times.values()):015d}",
                        "end": f"{prefix}{max(times.values()) + 1:015d}"},
            select=["RowKey", "d"], results_per_page=1000,
        ):  # fmt: skip
            job = job_from_json(row["d"])
            seen.add(job.id)
            if job.status == "pending":
                found[job.id] = job.dispatch_id
        pending: set[str] = set()
        for entry in entries:
            job_id, dispatch = str(entry["job_id"]), str(entry["dispatch_id"])
            if job_id not in seen:
                stored = self.get(owner_id, job_id)
                if stored is not None and stored.value.status == "pending":
                    found[job_id] = stored.value.dispatch_id
            if found.get(job_id) == dispatch:
                pending.add(entry["RowKey"])
        return pending


def _sched_ms(entry: dict[str, Any]) -> int:
    """The scheduled time (ms) of a dispatch row (older rows: from its key)."""
    if entry.get("sched_ms"):
        return int(entry["sched_ms"])
    moment = _required(str(entry["RowKey"]).split("|")[0]) - DISPATCH_GRACE
    return _ms(moment)


# -- bids ----------------------------------------------------------------------------


def _bid_entity(bid: Bid) -> dict[str, Any]:
    return {
        "PartitionKey": bid.job_id,
        "RowKey": bid.id,
        "bidder_id": bid.bidder_id,
        "comment": bid.comment,
        "proposed_deadline": bid.proposed_deadline.isoformat(),
        "fee_amount": str(bid.fee.amount),
        "fee_currency": bid.fee.currency,
        "status": bid.status,
        "created_at": to_iso(bid.created_at),
        "sentiment": json.dumps(bid.sentiment) if bid.sentiment else None,
    }


def _bid(entity: Any) -> Bid:
    sentiment = entity.get("sentiment")
    return Bid(
        id=entity["RowKey"],
        job_id=entity["PartitionKey"],
        bidder_id=entity["bidder_id"],
        comment=entity["comment"],
        proposed_deadline=date.fromisoformat(entity["proposed_deadline"]),
        fee=Fee(Decimal(entity["fee_amount"]), entity["fee_currency"]),
        status=entity["status"],
        created_at=_required(entity["created_at"]),
        sentiment=json.loads(sentiment) if sentiment else None,
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _comment_key(job_id: str, bid_id: str) -> str:
    return f"{bid_id}|{job_id}"


BIDS_END = "~"  # bid ids are digits and hex: every bid's RowKey sorts before this
COUNT_ROW = "~count"
_BID_ATTEMPTS = 20  # lost races on the count row before a bid gives up (409)


def _bidder_row(bidder_id: str) -> str:
    return f"~bidder|{bidder_id}"


class TableBidRepository:
    def __init__(self, bids: TableClient, pending: TableClient) -> None:
        self._bids = bids
        self._pending = pending

    def add(self, bid: Bid, queued_at: datetime) -> None:
        """The bid, if its bidder has none on the job and the job has fewer than 100 (else
        BidExists / TooManyBids); then its comment queued for a sentiment score."""
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError

        marker = _bidder_row(bid.bidder_id)
        for _ in range(_BID_ATTEMPTS):
            rows = {
                e["RowKey"]: e for e in self._bids.query_entities(
                    "PartitionKey eq @job and ( RowKey eq @count or RowKey eq @marker )",
                    parameters={"job": bid.job_id, "count": COUNT_ROW, "marker": marker},
                )
            }  # fmt: skip
            if marker in rows:
                raise BidExists("You already have an open bid on this job")
            counter = rows.get(COUNT_ROW)
            count = int(counter["open"]) if counter is not None else 0
            if count >= MAX_OPEN_BIDS_PER_JOB:
                raise TooManyBids()
            counted = {"PartitionKey": bid.job_id, "RowKey": COUNT_ROW, "open": count + 1}
            count_operation: tuple[Any, ...] = (
                ("create", counted) if counter is None else
                ("update", counted, {"etag": etag_of(counter),
                                     "match_condition": MatchConditions.IfNotModified})
            )  # fmt: skip
            try:
                self._bids.submit_transaction([
                    ("create", _bid_entity(bid)),
                    ("create", {"PartitionKey": bid.job_id, "RowKey": marker, "bid_id": bid.id}),
                    count_operation,
                ])  # fmt: skip
            except TableTransactionError:
                continue  # another bid came first (count changed, or this bidder's): again
            break
        else:
            raise Conflict("The job's bids kept changing; try again")
        self._pending.upsert_entity({
            "PartitionKey": "pending", "RowKey": _comment_key(bid.job_id, bid.id),
            "job_id": bid.job_id, "bid_id": bid.id, "comment": bid.comment,
            "queued_at": to_iso(queued_at), "claimed_until": "",
        })  # fmt: skip

    def list_for_job(self, job_id: str, bidder_id: str | None = None) -> list[Bid]:
        query = "PartitionKey eq @job and RowKey lt @end"
        parameters: dict[str, Any] = {"job": job_id, "end": BIDS_END}
        if bidder_id:
            query += " and bidder_id eq @bidder"
            parameters["bidder"] = bidder_id
        return [_bid(e) for e in self._bids.query_entities(query, parameters=parameters)]

    def page_for_job(
        self, job_id: str, bidder_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Bid], str | None]:
        query = "PartitionKey eq @job and RowKey lt @end"
        parameters: dict[str, Any] = {"job": job_id, "end": BIDS_END}
        if bidder_id:
            query += " and bidder_id eq @bidder"
            parameters["bidder"] = bidder_id
        rows, next_cursor = key_range_page(self._bids, query, parameters, limit, cursor)
        return [_bid(e) for e in rows], next_cursor

    def get(self, job_id: str, bid_id: str) -> Bid | None:
        from azure.core.exceptions import ResourceNotFoundError

        if not bid_id or bid_id >= BIDS_END:
            return None
        try:
            return _bid(self._bids.get_entity(job_id, bid_id))
        except ResourceNotFoundError:
            return None

    def accept(self, job_id: str, bid_id: str) -> None:
        """Mark one bid accepted (one write; the others read as rejected: Bid.settled_by)."""
        from azure.data.tables import UpdateMode

        self._bids.update_entity(
            {"PartitionKey": job_id, "RowKey": bid_id, "status": "accepted"}, mode=UpdateMode.MERGE
        )

    # -- comments waiting for a sentiment score --------------------------------------------

    def claimable_comments(self, now: datetime, limit: int) -> list[Versioned[PendingComment]]:
        found: list[Versioned[PendingComment]] = []
        for entity in self._pending.query_entities(
            "PartitionKey eq 'pending' and claimed_until lt @now",
            parameters={"now": to_iso(now)}, results_per_page=min(limit, 1000),
        ):  # fmt: skip
            found.append(Versioned(PendingComment(
                job_id=str(entity["job_id"]), bid_id=str(entity["bid_id"]),
                comment=str(entity.get("comment") or ""),
                queued_at=from_iso(entity.get("queued_at")) or now,
            ), etag_of(entity)))  # fmt: skip
            if len(found) >= limit:
                break
        return found

    def claim_comments(
        self, items: list[Versioned[PendingComment]], until: datetime
    ) -> list[Versioned[PendingComment]]:
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        claimed: list[Versioned[PendingComment]] = []
        for chunk in _chunks(items, 100):
            operations: list[Any] = [
                ("update",
                 {"PartitionKey": "pending", "RowKey": _comment_key(i.value.job_id, i.value.bid_id),
                  "claimed_until": to_iso(until)},
                 {"mode": UpdateMode.MERGE, "etag": i.etag,
                  "match_condition": MatchConditions.IfNotModified})
                for i in chunk
            ]  # fmt: skip
            try:
                results = self._pending.submit_transaction(operations)
            except TableTransactionError as exc:
                if exc.status_code in (404, 409, 412):
                    return []  # another run claimed (or finished) one of them first
                raise
            claimed += [Versioned(i.value, etag_of(r)) for i, r in zip(chunk, results, strict=True)]
        return claimed

    def release_comments(self, claimed: list[Versioned[PendingComment]]) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        for item in claimed:  # one by one: a comment scored or claimed since stays as it is
            with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                self._pending.update_entity(
                    {"PartitionKey": "pending",
                     "RowKey": _comment_key(item.value.job_id, item.value.bid_id),
                     "claimed_until": ""},
                    mode=UpdateMode.MERGE, etag=item.etag,
                    match_condition=MatchConditions.IfNotModified,
                )  # fmt: skip

    def set_sentiments(self, scores: list[tuple[str, str, dict[str, Any]]]) -> None:
        by_job: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for job_id, bid_id, sentiment in scores:
            by_job.setdefault(job_id, []).append((bid_id, sentiment))
        for job_id, items in by_job.items():  # a job's bids share a partition: one batch
            for chunk in _chunks(items, 100):
                self._bids.submit_transaction([
                    ("update", {"PartitionKey": job_id, "RowKey": bid_id,
                                "sentiment": json.dumps(sentiment)}, {"mode": "merge"})
                    for bid_id, sentiment in chunk
                ])  # fmt: skip

    def clear_comments(self, keys: list[tuple[str, str]]) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        for chunk in _chunks(keys, 100):
            try:
                self._pending.submit_transaction(
                    [("delete", {"PartitionKey": "pending", "RowKey": _comment_key(j, b)})
                     for j, b in chunk]
                )  # fmt: skip
            except TableTransactionError:
                for job_id, bid_id in chunk:  # one was gone already: delete the rest singly
                    with contextlib.suppress(ResourceNotFoundError):
                        self._pending.delete_entity("pending", _comment_key(job_id, bid_id))
