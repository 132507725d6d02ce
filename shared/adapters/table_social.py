"""Social sign-in state in Table Storage (table ``socialsignin``).

Keys (each a point read by a key the caller holds; nothing is listed or scanned):

PartitionKey = state (43 base64url characters, 256 random bits), RowKey = "pending"
    -> the callback: nonce, PKCE verifier, redirect URI, provider, SHA-256 of the
    browser-binding cookie, expiry (10 min).
PartitionKey = SHA-256 of the login code (hex), RowKey = "login-code"
    -> POST /api/auth/token: user id, expiry (60 s), SHA-256 of the binding cookie of the
    browser that signed in. The code itself is never stored.

Table ``sociallinks`` (class TableSocialLinks), each a point read:

PartitionKey = SHA-256 of issuer and subject, RowKey = "identity" -> the callback: the
    account this provider identity signs in to (``user_id``, ``issuer``, ``subject``).
PartitionKey = user id, RowKey = ``issuer-{SHA-256 of the issuer, 40 hex}`` -> the
    subject this account is linked to at that issuer; inserted first (insert-if-absent),
    so an account holds one identity per issuer even when two sign-ins race.
A first sign-in writes both (two storage calls); later ones read the first only.

Single use: ``take`` reads the row and deletes it with ``If-Match`` its ETag (in a
one-operation transaction, which reports a 404 that ``delete_entity`` would swallow); of
concurrent requests with the same state or code only one delete succeeds (the others get
412 or 404 and answer None). Two storage calls per take. Rows of sign-ins that were
abandoned stay until the daily timer ``purge_social_sign_ins`` deletes the expired ones:
the one query here that filters on a property across partitions (a scan), in a timer,
never in a request; the table only ever holds live and abandoned rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.table_codec import etag_of, from_iso, guarded, to_iso
from shared.domain.errors import ConcurrencyConflict
from shared.domain.social import (
    IdentityLinkedElsewhere,
    LoginGrant,
    PendingSignIn,
    identity_key,
    issuer_key,
)

if TYPE_CHECKING:
    from azure.data.tables import TableClient

PENDING = "pending"
LOGIN_CODE = "login-code"


def _take(table: TableClient, partition: str, row: str) -> dict[str, Any] | None:
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableTransactionError

    try:
        entity = table.get_entity(partition, row)
    except ResourceNotFoundError:
        return None
    try:
        # A delete in a (one-operation) transaction: ``delete_entity`` itself answers
        # success when the row is already gone (the SDK swallows the 404), so a second
        # taker would not notice that the first one deleted it.
        table.submit_transaction(
            [("delete", entity, {"etag": etag_of(entity),
                                 "match_condition": MatchConditions.IfNotModified})]
        )  # fmt: skip
    except TableTransactionError:
        return None  # another request took it first (412, or 404 once it is gone)
    return dict(entity)


def _purge(table: TableClient, row: str, now: datetime) -> int:
    expired = table.query_entities(
        "RowKey eq @row and expires_at lt @now",
        parameters={"row": row, "now": to_iso(now)},
        select=["PartitionKey", "RowKey"],
    )
    count = 0
    for entity in expired:
        table.delete_entity(entity["PartitionKey"], row)  # gone already: fine
        count += 1
    return count


class TablePendingSignIns:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def add(self, pending: PendingSignIn) -> None:
        entity = {
            "PartitionKey": pending.state, "RowKey": PENDING, "provider": pending.provider,
            "nonce": pending.nonce, "code_verifier": pending.code_verifier,
            "redirect_uri": pending.redirect_uri, "binding_hash": pending.binding_hash,
            "expires_at": to_iso(pending.expires_at),
        }  # fmt: skip
        guarded(lambda: self._table.create_entity(entity))

    def take(self, state: str) -> PendingSignIn | None:
        entity = _take(self._table, state, PENDING)
        if entity is None:
            return None
        expires = from_iso(entity["expires_at"])
        assert expires is not None
        return PendingSignIn(
            state=state, provider=entity["provider"], nonce=entity["nonce"],
            code_verifier=entity["code_verifier"], redirect_uri=entity["redirect_uri"],
            binding_hash=entity["binding_hash"], expires_at=expires,
        )  # fmt: skip

    def purge_expired(self, now: datetime) -> int:
        return _purge(self._table, PENDING, now)


class TableLoginCodes:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def add(self, grant: LoginGrant) -> None:
        entity = {
            "PartitionKey": grant.code_hash, "RowKey": LOGIN_CODE, "user_id": grant.user_id,
            "expires_at": to_iso(grant.expires_at), "binding_hash": grant.binding_hash,
        }  # fmt: skip
        guarded(lambda: self._table.create_entity(entity))

    def take(self, code_hash: str) -> LoginGrant | None:
        entity = _take(self._table, code_hash, LOGIN_CODE)
        if entity is None:
            return None
        expires = from_iso(entity["expires_at"])
        assert expires is not None
        return LoginGrant(
            code_hash=code_hash, user_id=entity["user_id"], expires_at=expires,
            binding_hash=entity.get("binding_hash", ""),  # none (older row): never matches
        )  # fmt: skip

    def purge_expired(self, now: datetime) -> int:
        return _purge(self._table, LOGIN_CODE, now)


IDENTITY = "identity"


class TableSocialLinks:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def find_user(self, issuer: str, subject: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._table.get_entity(identity_key(issuer, subject), IDENTITY)
        except ResourceNotFoundError:
            return None
        return str(entity["user_id"])

    def link(self, user_id: str, issuer: str, subject: str) -> None:
        row = f"issuer-{issuer_key(issuer)}"
        try:
            guarded(lambda: self._table.create_entity(
                {"PartitionKey": user_id, "RowKey": row, "issuer": issuer, "subject": subject}
            ))  # fmt: skip
        except ConcurrencyConflict:
            linked = self._table.get_entity(user_id, row)
            if linked["subject"] != subject:
                raise IdentityLinkedElsewhere(user_id) from None
        self._table.upsert_entity({
            "PartitionKey": identity_key(issuer, subject), "RowKey": IDENTITY,
            "user_id": user_id, "issuer": issuer, "subject": subject,
        })  # fmt: skip
