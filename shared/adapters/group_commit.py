"""Group commit: concurrent upserts into one partition share entity-group transactions.

Every job's dispatch row goes to one partition (``jobdispatch``/``watch``, the open list
and the sweep's work list), written before the job itself. Under load the requests of a
process each wrote theirs alone: one storage call per job, all to the same partition. Here
a writer that finds no transaction in flight sends its row at once (alone: the plain
upsert, as before); rows that arrive while a transaction is in flight wait for it and go
together in the next one, up to the service's limit of 100 operations (and a byte bound
well under its 4 MiB). No timer, no added wait: a lone writer pays nothing, and a busy
process sends one transaction for as many rows as arrived during the last one.

Each writer returns only when its own row is stored, so "written before the job" holds as
before. A transaction is atomic: if one is refused (a row too large, the partition busy),
nothing of it was applied, and each of its rows is sent again alone, so a bad row fails
its own writer and nobody else's. Two writes of the same row never share a transaction
(the service refuses a transaction that names an entity twice): the later one waits for
the next. Leadership passes on after every transaction to the oldest waiting writer, so
no request's thread works for others indefinitely.

The pattern is the group commit of database logs (one flush for the commits that queued
behind the one in flight); the transaction itself goes through the client's own
``submit_transaction`` (table_batch.py), so errors are the SDK's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables import TableClient

MAX_OPERATIONS = 100  # per entity-group transaction (the service's limit)
MAX_BYTES = 1024 * 1024  # of string values per transaction: a quarter of the 4 MiB limit


def _size(entity: dict[str, Any]) -> int:
    return sum(len(v) if isinstance(v, str) else 16 for v in entity.values())


@dataclass(eq=False)
class _Write:
    entity: dict[str, Any]
    key: tuple[str, str]
    weight: int
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    stored: bool = False
    lead: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Replace-mode upserts into ``table``, one partition, shared transactions.

    ``sent`` counts the storage calls made (transactions and single upserts) and ``rows``
    the rows written (tests read them)."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._lock = threading.Lock()
        self._waiting: list[_Write] = []
        self._leading = False
        self.sent = 0
        self.rows = 0

    def upsert(self, entity: dict[str, Any]) -> None:
        """Store ``entity`` (insert or replace); return when it is stored, or raise what
        storing it alone raised."""
        # Read here, in the writer's own thread: a malformed entity fails its own call
        # and can never stop a leader holding others' writes.
        write = _Write(entity, (str(entity["PartitionKey"]), str(entity["RowKey"])), _size(entity))
        with self._lock:
            self._waiting.append(write)
            if not self._leading:
                self._leading = write.lead = True
        while not write.lead and not write.done:
            write.wake.wait()
            write.wake.clear()
        if not write.done:
            self._lead()
        if write.error is not None:
            raise write.error

    def _take(self) -> list[_Write]:
        """The next transaction's writes, oldest first (under the lock)."""
        batch: list[_Write] = []
        keys: set[tuple[str, str]] = set()
        size = 0
        for write in self._waiting:
            if write.key in keys or (batch and size + write.weight > MAX_BYTES):
                continue
            batch.append(write)
            keys.add(write.key)
            size += write.weight
            if len(batch) == MAX_OPERATIONS:
                break
        for write in batch:
            self._waiting.remove(write)
        return batch

    def _lead(self) -> None:
        with self._lock:
            batch = self._take()
        try:
            self._send(batch)
        finally:
            with self._lock:
                if self._waiting:  # the oldest waiting writer sends the next one
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False
            for write in batch:
                if not write.stored and write.error is None:  # this thread was interrupted
                    write.error = RuntimeError("row not stored: its writer was interrupted")
                write.done = True
                write.wake.set()

    def _send(self, batch: list[_Write]) -> None:
        from azure.data.tables import UpdateMode

        if len(batch) > 1:
            self.sent += 1
            try:
                self._table.submit_transaction(
                    [("upsert", w.entity, {"mode": UpdateMode.REPLACE}) for w in batch]
                )
            except Exception:  # noqa: BLE001, S110 - nothing was applied: each alone, below
                pass
            else:
                self.rows += len(batch)
                for write in batch:
                    write.stored = True
                return
        for write in batch:
            self.sent += 1
            try:
                self._table.upsert_entity(write.entity, mode=UpdateMode.REPLACE)
            except Exception as exc:  # noqa: BLE001 - handed to its own writer
                write.error = exc
            else:
                self.rows += 1
                write.stored = True
