"""Rate limiters that keep nothing in storage.

``MemoryRateLimiter`` is the in-memory fake of the RateLimiter port for unit tests (its
contract with the Table adapter: tests/integration/test_rate_limiter_contract.py).
``UnlimitedRateLimiter`` allows everything: what ``RATE_LIMITS_ENABLED=false`` wires, for
load tests and benches only.
"""

from __future__ import annotations

import threading

from shared.domain.ratelimits import Rate, decide
from shared.ports import Clock


class MemoryRateLimiter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tats: dict[tuple[str, str], float] = {}
        self.hits: list[tuple[str, str, bool]] = []  # (rate, key, allowed), for assertions

    def hit(self, rate: Rate, key: str) -> float:
        with self._lock:
            decision = decide(rate, self._tats.get((rate.name, key)), self._clock.now().timestamp())
            if decision.allowed:
                self._tats[(rate.name, key)] = decision.tat
            self.hits.append((rate.name, key, decision.allowed))
            return decision.retry_after

    def peek(self, rate: Rate, key: str) -> float:
        with self._lock:
            tat = self._tats.get((rate.name, key))
            return decide(rate, tat, self._clock.now().timestamp()).retry_after

    def purge_expired(self) -> int:
        with self._lock:
            now = self._clock.now().timestamp()
            expired = [k for k, tat in self._tats.items() if tat < now]
            for key in expired:
                del self._tats[key]
            return len(expired)


class UnlimitedRateLimiter:
    def hit(self, rate: Rate, key: str) -> float:
        return 0.0

    def peek(self, rate: Rate, key: str) -> float:
        return 0.0

    def purge_expired(self) -> int:
        return 0
