"""The provider request budget in Table Storage, shared by every instance.

``upstreambudget``  PartitionKey = the budget key (``weather:{provider}``), RowKey = "window":
                    ``claims`` (JSON list of the claim times of the last window, seconds
                    since the epoch) and ``blocked_until`` (a provider's 429).
                    -> a claim is one point read and one ETag-guarded write (insert-if-absent
                    for a key with no row); a lost race (412/409) reads and decides again.

A claim whose write took longer than the margin to come back is dropped (it stays counted)
and taken again: the request it allowed could otherwise leave later than the window's
margin allows (shared/domain/upstream_budget.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import etag_of, put_guarded
from shared.domain.errors import ConcurrencyConflict
from shared.domain.upstream_budget import BudgetState, block, decide_claim
from shared.ports import Clock

if TYPE_CHECKING:
    from azure.data.tables import TableClient

ROW = "window"
DEFAULT_MARGIN_SECONDS = 2.0
_ATTEMPTS = 50  # lost races in a row before a claim gives up (answers a short wait)


class TableRequestBudget:
    def __init__(
        self,
        table: TableClient,
        clock: Clock,
        limit: int,
        window_seconds: float = 60.0,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
    ) -> None:
        self._table = table
        self._clock = clock
        self.limit = limit
        self.margin = margin_seconds
        self.window = window_seconds + margin_seconds

    def claim(self, key: str) -> float:
        for _ in range(_ATTEMPTS):
            state, etag = self._read(key)
            now = self._clock.now().timestamp()
            decision = decide_claim(state, now, self.limit, self.window)
            if not decision.allowed:
                return decision.wait
            try:
                self._write(key, decision.state, etag)
            except ConcurrencyConflict:
                continue
            if self._clock.now().timestamp() - decision.state.claims[-1] <= self.margin:
                return 0.0
            # Confirmed too late to send within the margin: the claim stays, take another.
        return self.window / self.limit

    def block(self, key: str, seconds: float) -> None:
        until = self._clock.now().timestamp() + max(0.0, seconds)
        for _ in range(_ATTEMPTS):
            state, etag = self._read(key)
            if state.blocked_until >= until:
                return
            try:
                self._write(key, block(state, until), etag)
                return
            except ConcurrencyConflict:
                continue
        raise ConcurrencyConflict(f"could not block the budget {key!r}")

    def _read(self, key: str) -> tuple[BudgetState, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(key, ROW)
        except ResourceNotFoundError:
            return BudgetState(), None
        claims = tuple(float(t) for t in json.loads(entity.get("claims") or "[]"))
        return BudgetState(claims, float(entity.get("blocked_until") or 0.0)), etag_of(entity)

    def _write(self, key: str, state: BudgetState, etag: str | None) -> None:
        entity: dict[str, Any] = {
            "PartitionKey": key,
            "RowKey": ROW,
            "claims": json.dumps(list(state.claims)),
            "blocked_until": float(state.blocked_until),
        }
        put_guarded(self._table, entity, etag)
