"""Social sign-in functions (Blueprint): providers, login, callback, login code -> token.

Routes resolve as on the real host (functions in name order, the first matching template
wins): ``auth/providers`` and ``auth/token`` have two segments, the provider routes three,
and ``{provider}`` is constrained to the provider-name shape of OAUTH_PROVIDERS.

Login and callback are browser navigations: they answer 302, and a failed sign-in ends
on the web page as ``/api/app#error=<slug>`` (the fragment never reaches a server log).
Only the per-client abuse limit answers 429 problem+json (API.md, Conventions).
"""

from __future__ import annotations

import re
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import azure.functions as func

from shared import http, telemetry
from shared.container import container
from shared.domain.errors import NotFound
from shared.domain.social import SignInFailed

if TYPE_CHECKING:
    from functions.models import social as models
else:
    models = http.lazy_models("functions.models.social")

bp = func.Blueprint()

TAGS = ("social sign-in",)
APP_PAGE = "/api/app"
BINDING_COOKIE = "oidc_binding"
COOKIE_PATH = "/api/auth/"
COOKIE_MAX_AGE = 600  # the pending sign-in's lifetime

_NAME = r"[a-z0-9][a-z0-9-]{{0,31}}"  # shared/settings.OAuthProvider.name
PROVIDER = "{provider:regex(^" + _NAME + r"(?![\s\S]))}"


def _provider(req: func.HttpRequest) -> str:
    """The route's provider, refused unless it has the documented shape exactly. The host
    matches regex constraints ignoring case (ASP.NET's RegexRouteConstraint, and so the
    local host), so `/api/auth/B/login` reaches us; the OpenAPI pattern, like provider names
    (lowercase, shared/settings), does not take it: 404, as a route that does not match."""
    provider = str(req.route_params["provider"])
    if not re.fullmatch(_NAME.replace("{{", "{").replace("}}", "}"), provider):
        raise NotFound("No such sign-in provider")
    return provider


def _redirect(location: str, cookie: str | None = None) -> func.HttpResponse:
    headers = {
        "Location": location,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the callback's URL holds the code and state
    }
    if cookie is not None:
        headers["Set-Cookie"] = cookie
    return func.HttpResponse(status_code=302, headers=headers)


def _is_https(req: func.HttpRequest) -> bool:
    # Behind the Azure front end the worker may see http; the front end says https.
    forwarded = (req.headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    return urlsplit(req.url).scheme == "https" or forwarded == "https"


def _binding_cookie(req: func.HttpRequest, value: str, max_age: int) -> str:
    secure = "; Secure" if _is_https(req) else ""  # browsers drop Secure cookies on http
    return (
        f"{BINDING_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; "
        f"SameSite=Lax{secure}"  # Lax: sent on the provider's top-level redirect back
    )


def _binding_of(req: func.HttpRequest) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(req.headers.get("cookie") or "")
    except CookieError:
        return None
    morsel = jar.get(BINDING_COOKIE)
    return morsel.value if morsel else None


def _callback_uri(req: func.HttpRequest, provider: str) -> str:
    """This app's callback URL as the browser reaches it (register it with the provider:
    ``https://<host>/api/auth/<name>/callback``). A forged Host header gains nothing: the
    provider redirects only to registered URIs, and the token request repeats this one."""
    parts = urlsplit(req.url)
    scheme = "https" if _is_https(req) else parts.scheme
    return f"{scheme}://{parts.netloc}/api/auth/{provider}/callback"


@bp.route(route="auth/providers", methods=["GET"])
@http.endpoint(
    "The social sign-in providers configured",
    response="social:ProvidersOut",
    tags=TAGS,
)
def auth_providers(req: func.HttpRequest) -> func.HttpResponse:
    return http.ok({"items": container().social.list_providers()})


@bp.route(route=f"auth/{PROVIDER}/login", methods=["GET"])
@http.endpoint("Start signing in with a provider: 302 to it (OpenID Connect, PKCE, state, "
               "nonce)", status=302, tags=TAGS, errors=(404, 429))  # fmt: skip
def social_login(req: func.HttpRequest) -> func.HttpResponse:
    provider = _provider(req)
    try:
        started = container().social.begin(
            provider, _callback_uri(req, provider), _binding_of(req), http.client_address(req)
        )
    except SignInFailed as failed:
        return _redirect(f"{APP_PAGE}#error={quote(failed.slug)}")
    return _redirect(started.location, _binding_cookie(req, started.binding, COOKIE_MAX_AGE))


@bp.route(route=f"auth/{PROVIDER}/callback", methods=["GET"])
@http.endpoint("The provider's redirect back: 302 to /api/app#login=<one-time code>, or "
               "#error=<slug>", status=302, tags=TAGS, errors=(404, 429))  # fmt: skip
def social_callback(req: func.HttpRequest) -> func.HttpResponse:
    provider = _provider(req)
    params = {str(k): str(v) for k, v in req.params.items()}
    try:
        code = container().social.complete(
            provider, params, _binding_of(req), http.client_address(req)
        )
    except SignInFailed as failed:
        return _redirect(f"{APP_PAGE}#error={quote(failed.slug)}")
    # The binding cookie stays: POST /api/auth/token needs it to accept the code (login
    # CSRF). Renewed so that it outlives the code (60 s) however long the provider took.
    binding = _binding_of(req) or ""
    return _redirect(f"{APP_PAGE}#login={code}", _binding_cookie(req, binding, COOKIE_MAX_AGE))


@bp.route(route="auth/token", methods=["POST"])
@http.endpoint("Exchange a one-time login code (60 s, single use) for a bearer token; only "
               "from the browser that signed in (its binding cookie, set by the login route)",
               body="social:LoginCodeIn", response="accounts:TokenOut", tags=TAGS,
               errors=(400,))  # fmt: skip
def social_token(req: func.HttpRequest) -> func.HttpResponse:
    body = http.parse_body(req, models.LoginCodeIn)
    token = container().social.exchange(body.login_code, _binding_of(req))
    return http.ok(
        {"access_token": token.access_token, "token_type": "Bearer",
         "expires_in": token.expires_in},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip


# Daily at 03:17 UTC: abandoned sign-ins (10 min) and unused login codes (60 s) are dead
# long before; this only keeps the table from growing.
@bp.timer_trigger(arg_name="timer", schedule="0 17 3 * * *", run_on_startup=False)
@telemetry.traced("timer")
def purge_social_sign_ins(timer: func.TimerRequest) -> None:
    """Delete expired pending sign-ins and login codes (table ``socialsignin``)."""
    container().social.purge_expired()
