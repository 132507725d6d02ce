"""Jobs and bids in Table Storage.

Tables and keys (every request is a point read or one partition query):

``jobs``         PartitionKey = owner id, RowKey = job id (``{time-sortable}-{owner}``, so
                 that the id alone finds the row with one point read). The job as JSON
                 plus ``status``, ``kind``, ``created_at`` and ``scheduled_time`` columns.
                 The ETag is the job's version. The same partition holds the owner's
                 index rows and counters (RowKeys from ``x``, after every job id; see
                 table_job_index.py): each transition writes the job row, its index rows
                 and its counter in one entity-group transaction guarded by that ETag.
                 GET /jobs (every sort and filter) is one range query of ``limit + 1``
                 index rows; the summary one range query of the counter shards. A scan
                 of job rows alone is ``RowKey lt 'x'``.
``openjobs``     PartitionKey = "open", RowKey = ``{inverted created}|{id}``: pending,
                 unassigned jobs (GET /jobs/open), a copy rewritten whenever the job
                 enters, changes inside, or leaves that state.
``assignedjobs`` PartitionKey = assignee id, RowKey = ``{inverted created}|{id}``: a copy
                 rewritten on every change of an assigned job.
``duejobs``      PartitionKey = "due", RowKey = ``{scheduled}|{owner}|{id}``: jobs further
                 ahead than a queue message can wait; swept by ``enqueue_due_jobs``.
``bids``         PartitionKey = job id, RowKey = bid id (time-sortable): all bids of a job
                 in one query; accepting rewrites them in one transaction per 100.
``bidsentiment`` PartitionKey = "pending", RowKey = ``{job id}|{bid id}``: comments not
                 yet scored.

The copies in ``openjobs`` and ``assignedjobs`` are written after the job itself; if that
second write fails, the next change of the job rewrites them (they converge).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import (
    etag_of,
    from_iso,
    key_range_page,
    to_iso,
)
from shared.domain.jobs import Bid, Fee, Job, JobResult, owner_in_job_id
from shared.ports import Versioned

if TYPE_CHECKING:
    from azure.data.tables import TableClient

MAX_TIME = 10**13  # ms; inverted times sort newest first
# A snapshot travels in a queue message (64 KiB once base64-encoded): larger jobs are read.
SNAPSHOT_MAX_CHARS = 16 * 1024


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
    return json.dumps(
        {
            "id": job.id, "owner_id": job.owner_id, "name": job.name,
            "description": job.description, "kind": job.kind, "params": job.params,
            "status": job.status, "scheduled_time": to_iso(job.scheduled_time),
            "created_at": to_iso(job.created_at), "updated_at": to_iso(job.updated_at),
            "attempts": job.attempts, "max_attempts": job.max_attempts,
            "assignee_id": job.assignee_id, "last_error": job.last_error,
            "dispatch_id": job.dispatch_id, "lease_until": to_iso(job.lease_until),
            "result": result,
        },
        separators=(",", ":"),
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
    def __init__(self, tables: dict[str, TableClient]) -> None:
        from shared.adapters.table_job_index import JobIndex

        self._jobs = tables["jobs"]
        self.index = JobIndex(self._jobs, job_to_json, job_from_json)
        self._open = tables["openjobs"]
        self._assigned = tables["assignedjobs"]
        self._due = tables["duejobs"]

    def create(self, job: Job) -> str:
        etag = self.index.create(_entity(job), job)  # the row, its index rows and count
        self.project(job, None)
        return etag

    def save(self, job: Job, previous: Versioned[Job]) -> str:
        """Write ``job`` if its stored version is still ``previous`` (ConcurrencyConflict)."""
        etag = self.index.save(_entity(job), job, previous)  # one transaction, see JobIndex
        self.project(job, previous.value)
        return etag

    def project(self, job: Job, previous: Job | None) -> None:
        """Rewrite the job's copies in the open and assigned lists (idempotent)."""
        from azure.core.exceptions import ResourceNotFoundError

        key = f"{_inv(job.created_at)}|{job.id}"
        if job.is_open:
            copy = {"PartitionKey": "open", "RowKey": key, "owner_id": job.owner_id}
            self._open.upsert_entity({**copy, "data": job_to_json(job)})
        elif previous is None or previous.is_open:
            with contextlib.suppress(ResourceNotFoundError):
                self._open.delete_entity("open", key)
        if job.assignee_id:
            self._assigned.upsert_entity(
                {"PartitionKey": job.assignee_id, "RowKey": key, "data": job_to_json(job)}
            )

    def get(self, owner_id: str, job_id: str) -> Versioned[Job] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._jobs.get_entity(owner_id, job_id)
        except ResourceNotFoundError:
            return None
        return Versioned(job_from_json(entity["data"]), etag_of(entity))

    def find(self, job_id: str) -> Versioned[Job] | None:
        owner = owner_in_job_id(job_id)
        return self.get(owner, job_id) if owner else None

    @staticmethod
    def snapshot(found: Versioned[Job]) -> dict[str, str] | None:
        """The row as stored at version ``found.etag``, to travel in a queue message; None
        when too large. ``restore`` gives back exactly what ``get`` would have read then:
        a write guarded by that ETag succeeds only if nothing changed since."""
        data = job_to_json(found.value)
        if len(data) > SNAPSHOT_MAX_CHARS:
            return None
        return {"etag": found.etag, "data": data}

    @staticmethod
    def restore(snapshot: Any) -> Versioned[Job] | None:
        """``snapshot``'s job and version, or None for anything that is not one."""
        if not isinstance(snapshot, dict):
            return None
        etag, data = snapshot.get("etag"), snapshot.get("data")
        if not isinstance(etag, str) or not isinstance(data, str):
            return None
        try:
            return Versioned(job_from_json(data), etag)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

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
        rows, next_cursor = key_range_page(
            self._open, "PartitionKey eq 'open' and owner_id ne @me", {"me": exclude_owner},
            limit, cursor,
        )  # fmt: skip
        return [job_from_json(r["data"]) for r in rows], next_cursor

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


