"""The request and response models of functions/accounts.py (imported on first use)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

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
# The address is checked by the accounts domain (syntax, normalisation); the schema says so.
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        json_schema_extra={"format": "email", "not": {"pattern": _SPECIAL_USE_DOMAIN}},
    ),
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
