"""Accounts functions (Blueprint): register, codes, verify, log in, profile, plans."""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.functions as func

from shared import http, telemetry
from shared.container import container
from shared.queues import OTP_QUEUE
from shared.routes import USER_ID

if TYPE_CHECKING:
    from functions.models import accounts as models
else:
    models = http.lazy_models("functions.models.accounts")

bp = func.Blueprint()

TAGS = ("accounts",)


@bp.route(route="register", methods=["POST"])
@http.endpoint("Create an account; a verification code is e-mailed in the background",
               body="accounts:RegisterIn", response="accounts:RegisteredOut", status=201, tags=TAGS,
               errors=(409, 429))  # fmt: skip
def register(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, models.RegisterIn)
    user = container().accounts.register(body.email, body.password, http.client_address(req))
    return http.created({"id": user.id, "email": user.email, "email_verified": False})


@bp.route(route="resend-otp", methods=["POST"])
@http.endpoint("Send a new code (202 whether or not the account exists)",
               body="accounts:EmailIn", status=202, tags=TAGS, errors=(429,))  # fmt: skip
def resend_otp(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, models.EmailIn)
    container().accounts.resend_otp(body.email, http.client_address(req))
    return http.accepted({"status": "accepted"})


@bp.route(route="verify-email", methods=["POST"])
@http.endpoint("Verify the e-mail address with the code", body="accounts:VerifyIn",
               response="accounts:VerifiedOut", tags=TAGS, errors=(409, 429))  # fmt: skip
def verify_email(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, models.VerifyIn)
    user = container().accounts.verify_email(body.email, body.otp)
    return http.ok({"email": user.email, "email_verified": True})


@bp.route(route="login", methods=["POST"])
@http.endpoint("Exchange e-mail and password for a bearer token", body="accounts:LoginIn",
               response="accounts:TokenOut", tags=TAGS, errors=(401, 403, 429))  # fmt: skip
def login(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, models.LoginIn)
    token = container().accounts.login(body.email, body.password, http.client_address(req))
    return http.ok(
        {"access_token": token.access_token, "token_type": "Bearer",
         "expires_in": token.expires_in},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


@bp.route(route="me", methods=["GET"])
@http.endpoint("The caller's profile", response="accounts:UserOut", auth=True, tags=TAGS)
def me(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    return http.ok(container().accounts.me(user))


@bp.route(route="users", methods=["GET"])
@http.endpoint("List users, newest first (administrators only)", query="accounts:UsersQuery",
               response="accounts:UserPage", auth=True, tags=TAGS, errors=(403,),
               links={"set_plan": {"user_id": "$response.body#/items/0/id"}})  # fmt: skip
def list_users(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    query = http.parse_query(req, models.UsersQuery)
    return http.ok(container().accounts.list_users(user, query.limit, query.cursor))


# Not admin/users/...: the Functions host refuses templates that begin with "admin".
@bp.route(route=f"users/{USER_ID}/plan", methods=["PUT"])
@http.endpoint("Change a user's plan (administrators only)", body="accounts:PlanIn",
               response="accounts:UserOut", auth=True, tags=TAGS, errors=(403, 404))  # fmt: skip
def set_plan(req: func.HttpRequest) -> func.HttpResponse:
    user = http.authenticate(req)
    body = http.parse_body(req, models.PlanIn)
    return http.ok(container().accounts.set_plan(user, req.route_params["user_id"], body.plan))


@bp.queue_trigger(arg_name="msg", queue_name=OTP_QUEUE, connection="AzureWebJobsStorage")
@telemetry.traced("queue")
def send_otp_email(msg: func.QueueMessage) -> None:
    """Create the code, store its HMAC, send the e-mail; raising makes the host retry."""
    container().accounts.send_code(msg.get_body().decode("utf-8"))
