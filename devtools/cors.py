"""CORS as ``func start`` applies it: ``Host.CORS`` / ``Host.CORSCredentials`` of
local.settings.json (or ``--cors`` / ``--cors-credentials``, which default to them).

Core Tools (azure-functions-core-tools, ``Actions/HostActions/StartHostAction.cs`` and
``Startup.cs``) splits ``CORS`` on commas (empty entries dropped, nothing trimmed) and puts
ASP.NET Core's CORS middleware in front of the whole host with
``WithOrigins(origins).AllowAnyHeader().AllowAnyMethod()``, plus ``AllowCredentials()``
when ``CORSCredentials`` is true. ASP.NET Core's ``CorsMiddleware`` / ``CorsService``
(dotnet/aspnetcore, src/Middleware/CORS) then:

- leave a request without ``Origin`` alone;
- answer every preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
  itself with 204, on any path, before routing; the CORS headers only when the origin is
  allowed: ``Access-Control-Allow-Origin``, ``Access-Control-Allow-Credentials: true`` with
  credentials, ``Access-Control-Allow-Methods`` = the requested method,
  ``Access-Control-Allow-Headers`` = the requested headers;
- add ``Access-Control-Allow-Origin`` (and ``-Credentials``) to any other response whose
  request came from an allowed origin;
- treat ``*`` as "any origin" only when it is the only entry; it is then echoed as ``*``;
  a listed origin is echoed as sent, with ``Vary: Origin`` when more than one is listed;
- refuse ``*`` together with credentials (``CorsPolicyBuilder.Build``), so ``func start``
  does not start with that; neither does this host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

INSECURE = (
    "The CORS protocol does not allow specifying a wildcard (any) origin and credentials at "
    "the same time. Configure the CORS policy by listing individual origins if credentials "
    "needs to be supported."
)


class CorsConfigError(ValueError):
    """A CORS setting the host cannot start with."""


def _normalize(origin: str) -> str:
    """ASP.NET lower-cases the scheme and host of a configured http(s) origin."""
    parts = urlsplit(origin)
    if parts.scheme.lower() in {"http", "https"} and parts.netloc:
        return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
    return origin


@dataclass(frozen=True)
class CorsPolicy:
    origins: tuple[str, ...]
    credentials: bool = False

    @classmethod
    def from_setting(cls, origins: str | None, credentials: bool | str | None) -> CorsPolicy | None:
        """None when CORS is not configured (then no request gets CORS headers)."""
        listed = tuple(_normalize(o) for o in (origins or "").split(",") if o)
        if not listed:
            return None
        allow_credentials = (
            credentials.strip().lower() == "true"
            if isinstance(credentials, str)
            else bool(credentials)
        )
        policy = cls(listed, allow_credentials)
        if policy.any_origin and allow_credentials:
            raise CorsConfigError(INSECURE)
        return policy

    @property
    def any_origin(self) -> bool:
        return self.origins == ("*",)

    def allows(self, origin: str) -> bool:
        return bool(origin) and (self.any_origin or origin in self.origins)

    def headers(self, method: str, request: Mapping[str, str]) -> tuple[bool, dict[str, str]]:
        """(is_preflight, CORS response headers) for a request, by the rules above."""
        lowered = {k.lower(): v for k, v in request.items()}
        origin = lowered.get("origin")
        if origin is None:
            return False, {}
        preflight = method.upper() == "OPTIONS" and "access-control-request-method" in lowered
        if not self.allows(origin):
            return preflight, {}
        headers = {"Access-Control-Allow-Origin": "*" if self.any_origin else origin}
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if preflight:
            requested = [
                h.strip()
                for h in lowered.get("access-control-request-headers", "").split(",")
                if h.strip()
            ]
            if requested:
                headers["Access-Control-Allow-Headers"] = ",".join(requested)
            headers["Access-Control-Allow-Methods"] = lowered["access-control-request-method"]
        if len(self.origins) > 1:
            headers["Vary"] = "Origin"
        return preflight, headers
