"""Accounts: users, one-time codes and their rules. Pure: no I/O, no clock reads.

A one-time code (OTP) is never stored: only an HMAC of it, keyed by a secret derived from
``AUTH_SIGNING_KEY`` and bound to the user, so a leaked table does not reveal live codes
and a code cannot be replayed against another account.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

from shared.domain.errors import AppError, Conflict, FieldError, ValidationFailed

Plan = Literal["basic", "premium"]
PLANS: tuple[Plan, ...] = ("basic", "premium")

OTP_DIGITS = 6
RESEND_INTERVAL = timedelta(seconds=60)


class InvalidOtp(AppError):
    status, slug, title = 400, "invalid-otp", "The code is wrong, expired, used or replaced"


class TooManyAttempts(AppError):
    status, slug, title = 429, "too-many-attempts", "Too many wrong codes; request a new one"


class AlreadyVerified(Conflict):
    slug, title = "already-verified", "The e-mail address is already verified"


class EmailTaken(Conflict):
    slug, title = "email-taken", "An account with this e-mail address exists"


class InvalidCredentials(AppError):
    status, slug, title = 401, "invalid-credentials", "Wrong e-mail address or password"

    def __init__(self) -> None:
        super().__init__("Wrong e-mail address or password", headers={"WWW-Authenticate": "Bearer"})


class EmailNotVerified(AppError):
    status, slug, title = 403, "email-not-verified", "Verify the e-mail address first"


# What Table Storage forbids in a PartitionKey or RowKey: / \\ # ? and the control characters
# U+0000-001F and U+007F-009F. No account is stored under an address holding one of them.
_KEY_FORBIDDEN = re.compile("[/\\\\#?\x00-\x1f\x7f-\x9f]")


def storable_email(email: str) -> bool:
    """Whether an account can exist for this address (its key has no character that
    Table keys forbid). Lookups of any other address answer as for an unknown account."""
    return _KEY_FORBIDDEN.search(email) is None and _KEY_FORBIDDEN.search(email_key(email)) is None


def email_key(email: str) -> str:
    """The uniqueness key of an address: the whole address case-folded.

    RFC 5321 lets the local part be case-sensitive, but no real mailbox provider treats
    ``Ann@x`` and ``ann@x`` as different people; one account per address in any case is
    what users expect.
    """
    return email.strip().casefold()


def validate_email(raw: str) -> str:
    """The normalized address (syntax only: no DNS lookup inside a request)."""
    from email_validator import EmailNotValidError
    from email_validator import validate_email as check

    try:
        result = check(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "The e-mail address is not valid",
            errors=[FieldError(field="email", message=str(exc))],
        ) from exc
    address = str(result.normalized)
    if not (storable_email(raw) and storable_email(address)):
        # RFC 5322 allows / # ? in the local part; we do not (nobody uses them, and they
        # cannot be part of a Table key).
        raise ValidationFailed(
            "The e-mail address is not valid",
            errors=[FieldError("email", "must not contain / \\ # ? or control characters")],
        )
    return address


@dataclass(frozen=True)
class User:
    id: str
    email: str
    password_hash: str
    email_verified: bool
    plan: Plan
    created_at: datetime
    verified_at: datetime | None = None
    # The pending registration this row holds: registering an unverified address again
    # replaces password and registration id, and a code verifies only the registration it
    # was sent for. "" for rows written before registrations had ids.
    registration_id: str = ""
    registered_at: datetime | None = None  # when the current registration was written

    def with_password_hash(self, password_hash: str) -> User:
        return replace(self, password_hash=password_hash)


@dataclass(frozen=True)
class UserSummary:
    """What the administrators' user list shows of an account."""

    id: str
    email: str
    email_verified: bool
    plan: Plan
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserSummary:
        return cls(user.id, user.email, user.email_verified, user.plan, user.created_at)


@dataclass(frozen=True)
class OtpRecord:
    """The current one-time code of a user; a new code replaces it."""

    user_id: str
    code_hash: str | None  # None until the background sender has created a code
    expires_at: datetime | None
    attempts: int
    used: bool
    requested_at: datetime  # last register/resend request (throttle)
    request_id: str  # the request whose e-mail this record belongs to (idempotent sending)
    sent_at: datetime | None = None
    registration_id: str = ""  # the registration the code was sent for (see User)

    def is_live(self, now: datetime) -> bool:
        return (
            self.code_hash is not None
            and not self.used
            and self.expires_at is not None
            and now < self.expires_at
        )


def generate_code() -> str:
    """Six digits from the operating system's CSPRNG (leading zeros kept)."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def otp_key(signing_key: str) -> bytes:
    """A key for code hashes, separate from the token key (derived, not reused)."""
    return hmac.new(signing_key.encode(), b"weather-jobs/otp/v1", hashlib.sha256).digest()


def hash_code(key: bytes, user_id: str, code: str, registration_id: str = "") -> str:
    """The HMAC of a code, bound to the user and to the registration it was sent for."""
    bound = f"{user_id}:{registration_id}:{code}" if registration_id else f"{user_id}:{code}"
    return hmac.new(key, bound.encode(), hashlib.sha256).hexdigest()


def code_matches(key: bytes, record: OtpRecord, code: str) -> bool:
    if record.code_hash is None:
        return False
    expected = hash_code(key, record.user_id, code, record.registration_id)
    return hmac.compare_digest(record.code_hash, expected)


def may_request_code(record: OtpRecord | None, now: datetime) -> bool:
    """At most one e-mail per RESEND_INTERVAL per account."""
    return record is None or now - record.requested_at >= RESEND_INTERVAL


def verification_email(sender: str, recipient: str, code: str, ttl_seconds: int) -> EmailMessage:
    """The verification e-mail: plain text with the code, an HTML alternative.

    ``EmailMessage`` with the default policy refuses CR/LF in header values, so no value
    can inject a header; the recipient has been validated as an address before this.
    """
    minutes = max(1, ttl_seconds // 60)
    message = EmailMessage()
    message["Subject"] = "Your verification code"  # not the code: subjects show on lock screens
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(
        f"Your verification code is {code}\n\n"
        f"It is valid for {minutes} minutes and can be used once.\n"
        "If you did not create an account, you can ignore this e-mail.\n"
    )
    message.add_alternative(
        "<!doctype html><html><body>"
        f'<p>Your verification code is</p><p style="font-size:24px;letter-spacing:4px">'
        f"<strong>{html.escape(code)}</strong></p>"
        f"<p>It is valid for {minutes} minutes and can be used once.</p>"
        "<p>If you did not create an account, you can ignore this e-mail.</p>"
        "</body></html>",
        subtype="html",
    )
    return message


def code_from_email(message: EmailMessage) -> str | None:
    """The code in a verification e-mail (for tests and the local outbox reader)."""
    import re

    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    match = re.search(r"\b(\d{6})\b", str(text))
    return match.group(1) if match else None
