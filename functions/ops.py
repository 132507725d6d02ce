"""Operations functions (Blueprint): health, the OpenAPI document, Swagger UI, the purge of
expired abuse-limit counts."""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import azure.functions as func

from shared import http, static, telemetry
from shared.container import container
from shared.services import health

if TYPE_CHECKING:
    from functions.models import ops as models
else:
    models = http.lazy_models("functions.models.ops")

bp = func.Blueprint()

SWAGGER_DIR = static.WEB / "vendor" / "swagger-ui"


@bp.route(route="health", methods=["GET"])
@http.endpoint("Health of the app and its storage dependencies", response="ops:HealthOut",
               tags=("operations",), alternatives={503: "ops:HealthOut"})  # fmt: skip
def health_check(req: func.HttpRequest) -> func.HttpResponse:
    report = health.check(container().storage_probes())
    return http.json_response(
        report, status=200 if report.healthy else 503, headers={"Cache-Control": "no-store"}
    )


@lru_cache(maxsize=1)
def _openapi_document() -> bytes:
    from shared.openapi import background_functions_of, build_document, routes_of

    app_module = importlib.import_module("function_app")
    host_json = static.ROOT / "host.json"
    prefix = "api"
    if host_json.is_file():
        settings: dict[str, Any] = json.loads(host_json.read_text(encoding="utf-8"))
        prefix = settings.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    document = build_document(
        routes_of(app_module.app),
        http.ENDPOINT_DOCS,
        prefix,
        background_functions=background_functions_of(app_module.app),
    )
    return json.dumps(document, indent=1).encode("utf-8")


@bp.route(route="openapi.json", methods=["GET"])
@http.endpoint("OpenAPI 3.1 document of every route", tags=("operations",),
               media_types=(http.JSON,), storage=False)  # fmt: skip
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(_openapi_document(), mimetype="application/json", charset="utf-8")


@bp.route(route="docs", methods=["GET"])
@http.endpoint("Swagger UI (HTML)", tags=("operations",), content_type="text/html",
               storage=False)  # fmt: skip
def api_docs(req: func.HttpRequest) -> func.HttpResponse:
    return static.respond(req, static.load(static.WEB, "docs.html"))


@bp.route(route="docs/{asset}", methods=["GET"])
@http.endpoint("Swagger UI assets", tags=("operations",), errors=(404,), storage=False,
               media_types=("text/javascript", "text/css", "image/png", "text/plain",
                            "text/markdown"))  # fmt: skip
def api_docs_asset(req: func.HttpRequest) -> func.HttpResponse:
    asset = req.route_params["asset"]
    if asset == "init.js":
        return static.respond(req, static.load(static.WEB, "docs-init.js"), max_age=300)
    return static.respond(req, static.load(SWAGGER_DIR, asset), max_age=86400)


# Hourly, at minute 41 (off the hour, away from the other timers): the counts of the abuse
# limits (tables ``ratelimits`` and the ``login-failures`` rows of ``useremails``) whose
# state has run out. Every client address and every e-mail address tried leaves a row;
# without this the tables only grow (issue 18, item 5).
@bp.timer_trigger(arg_name="timer", schedule="0 41 * * * *", run_on_startup=False)
@telemetry.traced("timer")
def purge_abuse_counters(timer: func.TimerRequest) -> None:
    """Delete expired rate-limit and login-failure rows (the same as no row)."""
    app = container()
    app.limits.purge_expired()
    app.accounts.purge_login_failures()
