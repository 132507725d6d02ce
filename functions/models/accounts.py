"""The request and response models of functions/accounts.py (imported on first use)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from shared.domain.text import Cursor
from shared.models import BaseModel


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" for c in word)


# Domains reserved for special use (RFC 6761 and kin) take no mail; the domain refuses them.
_SPECIAL_USE_DOMAIN = (
    r"\.("
    + "|".join(_any_case(d) for d in ("arpa", "invalid", "local", "localhost", "onion", "test"))
    + r")$"
)
# The addresses the server takes, exactly, as the schema states them: a pattern and a
# not-pattern (ECMA-262 and Python read both alike; the end is (?![\s\S]), not $, which
# Python also lets match before a final newline). "format: email" alone promised RFC 5321
# mailboxes, and the server refused some (`8`w+02a0/h@d.com`: Table keys forbid / # ?;
# quoted local parts, IP literals; email-validator's rules on domains). So: a dot-atom
# local part of ASCII atext characters without / # ?, 64 at most; then a domain name of LDH
# labels (no `ab--` label: only valid Punycode may have it, and IDNA checks it) ending in a
# letter (email-validator: "not within a valid top-level domain" otherwise), not a
# special-use domain. All of it passes shared.domain.accounts.validate_email:
# tests/unit/test_email_contract.py checks both directions.
_ATEXT = r"[A-Za-z0-9!$%&'*+=^_`{|}~-]"
_LABEL = r"(?![A-Za-z0-9]{2}--)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?![A-Za-z0-9]{2}--)([A-Za-z]|[A-Za-z0-9][A-Za-z0-9-]{0,61}[A-Za-z])"
EMAIL_PATTERN = rf"^{_ATEXT}+(\.{_ATEXT}+)*@({_LABEL}\.)+{_TLD}(?![\s\S])"
# What the pattern alone lets through and the server refuses: a local part over 64
# characters, a special-use domain. A separate "not" (a lookahead in the pattern made
# generators such as schemathesis' give up: hypothesis cannot satisfy it but by filtering).
_NOT_EMAIL = "^[^@]{65}|" + _SPECIAL_USE_DOMAIN


def _email_shape(value: str) -> str:
    if not re.fullmatch(EMAIL_PATTERN, value) or re.search(_NOT_EMAIL, value):
        raise ValueError(
            "must be an address like name@example.com: ASCII letters, digits and "
            "!$%&'*+=^_`{|}~- before the @ (no / # ?), a public domain name after it"
        )
    return value


# The schema states what the server accepts; the accounts domain then normalises it.
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        json_schema_extra={
            "format": "email",
            "pattern": EMAIL_PATTERN,
            "not": {"pattern": _NOT_EMAIL},
        },
    ),
    AfterValidator(_email_shape),
]
# resend-otp answers 202 to anything (no account enumeration), so its schema promises no format.
AnyEmail = Annotated[str, Field(min_length=3, max_length=254)]


class RegisterIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ann@example.com", "password": "correct horse"}]}
    )

    email: Email
    password: str = Field(min_length=8, max_length=128)


class EmailIn(_In):
    email: AnyEmail


class VerifyIn(_In):
    email: Email
    otp: str = Field(pattern=r"^[0-9]{6}$", description="The 6-digit code from the e-mail")


class LoginIn(_In):
    email: Email
    password: str = Field(min_length=1, max_length=128)


class PlanIn(_In):
    plan: Literal["basic", "premium"]


class UsersQuery(_In):
    limit: int = Field(20, ge=1, le=100)
    cursor: Cursor | None = Field(None, description="a next_cursor from the page before")


class RegisteredOut(BaseModel):
    id: str
    email: str
    email_verified: bool


class VerifiedOut(BaseModel):
    email: str
    email_verified: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class UserOut(BaseModel):
    id: str
    email: str
    email_verified: bool
    plan: Literal["basic", "premium"]
    is_admin: bool
    created_at: datetime


class UserListed(BaseModel):
    id: str
    email: str
    email_verified: bool
    plan: Literal["basic", "premium"]
    created_at: datetime


class UserPage(BaseModel):
    items: list[UserListed]
    next_cursor: str | None
