"""Accounts in Table Storage.

Tables and keys (each chosen for the queries below; no request scans a table):

``users``       PartitionKey = user id, RowKey = "profile"
                -> GET /api/me, plan changes, token subjects: one point read.
                PartitionKey = "~directory", RowKey = newest-first key
                (``{9999999999999 - created ms:013d}-{user id}``), the listed fields
                -> GET /api/users (admins): one page of one partition query. Written
                after the profile on register and on every update (the profile is the
                truth: a crash between the two writes leaves the listing stale until
                that user's next change). One partition: written on registrations and
                profile changes only, far below a partition's ~2,000 writes/s; a
                cross-partition query of the "profile" rows would be a table scan.
``useremails``  PartitionKey = e-mail key (case-folded address; addresses with a character
                that Table keys forbid are refused by the domain and never looked up),
                RowKey = "email",
                ``user_id``  -> login, verify, resend: one point read to find the user id.
                Inserting it is the uniqueness check (insert-if-absent is atomic).
                RowKey = "login-failures", ``tat``: the GCRA state of wrong passwords for
                this address (known or not; shared/services/limits.py). Beside the index
                entry so that a login reads both with one partition query: the account
                limit costs a login no storage call, a wrong password one write.
                Rows whose TAT has passed (the same as none) are deleted by the hourly
                timer ``purge_abuse_counters`` (a filtered query on RowKey and ``tat``
                across partitions: a scan in a timer, never in a request).
``otps``        PartitionKey = user id, RowKey = "current": the one live code record
                (its HMAC, expiry, attempts, used flag, throttle and send bookkeeping);
                ETag-guarded so that concurrent wrong guesses all count.

A login is therefore two reads (the e-mail partition, then the user).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import (
    etag_of,
    from_iso,
    guarded,
    key_range_page,
    put_guarded,
    to_iso,
)
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

if TYPE_CHECKING:
    from azure.data.tables import TableClient

PROFILE = "profile"
DIRECTORY = "~directory"  # "~" cannot begin a user id (see shared/routes.py)
EMAIL = "email"
LOGIN_FAILURES = "login-failures"
CURRENT = "current"
# An e-mail index entry older than this whose user does not exist is an orphan.
ORPHAN_AFTER = timedelta(minutes=2)


def _user_entity(user: User) -> dict[str, Any]:
    return {
        "PartitionKey": user.id,
        "RowKey": PROFILE,
        "email": user.email,
        "email_key": email_key(user.email),
        "password_hash": user.password_hash,
        "email_verified": user.email_verified,
        "plan": user.plan,
        "created_at": to_iso(user.created_at),
        "verified_at": to_iso(user.verified_at),
        "registration_id": user.registration_id,
        "registered_at": to_iso(user.registered_at),
    }


def directory_key(user: User | UserSummary) -> str:
    """Sorts newest first, then by id (ms since the epoch stay below 10**13 until 2286)."""
    millis = int(user.created_at.timestamp() * 1000)
    return f"{9_999_999_999_999 - millis:013d}-{user.id}"


def _directory_entity(user: User) -> dict[str, Any]:
    return {
        "PartitionKey": DIRECTORY,
        "RowKey": directory_key(user),
        "user_id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "plan": user.plan,
        "created_at": to_iso(user.created_at),
    }


def _summary(entity: Any) -> UserSummary:
    created = from_iso(entity["created_at"])
    assert created is not None
    return UserSummary(
        id=entity["user_id"],
        email=entity["email"],
        email_verified=bool(entity["email_verified"]),
        plan=entity.get("plan") or "basic",
        created_at=created,
    )


def _user(entity: Any) -> User:
    created = from_iso(entity["created_at"])
    assert created is not None
    return User(
        id=entity["PartitionKey"],
        email=entity["email"],
        password_hash=entity["password_hash"],
        email_verified=bool(entity["email_verified"]),
        plan=entity.get("plan") or "basic",
        created_at=created,
        verified_at=from_iso(entity.get("verified_at")),
        registration_id=entity.get("registration_id") or "",
        registered_at=from_iso(entity.get("registered_at")),
    )


class TableUserRepository:
    def __init__(self, users: TableClient, emails: TableClient) -> None:
        self._users = users
        self._emails = emails

    def add(self, user: User) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError
        from azure.data.tables import UpdateMode

        if not storable_email(user.email):
            raise ValueError("an address with a character Table keys forbid")  # validated before
        index = {"PartitionKey": email_key(user.email), "RowKey": EMAIL, "user_id": user.id}
        try:
            self._emails.create_entity(index)
        except ResourceExistsError:
            # Taken, unless by a registration that died between the two inserts: an index
            # entry whose user still does not exist ORPHAN_AFTER later may be claimed
            # (guarded by its ETag). A younger one may belong to a registration in flight.
            existing = self._emails.get_entity(index["PartitionKey"], EMAIL)
            written = existing.metadata.get("timestamp")
            young = written is None or datetime.now(UTC) - written < ORPHAN_AFTER
            if young or self.get(existing["user_id"]) is not None:
                raise EmailTaken() from None
            try:
                guarded(
                    lambda: self._emails.update_entity(
                        index,
                        mode=UpdateMode.REPLACE,
                        etag=etag_of(existing),
                        match_condition=MatchConditions.IfNotModified,
                    )
                )
            except ConcurrencyConflict:
                raise EmailTaken() from None
        self._users.create_entity(_user_entity(user))
        # Belt and braces: the index must still name this user, else another registration
        # claimed the address meanwhile and this one withdraws.
        current = self._emails.get_entity(index["PartitionKey"], EMAIL)
        if current["user_id"] != user.id:
            self._users.delete_entity(user.id, PROFILE)
            raise EmailTaken()
        self._write_directory(user)

    def _write_directory(self, user: User) -> None:
        from azure.data.tables import UpdateMode

        self._users.upsert_entity(_directory_entity(user), mode=UpdateMode.REPLACE)

    def list_page(self, limit: int, cursor: str | None) -> tuple[list[UserSummary], str | None]:
        rows, next_cursor = key_range_page(
            self._users, "PartitionKey eq @pk", {"pk": DIRECTORY}, limit, cursor
        )
        return [_summary(row) for row in rows], next_cursor

    def get(self, user_id: str) -> Versioned[User] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._users.get_entity(user_id, PROFILE)
        except ResourceNotFoundError:
            return None
        return Versioned(_user(entity), etag_of(entity))

    def find_by_email(self, email: str) -> Versioned[User] | None:
        from azure.core.exceptions import ResourceNotFoundError

        if not storable_email(email):
            return None  # no account can have this address (and the key would be refused)
        try:
            index = self._emails.get_entity(email_key(email), EMAIL)
        except ResourceNotFoundError:
            return None
        found = self.get(index["user_id"])
        if found is None or email_key(found.value.email) != email_key(email):
            return None
        return found

    def find_for_login(self, email: str) -> LoginLookup:
        if not storable_email(email):
            return LoginLookup(None)
        rows = {
            row["RowKey"]: row
            for row in self._emails.query_entities(
                "PartitionKey eq @pk", parameters={"pk": email_key(email)}
            )
        }
        failures = rows.get(LOGIN_FAILURES)
        tat = float(failures["tat"]) if failures is not None else None
        etag = etag_of(failures) if failures is not None else None
        index = rows.get(EMAIL)
        found = self.get(index["user_id"]) if index is not None else None
        if found is not None and email_key(found.value.email) != email_key(email):
            found = None
        return LoginLookup(found, tat, etag)

    def save_login_failures(self, email: str, tat: float, etag: str | None) -> None:
        if not storable_email(email):
            return
        entity = {"PartitionKey": email_key(email), "RowKey": LOGIN_FAILURES, "tat": float(tat)}
        put_guarded(self._emails, entity, etag)

    def purge_login_failures(self, now: datetime) -> int:
        from shared.adapters.table_codec import purge_where

        return purge_where(
            self._emails, "RowKey eq @row and tat lt @now",
            {"row": LOGIN_FAILURES, "now": float(now.timestamp())},
        )  # fmt: skip

    def update(self, user: User, etag: str) -> str:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        # The directory row is keyed by created_at, which a replaced pending registration
        # changes: the row of the old key goes, else the user is listed once per key
        # (found with schemathesis's re-registrations before tests/e2e/test_accounts.py).
        before = self.get(user.id)
        metadata = guarded(
            lambda: self._users.update_entity(
                _user_entity(user),
                mode=UpdateMode.REPLACE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        )
        self._write_directory(user)
        if before is not None and directory_key(before.value) != directory_key(user):
            self._users.delete_entity(DIRECTORY, directory_key(before.value))  # 404: no error
        return etag_of(metadata)


def _otp_entity(record: OtpRecord) -> dict[str, Any]:
    return {
        "PartitionKey": record.user_id,
        "RowKey": CURRENT,
        "code_hash": record.code_hash,
        "expires_at": to_iso(record.expires_at),
        "attempts": record.attempts,
        "used": record.used,
        "requested_at": to_iso(record.requested_at),
        "request_id": record.request_id,
        "sent_at": to_iso(record.sent_at),
        "registration_id": record.registration_id,
    }


def _otp(entity: Any) -> OtpRecord:
    requested = from_iso(entity["requested_at"])
    assert requested is not None
    return OtpRecord(
        user_id=entity["PartitionKey"],
        code_hash=entity.get("code_hash") or None,
        expires_at=from_iso(entity.get("expires_at")),
        attempts=int(entity.get("attempts") or 0),
        used=bool(entity.get("used")),
        requested_at=requested,
        request_id=entity.get("request_id") or "",
        sent_at=from_iso(entity.get("sent_at")),
        registration_id=entity.get("registration_id") or "",
    )


class TableOtpRepository:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def get(self, user_id: str) -> Versioned[OtpRecord] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(user_id, CURRENT)
        except ResourceNotFoundError:
            return None
        return Versioned(_otp(entity), etag_of(entity))

    def put(self, record: OtpRecord, etag: str | None) -> str:
        return put_guarded(self._table, _otp_entity(record), etag)
