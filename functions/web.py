"""The web app (Blueprint): one HTML page and its static assets under /api/app.

``GET /api/app`` is ``web/app/index.html`` with the asset version filled in: every script,
style and vendored module is linked as ``/api/app/v/<version>/<file>``, where the version is
a hash of the content of every asset, so a versioned URL never changes meaning and is cached
for a year (``immutable``); the page itself is ``no-cache`` (revalidated by its ETag). The
modules import each other by relative URL, so the whole tree under one version is one
consistent release. Unversioned asset URLs work too, cached briefly.

The page carries a strict Content-Security-Policy (no inline script or style); files are
gzipped when the caller accepts it and answered 304 on a matching ``If-None-Match``
(shared/static.py, as for Swagger UI).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import azure.functions as func

from shared import http, static
from shared.domain.errors import NotFound

bp = func.Blueprint()

APP_DIR = static.WEB / "app"
VENDOR_DIR = static.WEB / "vendor"
# The vendored libraries the page loads (Swagger UI has its own route under /api/docs).
APP_VENDORED = ("web-pubsub-client",)
VERSION_MARK = "{{VERSION}}"
UNVERSIONED_MAX_AGE = 300


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A hash of every file the page may load: it changes whenever one of them does."""
    digest = hashlib.sha256()
    files = sorted(p for p in APP_DIR.rglob("*") if p.is_file())
    for name in APP_VENDORED:
        files += sorted(p for p in (VENDOR_DIR / name).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(static.WEB)).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def page() -> static.StaticFile:
    template = (APP_DIR / "index.html").read_text(encoding="utf-8")
    return static.from_bytes(
        template.replace(VERSION_MARK, asset_version()).encode("utf-8"), "text/html"
    )


def asset(path: str) -> tuple[static.StaticFile, int]:
    """The file an asset path names and how long it may be cached."""
    max_age = UNVERSIONED_MAX_AGE
    parts = path.split("/")
    if len(parts) > 2 and parts[0] == "v":
        # An old version's URL still gets today's file, but not for long.
        max_age = static.IMMUTABLE if parts[1] == asset_version() else 0
        parts = parts[2:]
    if parts[0] == "vendor":
        if len(parts) < 3 or parts[1] not in APP_VENDORED:
            raise NotFound("No such file")
        return static.load(VENDOR_DIR, "/".join(parts[1:])), max_age
    relative = "/".join(parts)
    if relative == "index.html":
        return page(), 0
    return static.load(APP_DIR, relative), max_age


@bp.route(route="app", methods=["GET"])
@http.endpoint("The web app (HTML)", tags=("web app",), content_type="text/html")
def web_app(req: func.HttpRequest) -> func.HttpResponse:
    return static.respond(req, page(), csp=static.web_app_csp())


@bp.route(route="app/{*path}", methods=["GET"])
@http.endpoint("The web app's assets (scripts, styles, vendored modules)", tags=("web app",),
               content_type="text/plain", errors=(404,))  # fmt: skip
def web_app_asset(req: func.HttpRequest) -> func.HttpResponse:
    path = req.route_params.get("path") or ""
    if path in ("", "index.html"):
        return static.respond(req, page(), csp=static.web_app_csp())
    file, max_age = asset(path)
    return static.respond(req, file, max_age=max_age, csp=static.web_app_csp())
