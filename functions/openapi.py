"""The API's description (Blueprint): the OpenAPI document and Swagger UI.

This door describes every other area, so it sits above them: it builds its document from a
FunctionApp of ``functions.areas`` plus itself, the same metadata the host reads, without
importing ``function_app`` (which imports this module: no circle).
"""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

import azure.functions as func

from functions.areas import build_app
from shared import http, static, warmup

bp = func.Blueprint()

SWAGGER_DIR = static.WEB / "vendor" / "swagger-ui"


_document_lock = threading.Lock()


def openapi_document_bytes() -> bytes:
    """The document, built once per process: a caller arriving while it is being built (a
    request during the warm-up, shared/warmup.py) waits for that build, never starts a
    second one (lru_cache alone would let both compute it)."""
    with _document_lock:
        return _openapi_document()


@lru_cache(maxsize=1)
def _openapi_document() -> bytes:
    from shared.openapi import background_functions_of, build_document, routes_of

    app = build_app(bp)  # the same blueprints as function_app's, this one included

    host_json = static.ROOT / "host.json"
    prefix = "api"
    if host_json.is_file():
        settings: dict[str, Any] = json.loads(host_json.read_text(encoding="utf-8"))
        prefix = settings.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    document = build_document(
        routes_of(app),
        http.ENDPOINT_DOCS,
        prefix,
        background_functions=background_functions_of(app),
    )
    return json.dumps(document, indent=1).encode("utf-8")


warmup.register("openapi document", openapi_document_bytes)


@bp.route(route="openapi.json", methods=["GET"])
@http.endpoint("OpenAPI 3.1 document of every route", tags=("operations",),
               media_types=(http.JSON,), storage=False)  # fmt: skip
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(openapi_document_bytes(), mimetype="application/json", charset="utf-8")


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
