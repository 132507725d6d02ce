"""Every setting of the public contract, read once per process.

This module, and the pydantic-settings model it loads (``shared.settings_model``, which
never imports this one), are the only readers of the environment. Locally the values come from
``local.settings.json`` "Values" (the local host copies them into the environment, the
environment winning, as ``func start`` does); in Azure they are app settings, secrets
arriving through Key Vault references.

The ``Settings`` model (pydantic-settings, in ``shared.settings_model``) is built on first
use, not at import: importing the app stays cheap (cold start), while the start-up
refusals (``check_startup_environment``) read the few variables they need at once.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.settings_model import OAuthProvider, Settings

APP_NAME = "weather-jobs"
APP_VERSION = "0.1.0"

# The HTTP proxy and CA bundle settings that requests (under the Azure SDK transport) reads
# from the environment on every call unless told not to: see sdk_transport_options.
PROXY_SETTINGS = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy",
    "all_proxy", "no_proxy", "NETRC",
)  # fmt: skip
CA_BUNDLE_SETTINGS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # requests' order

__all__ = [
    "APP_NAME",
    "APP_VERSION",
    "OAuthProvider",
    "Settings",
    "UnsafeSettings",
    "check_startup_environment",
    "check_startup_settings",
    "get_settings",
    "reset_settings",
    "sdk_transport_options",
    "storage_client_options",
    "telemetry_connection_string",
    "telemetry_entra_client_id",
]


def __getattr__(name: str) -> Any:
    # ``from shared.settings import Settings`` still works: the model loads on first use.
    if name in ("Settings", "OAuthProvider"):
        from shared import settings_model

        return getattr(settings_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sdk_transport_options() -> dict[str, Any]:
    """Keyword arguments for the storage clients (every request path goes through them).

    With ``use_env_settings`` (the SDK default) requests reads the proxy variables and
    looks for ``~/.netrc`` on every call: about a fifth of the CPU of a storage call
    (``make bench``). The settings are read here, once per client, instead. When a proxy
    (or NETRC) is configured the SDK default stands, so the proxy is honoured; otherwise
    the transport is told not to look, and a CA bundle named by REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE is passed explicitly so that it still applies.
    """
    if any(os.environ.get(name) for name in PROXY_SETTINGS):
        return {}
    options: dict[str, Any] = {"use_env_settings": False}
    bundle = next((os.environ[n] for n in CA_BUNDLE_SETTINGS if os.environ.get(n)), None)
    if bundle:
        options["connection_verify"] = bundle
    return options


def storage_client_options(**timeouts: Any) -> dict[str, Any]:
    """Keyword arguments for the app's (and the local host's) storage clients: the options
    above and, when no proxy is configured, the lean transport of
    shared/adapters/sdk_transport.py built with them (one per client: a client closes its
    transport). ``timeouts``: ``connection_timeout`` and ``read_timeout``."""
    options = {**timeouts, **sdk_transport_options()}
    if options.get("use_env_settings") is not False:
        return options  # a proxy or .netrc: the SDK's own transport honours it
    from shared.adapters.sdk_transport import Urllib3Transport

    return {**options, "transport": Urllib3Transport(**options)}


def telemetry_connection_string() -> str | None:
    """APPLICATIONINSIGHTS_CONNECTION_STRING, or None: telemetry export is off."""
    return os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip() or None


def telemetry_entra_client_id() -> str | None:
    """The managed identity to export telemetry with, when Application Insights takes
    Entra ID only: ``ClientId=<id>;Authorization=AAD`` in
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING (what infra/ sets). None: no credential."""
    raw = os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "")
    parts = dict(p.split("=", 1) for p in raw.split(";") if "=" in p)
    if parts.get("Authorization", "").strip().upper() != "AAD":
        return None
    return parts.get("ClientId", "").strip() or ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    from shared.settings_model import Settings

    return Settings()  # type: ignore[call-arg]


def reset_settings() -> None:
    """Forget the cached settings (tests that change the environment call this)."""
    get_settings.cache_clear()


class UnsafeSettings(RuntimeError):
    """Raised at start-up when the settings are not safe to run with in Azure."""


def _env(name: str) -> str | None:
    """A setting as pydantic-settings reads it: names are case-insensitive."""
    if name in os.environ:
        return os.environ[name]
    lowered = name.lower()
    return next((v for k, v in os.environ.items() if k.lower() == lowered), None)


def check_startup_environment() -> None:
    """The start-up refusals from a few environment reads, without building Settings
    (``function_app`` calls this at import): the same rules as check_startup_settings."""
    in_azure = bool(_env("WEBSITE_INSTANCE_ID") or _env("WEBSITE_SITE_NAME"))
    provider = (_env("EMAIL_PROVIDER") or "outbox").strip()
    smtp_host = _env("SMTP_HOST")
    _refuse_unsafe(
        in_azure=in_azure,
        key=_env("AUTH_SIGNING_KEY") or "",
        email_provider=provider,
        smtp_host="localhost" if smtp_host is None else smtp_host,
        issuers=_issuers_of(_env("OAUTH_PROVIDERS") or ""),
    )


def _issuers_of(raw: str) -> list[str]:
    """The ``issuer`` of each OAUTH_PROVIDERS entry (what the settings model validates in
    full; here only what the start-up refusal needs)."""
    import json

    try:
        entries = json.loads(raw) if raw.strip() else []
    except ValueError:
        return []  # the settings model reports it
    if not isinstance(entries, list):
        return []
    return [str(e.get("issuer", "")) for e in entries if isinstance(e, dict)]


def check_startup_settings(settings: Settings) -> None:
    """Refuse to start in Azure without a real token signing key (32 bytes at least), with
    SMTP e-mail and no SMTP host, or with a sign-in provider whose issuer is not https."""
    _refuse_unsafe(
        in_azure=settings.running_in_azure,
        key=settings.auth_signing_key.get_secret_value() if settings.auth_signing_key else "",
        email_provider=settings.email_provider,
        smtp_host=settings.smtp_host,
        issuers=[p.issuer for p in settings.oauth_providers],
    )


def _refuse_unsafe(
    *, in_azure: bool, key: str, email_provider: str, smtp_host: str, issuers: list[str]
) -> None:
    for issuer in issuers:
        if in_azure and not issuer.lower().startswith("https://"):
            # Discovery, the JWKS and the token request would travel in clear: anyone on
            # the path could hand the app keys of their own and sign in as anybody.
            raise UnsafeSettings(f"OAUTH_PROVIDERS issuer {issuer!r} must be https in Azure")
    if in_azure and key.startswith("@Microsoft.KeyVault("):
        # The platform leaves the reference text in place when it cannot resolve it.
        raise UnsafeSettings("AUTH_SIGNING_KEY is an unresolved Key Vault reference")
    if in_azure and len(key.encode()) < 32:
        raise UnsafeSettings(
            "AUTH_SIGNING_KEY must be set to a random secret of at least 32 bytes in Azure"
        )
    if in_azure and email_provider == "smtp" and not smtp_host.strip():
        # Every verification code would retry into otp-email-poison: nobody could sign up.
        raise UnsafeSettings("EMAIL_PROVIDER=smtp needs SMTP_HOST in Azure")
