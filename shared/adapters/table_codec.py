"""Small helpers shared by the Table Storage adapters.

Times are stored as ISO 8601 UTC strings (fixed width, so they sort as text and survive
the round trip exactly); writes that must not lose a race use ETags.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.domain.errors import FieldError, ValidationFailed

T = TypeVar("T")


def to_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def etag_of(entity_or_metadata: Mapping[str, Any] | Any) -> str:
    metadata = getattr(entity_or_metadata, "metadata", entity_or_metadata)
    return str(metadata["etag"])


def guarded(action: Callable[[], T]) -> T:
    """Run a conditional write; a lost race (412) or taken key (409) is a ConcurrencyConflict."""
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

    from shared.domain.errors import ConcurrencyConflict

    try:
        return action()
    except (ResourceModifiedError, ResourceExistsError) as exc:
        raise ConcurrencyConflict(str(exc.reason or exc.__class__.__name__)) from exc


def put_guarded(table: Any, entity: dict[str, Any], etag: str | None) -> str:
    """Insert-if-absent when ``etag`` is None, else replace-if-unchanged; a lost race is a
    ConcurrencyConflict. The new ETag."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import UpdateMode

    from shared.domain.errors import ConcurrencyConflict

    if etag is None:
        metadata = guarded(lambda: table.create_entity(entity))
    else:
        try:
            metadata = guarded(
                lambda: table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            )  # fmt: skip
        except ResourceNotFoundError as exc:  # deleted since read (a purge): read again
            raise ConcurrencyConflict("the row is gone") from exc
    return etag_of(metadata)


def purge_where(table: Any, query: str, parameters: dict[str, Any]) -> int:
    """Delete the rows ``query`` finds, each only if unchanged since read (If-Match its
    ETag: a row written meanwhile is live again and stays); how many were deleted."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    deleted = 0
    for entity in table.query_entities(query, parameters=parameters,
                                       select=["PartitionKey", "RowKey"]):  # fmt: skip
        try:
            table.delete_entity(
                entity["PartitionKey"], entity["RowKey"], etag=etag_of(entity),
                match_condition=MatchConditions.IfNotModified,
            )  # fmt: skip
        except (ResourceModifiedError, ResourceNotFoundError):
            continue
        deleted += 1
    return deleted


def encode_cursor(row_key: str) -> str:
    return base64.urlsafe_b64encode(row_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, prefix: str) -> str | None:
    """The RowKey a cursor stands for; 400 for anything that is not one of ours."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value: str | None = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = None
    if not value or not value.startswith(prefix) or not value.isprintable():
        raise ValidationFailed(
            "The cursor is not valid", errors=[FieldError("cursor", "not a cursor of this list")]
        )
    return value


def key_range_page(
    table: Any,
    query: str,
    parameters: dict[str, Any],
    limit: int,
    cursor: str | None,
    select: list[str] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of a partition query in RowKey order, from an opaque cursor (the last
    RowKey seen)."""
    after = decode_cursor(cursor, "")
    if after:
        query += " and RowKey gt @after"
        parameters = {**parameters, "after": after}
    return first_rows(table, query, parameters, limit, select)


def first_rows(
    table: Any, query: str, parameters: dict[str, Any], limit: int, select: list[str] | None
) -> tuple[list[Any], str | None]:
    """The first ``limit`` rows of a query and the cursor after them (the last RowKey,
    encoded) if more follow: ``limit + 1`` rows are read to know, in one call."""
    rows: list[Any] = []
    for entity in table.query_entities(
        query, parameters=parameters, results_per_page=min(limit + 1, 1000), select=select
    ):
        rows.append(entity)
        if len(rows) > limit:
            break
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1]["RowKey"])
    return rows, None
