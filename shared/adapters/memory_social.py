"""In-memory fakes of the social sign-in repositories, for unit tests (same contract as
shared/adapters/table_social.py, checked by tests/integration/test_social_repositories.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from shared.domain.errors import ConcurrencyConflict
from shared.domain.social import IdentityLinkedElsewhere, LoginGrant, PendingSignIn


class _Expiring(Protocol):
    @property
    def expires_at(self) -> datetime: ...


R = TypeVar("R", bound=_Expiring)


class _SingleUseRows(Generic[R]):
    """Rows added once under a key, taken at most once, purged when expired."""

    def __init__(self, key: Callable[[R], str], what: str) -> None:
        self._lock = threading.Lock()
        self._key, self._what = key, what
        self.rows: dict[str, R] = {}

    def add(self, row: R) -> None:
        with self._lock:
            if self._key(row) in self.rows:
                raise ConcurrencyConflict(f"{self._what} exists")
            self.rows[self._key(row)] = row

    def take(self, key: str) -> R | None:
        with self._lock:
            return self.rows.pop(key, None)

    def purge_expired(self, now: datetime) -> int:
        with self._lock:
            expired = [k for k, v in self.rows.items() if v.expires_at < now]
            for key in expired:
                del self.rows[key]
            return len(expired)


class MemoryPendingSignIns(_SingleUseRows[PendingSignIn]):
    def __init__(self) -> None:
        super().__init__(lambda pending: pending.state, "state")


class MemoryLoginCodes(_SingleUseRows[LoginGrant]):
    def __init__(self) -> None:
        super().__init__(lambda grant: grant.code_hash, "code")


class MemorySocialLinks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_identity: dict[tuple[str, str], str] = {}
        self.by_user: dict[tuple[str, str], str] = {}  # (user id, issuer) -> subject

    def find_user(self, issuer: str, subject: str) -> str | None:
        with self._lock:
            return self.by_identity.get((issuer, subject))

    def link(self, user_id: str, issuer: str, subject: str) -> None:
        with self._lock:
            linked = self.by_user.setdefault((user_id, issuer), subject)
            if linked != subject:
                raise IdentityLinkedElsewhere(user_id)
            self.by_identity[(issuer, subject)] = user_id
