"""Accounts functions (Blueprint): register, codes, verify, log in, profile, plans."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import azure.functions as func
from pydantic import ConfigDict, Field

from shared import http, telemetry
from shared.container import container
from shared.domain.text import Cursor
from shared.models import BaseModel
from shared.queues import OTP_QUEUE
from shared.routes import USER_ID

bp = func.Blueprint()

TAGS = ("accounts",)


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


@bp.route(route="register", methods=["POST"])
@http.endpoint("Create an account; a verification code is e-mailed in the background",
               body=RegisterIn, response=RegisteredOut, status=201, tags=TAGS,
               errors=(409, 429))  # fmt: skip
def register(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, RegisterIn)
    user = container().accounts.register(body.email, body.password, http.client_address(req))
    return http.created({"id": user.id, "email": user.email, "email_verified": False})


@bp.route(route="resend-otp", methods=["POST"])
@http.endpoint("Send a new code (202 whether or not the account exists)",
               body=EmailIn, status=202, tags=TAGS, errors=(429,))  # fmt: skip
def resend_otp(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, EmailIn)
    container().accounts.resend_otp(body.email, http.client_address(req))
    return http.accepted({"status": "accepted"})


@bp.route(route="verify-email", methods=["POST"])
@http.endpoint("Verify the e-mail address with the code", body=VerifyIn,
               response=VerifiedOut, tags=TAGS, errors=(409, 429))  # fmt: skip
def verify_email(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, VerifyIn)
    user = container().accounts.verify_email(body.email, body.otp)
    return http.ok({"email": user.email, "email_verified": True})


@bp.route(route="login", methods=["POST"])
@http.endpoint("Exchange e-mail and password for a bearer token", body=LoginIn,
               response=TokenOut, tags=TAGS, errors=(401, 403, 429))  # fmt: skip
def login(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, LoginIn)
    token = container().accounts.login(body.email, body.password, http.client_address(req))
    return http.ok(
        {"access_token": token.access_token, "token_type": "Bearer",
         "expires_in": token.expires_in},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@bp.route(route="me", methods=["GET"])
@http.endpoint("The caller's profile", response=UserOut, auth=True, tags=TAGS)
def me(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().accounts.me(user))


@bp.route(route="users", methods=["GET"])
@http.endpoint("List users, newest first (administrators only)", query=UsersQuery,
               response=UserPage, auth=True, tags=TAGS, errors=(403,),
               links={"set_plan": {"user_id": "$response.body#/items/0/id"}})  # fmt: skip
def list_users(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, UsersQuery)
    return http.ok(container().accounts.list_users(user, query.limit, query.cursor))


# Not admin/users/...: the Functions host refuses templates that begin with "admin".
@bp.route(route=f"users/{USER_ID}/plan", methods=["PUT"])
@http.endpoint("Change a user's plan (administrators only)", body=PlanIn,
               response=UserOut, auth=True, tags=TAGS, errors=(403, 404))  # fmt: skip
def set_plan(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, PlanIn)
    return http.ok(container().accounts.set_plan(user, req.route_params["user_id"], body.plan))


@bp.queue_trigger(arg_name="msg", queue_name=OTP_QUEUE, connection="AzureWebJobsStorage")
@telemetry.traced("queue")
def send_otp_email(msg: func.QueueMessage) -> None:
    """Create the code, store its HMAC, send the e-mail; raising makes the host retry."""
    container().accounts.send_code(msg.get_body().decode("utf-8"))
