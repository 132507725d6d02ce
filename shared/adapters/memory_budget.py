"""The RequestBudget port in memory (unit tests; its contract with the Table adapter is
tests/integration/test_request_budget_contract.py)."""

from __future__ import annotations

import threading

from shared.domain.upstream_budget import BudgetState, block, decide_claim
from shared.ports import Clock


class MemoryRequestBudget:
    def __init__(
        self, clock: Clock, limit: int, window_seconds: float = 60.0, margin_seconds: float = 0.0
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, BudgetState] = {}
        self.limit = limit
        self.window = window_seconds + margin_seconds
        self.claims: list[tuple[str, float]] = []  # (key, time) of every claim taken

    def claim(self, key: str) -> float:
        with self._lock:
            now = self._clock.now().timestamp()
            decision = decide_claim(self._states.get(key, BudgetState()), now, self.limit,
                                    self.window)  # fmt: skip
            if decision.allowed:
                self._states[key] = decision.state
                self.claims.append((key, decision.state.claims[-1]))
            return decision.wait

    def block(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self._clock.now().timestamp() + max(0.0, seconds)
            self._states[key] = block(self._states.get(key, BudgetState()), until)
