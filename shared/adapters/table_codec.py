"""Small helpers shared by the Table Storage adapters.

Times are stored as ISO 8601 UTC strings (fixed width, so they sort as text and survive
the round trip exactly); writes that must not lose a race use ETags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

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
