"""Static files served by the app itself (Swagger UI, the web app): no CDN.

Files are read once per process and kept with their gzip form and an ETag; a request
with a matching ``If-None-Match`` gets 304, one that accepts gzip gets the smaller body.
Only files inside the given folder, named by a plain relative path, are served.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import azure.functions as func

from shared.domain.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*\.[A-Za-z0-9]+$")
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}
_TEXT = {"text/javascript", "text/css", "text/html", "application/json", "image/svg+xml",
         "text/plain"}  # fmt: skip

# Static pages and assets are same-origin only; inline styles are needed by Swagger UI.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The web app has no inline script or style at all. Its WebSocket goes to Web PubSub: that
# one origin (from WEBPUBSUB_*, Settings.webpubsub_client_origin) and no other host.
STRICT_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'{realtime}; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


def web_app_csp() -> str:
    """The web app's CSP, ``connect-src`` naming the Web PubSub origin of the settings."""
    from shared.settings import get_settings

    origin = get_settings().webpubsub_client_origin
    return STRICT_CONTENT_SECURITY_POLICY.format(realtime=f" {origin}" if origin else "")


# A versioned URL (its path names the content hash) never changes: cache it for a year.
IMMUTABLE = 365 * 24 * 3600


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


@lru_cache(maxsize=256)
def load(folder: Path, relative: str) -> StaticFile:
    """The file ``relative`` inside ``folder`` (cached); NotFound for anything else."""
    if not _SAFE_PATH.match(relative):
        raise NotFound("No such file")
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise NotFound("No such file")
    suffix = path.suffix.lower()
    content_type = (
        _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    return from_bytes(path.read_bytes(), content_type)


def from_bytes(body: bytes, content_type: str) -> StaticFile:
    """A file made in memory (a page with its asset version filled in), gzip and ETag ready."""
    compressible = content_type in _TEXT and len(body) > 1024
    return StaticFile(
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0) if compressible else None,
        content_type=content_type,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


def respond(
    req: func.HttpRequest,
    file: StaticFile,
    max_age: int = 3600,
    csp: str = CONTENT_SECURITY_POLICY,
) -> func.HttpResponse:
    headers = {
        "ETag": file.etag,
        "Cache-Control": f"public, max-age={max_age}"
        + (", immutable" if max_age >= IMMUTABLE else ""),
        "X-Content-Type-Options": "nosniff",
        "Vary": "Accept-Encoding",
    }
    if file.content_type == "text/html":
        headers["Content-Security-Policy"] = csp
        headers["Cache-Control"] = "no-cache"
        headers["Referrer-Policy"] = "no-referrer"
    if req.headers.get("if-none-match") == file.etag:
        return func.HttpResponse(status_code=304, headers=headers)
    body = file.body
    if file.gzipped is not None and "gzip" in (req.headers.get("accept-encoding") or ""):
        body = file.gzipped
        headers["Content-Encoding"] = "gzip"
    charset = "utf-8" if file.content_type in _TEXT else None
    return func.HttpResponse(
        body, status_code=200, headers=headers, mimetype=file.content_type, charset=charset
    )
