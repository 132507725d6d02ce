"""Abuse limits in Table Storage, shared by every instance.

``ratelimits``  PartitionKey = ``{rate name}:{SHA-256 of the key, 40 hex}``, RowKey = "gcra",
                ``tat`` (the GCRA theoretical arrival time, seconds since the epoch).
                -> one point read or one conditional write per check. Keys are hashed:
                no e-mail address or client address is stored in clear, and any key
                (whatever characters it holds) makes a valid PartitionKey.

Cost. The process remembers the TAT and ETag it last read or wrote for a key (bounded
LRU). A request on a key this process has seen costs ONE storage call: the write of the
new TAT guarded by the remembered ETag (insert-if-absent for a key with no row). Only
when another instance wrote the key meanwhile (412) does it read and write again. A key
this process has not seen costs a point read first. A refusal that the remembered TAT
already proves costs no call at all (a remembered TAT is never ahead of the stored one,
since TATs only grow), so a flood that is being refused does not load storage.

Purge. A row whose TAT has passed says exactly what no row says (GCRA: the key may take
its full burst), so ``purge_expired`` deletes those (each If-Match its ETag: a row hit
meanwhile stays), hourly from the timer ``purge_abuse_counters``. What stays is one row
per key seen within its rate's period (at most an hour): storage is bounded by the keys
of the last hour, not by every address ever seen. The purge is one filtered query over
the table (``tat lt now``, PartitionKey and RowKey only): a scan, in a timer, never in a
request; each run reads every row once (live ones included) and deletes the expired.
The TAT cannot be part of the key (it moves with every hit), so a range query would need
time-bucketed keys and a second read per unseen key on the request path; at an hour's
worth of keys the scan is the cheaper side. A remembered ETag of a purged row makes the
next write fail (404): it is read again, as after any lost race.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import etag_of, purge_where, put_guarded
from shared.domain.errors import ConcurrencyConflict
from shared.domain.ratelimits import Rate, decide
from shared.ports import Clock

if TYPE_CHECKING:
    from azure.data.tables import TableClient

ROW = "gcra"
REMEMBERED_KEYS = 10_000
# Each lost race means another request was counted, so a caller retries at most as often
# as there are tokens to take; past this many it is refused for one interval.
_ATTEMPTS = 10


def partition_key(rate: Rate, key: str) -> str:
    return f"{rate.name}:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"


class TableRateLimiter:
    def __init__(self, table: TableClient, clock: Clock) -> None:
        self._table = table
        self._clock = clock
        self._lock = threading.Lock()
        self._known: OrderedDict[str, tuple[float, str]] = OrderedDict()  # pk -> (tat, etag)

    def hit(self, rate: Rate, key: str) -> float:
        pk = partition_key(rate, key)
        for _ in range(_ATTEMPTS):
            now = self._clock.now().timestamp()
            state = self._recall(pk)
            if state is None:
                state = self._read(pk)
            tat, etag = state if state is not None else (None, None)
            decision = decide(rate, tat, now)
            if not decision.allowed:
                return decision.retry_after
            try:
                new_etag = self._write(pk, decision.tat, etag)
            except ConcurrencyConflict:
                self._forget(pk)  # another instance counted meanwhile: read and decide again
                continue
            self._remember(pk, decision.tat, new_etag)
            return 0.0
        # Lost race after lost race: the key is being hammered from several instances.
        return rate.interval

    def peek(self, rate: Rate, key: str) -> float:
        pk = partition_key(rate, key)
        now = self._clock.now().timestamp()
        state = self._recall(pk)
        if state is not None and not decide(rate, state[0], now).allowed:
            return decide(rate, state[0], now).retry_after  # proven without a call
        state = self._read(pk)
        return decide(rate, state[0] if state else None, now).retry_after

    def purge_expired(self) -> int:
        """Delete every row whose TAT has passed (the same as no row); how many."""
        now = self._clock.now().timestamp()
        return purge_where(self._table, "tat lt @now", {"now": float(now)})

    # -- storage ---------------------------------------------------------------------------

    def _read(self, pk: str) -> tuple[float, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(pk, ROW)
        except ResourceNotFoundError:
            self._forget(pk)
            return None
        state = (float(entity["tat"]), etag_of(entity))
        self._remember(pk, *state)
        return state

    def _write(self, pk: str, tat: float, etag: str | None) -> str:
        entity: dict[str, Any] = {"PartitionKey": pk, "RowKey": ROW, "tat": float(tat)}
        return put_guarded(self._table, entity, etag)

    # -- what this process remembers -------------------------------------------------------

    def _recall(self, pk: str) -> tuple[float, str] | None:
        with self._lock:
            return self._known.get(pk)

    def _remember(self, pk: str, tat: float, etag: str) -> None:
        with self._lock:
            self._known[pk] = (tat, etag)
            self._known.move_to_end(pk)
            while len(self._known) > REMEMBERED_KEYS:
                self._known.popitem(last=False)

    def _forget(self, pk: str) -> None:
        with self._lock:
            self._known.pop(pk, None)
