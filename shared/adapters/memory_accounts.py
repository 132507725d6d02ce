"""In-memory fakes of the account repositories, for unit tests.

They keep the contract of the Table adapters (insert-if-absent, ETag-guarded replace),
checked by tests/integration/test_account_repositories.py against both.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

from shared.adapters.table_accounts import directory_key
from shared.adapters.table_codec import decode_cursor, encode_cursor
from shared.domain.accounts import (
    EmailTaken,
    OtpRecord,
    User,
    UserSummary,
    email_key,
    storable_email,
)
from shared.domain.errors import ConcurrencyConflict
from shared.ports import LoginLookup, Versioned

_etags = itertools.count(1)


def _etag() -> str:
    return f'W/"{next(_etags)}"'


class MemoryUserRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, Versioned[User]] = {}
        self._emails: dict[str, str] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self.reads = 0

    def add(self, user: User) -> None:
        if not storable_email(user.email):
            raise ValueError("an address with a character Table keys forbid")
        with self._lock:
            key = email_key(user.email)
            if key in self._emails and self._emails[key] in self._users:
                raise EmailTaken()
            self._emails[key] = user.id
            self._users[user.id] = Versioned(user, _etag())

    def get(self, user_id: str) -> Versioned[User] | None:
        with self._lock:
            self.reads += 1
            return self._users.get(user_id)

    def find_by_email(self, email: str) -> Versioned[User] | None:
        if not storable_email(email):
            return None
        with self._lock:
            self.reads += 1
            user_id = self._emails.get(email_key(email))
        return self.get(user_id) if user_id else None

    def find_for_login(self, email: str) -> LoginLookup:
        if not storable_email(email):
            return LoginLookup(None)
        with self._lock:
            self.reads += 1
            user_id = self._emails.get(email_key(email))
            failures = self._failures.get(email_key(email))
        found = self.get(user_id) if user_id else None
        if failures is None:
            return LoginLookup(found)
        return LoginLookup(found, *failures)

    def save_login_failures(self, email: str, tat: float, etag: str | None) -> None:
        if not storable_email(email):
            return
        with self._lock:
            current = self._failures.get(email_key(email))
            if (current is None) != (etag is None) or (current and current[1] != etag):
                raise ConcurrencyConflict("login failures changed since read")
            self._failures[email_key(email)] = (tat, _etag())

    def purge_login_failures(self, now: datetime) -> int:
        with self._lock:
            expired = [k for k, (tat, _) in self._failures.items() if tat < now.timestamp()]
            for key in expired:
                del self._failures[key]
            return len(expired)

    def update(self, user: User, etag: str) -> str:
        with self._lock:
            current = self._users.get(user.id)
            if current is None or current.etag != etag:
                raise ConcurrencyConflict("user changed since read")
            new = Versioned(user, _etag())
            self._users[user.id] = new
            return new.etag

    def list_page(self, limit: int, cursor: str | None) -> tuple[list[UserSummary], str | None]:
        after = decode_cursor(cursor, "")
        with self._lock:
            self.reads += 1
            keyed = sorted((directory_key(v.value), v.value) for v in self._users.values())
        rows = [(key, UserSummary.of(user)) for key, user in keyed if not after or key > after]
        if len(rows) > limit:
            return [s for _, s in rows[:limit]], encode_cursor(rows[limit - 1][0])
        return [s for _, s in rows], None


class MemoryOtpRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, Versioned[OtpRecord]] = {}

    def get(self, user_id: str) -> Versioned[OtpRecord] | None:
        with self._lock:
            return self._records.get(user_id)

    def put(self, record: OtpRecord, etag: str | None) -> str:
        with self._lock:
            current = self._records.get(record.user_id)
            if (etag is None and current is not None) or (
                etag is not None and (current is None or current.etag != etag)
            ):
                raise ConcurrencyConflict("code record changed since read")
            new = Versioned(record, _etag())
            self._records[record.user_id] = new
            return new.etag