class TableBidRepository:
    def __init__(self, bids: TableClient, pending: TableClient) -> None:
        self._bids = bids
        self._pending = pending

    def add(self, bid: Bid) -> None:
        self._bids.create_entity(_bid_entity(bid))
        self._pending.upsert_entity(
            {"PartitionKey": "pending", "RowKey": f"{bid.job_id}|{bid.id}",
             "job_id": bid.job_id, "bid_id": bid.id}
        )  # fmt: skip

    def list_for_job(self, job_id: str, bidder_id: str | None = None) -> list[Bid]:
        query = "PartitionKey eq @job"
        parameters: dict[str, Any] = {"job": job_id}
        if bidder_id:
            query += " and bidder_id eq @bidder"
            parameters["bidder"] = bidder_id
        return [_bid(e) for e in self._bids.query_entities(query, parameters=parameters)]

    def get(self, job_id: str, bid_id: str) -> Bid | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _bid(self._bids.get_entity(job_id, bid_id))
        except ResourceNotFoundError:
            return None

    def settle(self, job_id: str, accepted_id: str) -> list[Bid]:
        """Accept one bid and reject the others, 100 rows per transaction."""
        bids = self.list_for_job(job_id)
        updated = [replace(b, status="accepted" if b.id == accepted_id else "rejected")
                   for b in bids]  # fmt: skip
        for chunk in _chunks(updated, 100):
            self._bids.submit_transaction([("upsert", _bid_entity(b)) for b in chunk])
        return updated

    def set_sentiment(self, job_id: str, bid_id: str, sentiment: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        self._bids.update_entity(
            {"PartitionKey": job_id, "RowKey": bid_id, "sentiment": json.dumps(sentiment)},
            mode=UpdateMode.MERGE,
        )

    def pending_sentiment(self, limit: int) -> list[tuple[str, str]]:
        found = []
        for entity in self._pending.query_entities(
            "PartitionKey eq 'pending'", results_per_page=limit
        ):
            found.append((str(entity["job_id"]), str(entity["bid_id"])))
            if len(found) >= limit:
                break
        return found

    def clear_pending(self, keys: Iterable[tuple[str, str]]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        for job_id, bid_id in keys:
            with contextlib.suppress(ResourceNotFoundError):
                self._pending.delete_entity("pending", f"{job_id}|{bid_id}")
