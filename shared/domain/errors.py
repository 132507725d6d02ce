"""Domain exceptions. Services raise them; ``shared.http`` turns each into problem+json.

Each carries the HTTP status and the problem slug of API.md, so that the mapping lives
in one place and a function never builds an error response by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class AppError(Exception):
    """Base of every error a caller may see. ``slug`` is part of the public contract."""

    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if slug is not None:
            self.slug = slug
        if title is not None:
            self.title = title
        self.errors = list(errors)
        self.headers = dict(headers or {})


class ValidationFailed(AppError):
    status, slug, title = 400, "validation", "The request is not valid"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = None, **kwargs: object
    ) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, int(retry_after)))


class UpstreamUnavailable(AppError):
    status, slug, title = 503, "upstream-unavailable", "A service we depend on is unavailable"

    def __init__(
        self, detail: str | None = None, *, retry_after: int | None = 30, **kwargs: object
    ) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, int(retry_after)))


class UpstreamRateLimited(UpstreamUnavailable):
    """The provider answered 429: ``retry_after`` is its Retry-After (or a default)."""

    def __init__(self, detail: str | None = None, *, retry_after: int | None = 60,
                 **kwargs: object) -> None:  # fmt: skip
        super().__init__(detail, retry_after=retry_after, **kwargs)
        self.retry_after = max(1, int(retry_after or 1))


class ConcurrencyConflict(Exception):
    """An ETag-guarded write lost a race (or an insert found the key taken).

    Not an AppError: services catch it and re-read, retry or map it to a contract error.
    """


class DeliveryFailed(Exception):
    """An e-mail could not be handed to the mail service; the caller retries later."""
