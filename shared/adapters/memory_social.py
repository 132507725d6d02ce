"""In-memory fakes of the social sign-in repositories, for unit tests (same contract as
shared/adapters/table_social.py, checked by tests/integration/test_social_repositories.py)."""

from __future__ import annotations

import threading
from datetime import datetime

from shared.domain.errors import ConcurrencyConflict
from shared.domain.social import LoginGrant, PendingSignIn


class MemoryPendingSignIns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, PendingSignIn] = {}

    def add(self, pending: PendingSignIn) -> None:
        with self._lock:
            if pending.state in self.rows:
                raise ConcurrencyConflict("state exists")
            self.rows[pending.state] = pending

    def take(self, state: str) -> PendingSignIn | None:
        with self._lock:
            return self.rows.pop(state, None)

    def purge_expired(self, now: datetime) -> int:
        with self._lock:
            expired = [k for k, v in self.rows.items() if v.expires_at < now]
            for key in expired:
                del self.rows[key]
            return len(expired)


class MemoryLoginCodes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: dict[str, LoginGrant] = {}

    def add(self, grant: LoginGrant) -> None:
        with self._lock:
            if grant.code_hash in self.rows:
                raise ConcurrencyConflict("code exists")
            self.rows[grant.code_hash] = grant

    def take(self, code_hash: str) -> LoginGrant | None:
        with self._lock:
            return self.rows.pop(code_hash, None)

    def purge_expired(self, now: datetime) -> int:
        with self._lock:
            expired = [k for k, v in self.rows.items() if v.expires_at < now]
            for key in expired:
                del self.rows[key]
            return len(expired)
