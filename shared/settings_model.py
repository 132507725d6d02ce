"""The Settings model (pydantic-settings), imported by ``shared.settings`` on first use.

Kept apart so that importing the app does not import pydantic-settings (cold start).
``shared.settings`` loads this module on first use; this module never imports it (one-way).
Like ``shared.settings`` it reads the environment (pydantic-settings does, and the
per-provider OAuth secrets below); no other module does.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_OPEN_METEO_BASE_URL = "https://api.open-meteo.com/v1"
DEFAULT_OPEN_METEO_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1"
DEFAULT_OPENWEATHER_BASE_URL = "https://api.openweathermap.org"


class OAuthProvider(BaseModel):
    """One social sign-in provider of OAUTH_PROVIDERS; its secret is read from
    ``OAUTH_<NAME>_CLIENT_SECRET`` (``-`` in the name becomes ``_``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")  # a route segment: see functions/
    display_name: str = Field(min_length=1, max_length=64)
    issuer: str = Field(pattern=r"^https?://[^\s?#]+$")  # no query or fragment (OIDC Core)
    client_id: str = Field(min_length=1, max_length=256)
    client_secret: SecretStr | None = None

    @property
    def secret_setting(self) -> str:
        return f"OAUTH_{self.name.upper().replace('-', '_')}_CLIENT_SECRET"


class Settings(BaseSettings):
    """Application settings; field aliases are the exact setting names of API.md."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    # Storage: a connection string, or the identity-based AzureWebJobsStorage__* form.
    storage_connection_string: str = Field(
        "UseDevelopmentStorage=true", alias="AzureWebJobsStorage"
    )
    storage_account_name: str | None = Field(None, alias="AzureWebJobsStorage__accountName")
    storage_table_uri: str | None = Field(None, alias="AzureWebJobsStorage__tableServiceUri")
    storage_queue_uri: str | None = Field(None, alias="AzureWebJobsStorage__queueServiceUri")
    storage_blob_uri: str | None = Field(None, alias="AzureWebJobsStorage__blobServiceUri")
    storage_client_id: str | None = Field(None, alias="AzureWebJobsStorage__clientId")

    # Weather
    weather_provider: Literal["open-meteo", "openweather", "simulated"] = Field(
        "open-meteo", alias="WEATHER_PROVIDER"
    )
    open_meteo_base_url: str = Field(DEFAULT_OPEN_METEO_BASE_URL, alias="OPEN_METEO_BASE_URL")
    open_meteo_geocoding_url: str = Field(
        DEFAULT_OPEN_METEO_GEOCODING_URL, alias="OPEN_METEO_GEOCODING_URL"
    )
    openweather_api_key: SecretStr | None = Field(None, alias="OPENWEATHER_API_KEY")
    openweather_base_url: str = Field(DEFAULT_OPENWEATHER_BASE_URL, alias="OPENWEATHER_BASE_URL")
    weather_cache_ttl_seconds: int = Field(600, ge=0, alias="WEATHER_CACHE_TTL_SECONDS")
    weather_rate_limit_per_minute: int = Field(60, ge=1, alias="WEATHER_RATE_LIMIT_PER_MINUTE")
    weather_refresh_schedule: str = Field("0 */10 * * * *", alias="WEATHER_REFRESH_SCHEDULE")

    # E-mail
    email_provider: Literal["smtp", "acs", "outbox"] = Field("outbox", alias="EMAIL_PROVIDER")
    smtp_host: str = Field("localhost", alias="SMTP_HOST")
    smtp_port: int = Field(25, alias="SMTP_PORT")
    smtp_username: str | None = Field(None, alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, alias="SMTP_STARTTLS")
    email_sender: str = Field("no-reply@weather-jobs.local", alias="EMAIL_SENDER")
    email_outbox_dir: str = Field(".outbox", alias="EMAIL_OUTBOX_DIR")
    acs_connection_string: SecretStr | None = Field(None, alias="ACS_CONNECTION_STRING")
    acs_endpoint: str | None = Field(None, alias="ACS_ENDPOINT")

    # Sentiment
    sentiment_provider: Literal["azure", "local"] = Field("local", alias="SENTIMENT_PROVIDER")
    text_analytics_endpoint: str | None = Field(None, alias="TEXT_ANALYTICS_ENDPOINT")
    text_analytics_key: SecretStr | None = Field(None, alias="TEXT_ANALYTICS_KEY")

    # Real time
    webpubsub_connection_string: SecretStr | None = Field(None, alias="WEBPUBSUB_CONNECTION_STRING")
    webpubsub_endpoint: str | None = Field(None, alias="WEBPUBSUB_ENDPOINT")
    webpubsub_hub: str = Field("weather", alias="WEBPUBSUB_HUB")

    # Accounts
    auth_signing_key: SecretStr | None = Field(None, alias="AUTH_SIGNING_KEY")
    auth_token_ttl_minutes: int = Field(60, ge=1, le=24 * 60, alias="AUTH_TOKEN_TTL_MINUTES")
    admin_emails: str = Field("", alias="ADMIN_EMAILS")
    otp_ttl_seconds: int = Field(600, ge=30, alias="OTP_TTL_SECONDS")
    otp_max_attempts: int = Field(5, ge=1, alias="OTP_MAX_ATTEMPTS")
    # The abuse limits (shared/services/limits.py); false only for load tests and benches.
    rate_limits_enabled: bool = Field(True, alias="RATE_LIMITS_ENABLED")
    # X-Forwarded-For entries, counted from the right, that proxies we trust appended
    # (shared.http.client_address): 1 behind App Service's front end (infra/), 2 with
    # Front Door before it; 0 (nothing in front: the header is the client's own claim).
    trusted_proxy_hops: int = Field(0, ge=0, le=10, alias="TRUSTED_PROXY_HOPS")
    # Social sign-in (OpenID Connect): a JSON list; secrets in OAUTH_<NAME>_CLIENT_SECRET.
    oauth_providers: Annotated[tuple[OAuthProvider, ...], NoDecode] = Field(
        (), alias="OAUTH_PROVIDERS"
    )

    # Jobs
    job_max_attempts: int = Field(3, ge=1, le=20, alias="JOB_MAX_ATTEMPTS")
    job_retry_base_seconds: float = Field(30, ge=0, alias="JOB_RETRY_BASE_SECONDS")
    job_timeout_seconds: int = Field(120, ge=1, le=3600, alias="JOB_TIMEOUT_SECONDS")
    jobs_sweep_schedule: str = Field("0 * * * * *", alias="JOBS_SWEEP_SCHEDULE")

    # Plans
    plan_basic_city_limit: int = Field(3, ge=0, alias="PLAN_BASIC_CITY_LIMIT")
    plan_premium_city_limit: int = Field(15, ge=0, alias="PLAN_PREMIUM_CITY_LIMIT")

    # Where the app runs: set by the Functions host in Azure (WEBSITE_INSTANCE_ID).
    azure_instance_id: str | None = Field(
        None, validation_alias=AliasChoices("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME")
    )

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _blank_is_false(cls, value: object) -> object:
        return False if value in ("", None) else value

    @field_validator("rate_limits_enabled", mode="before")
    @classmethod
    def _blank_is_true(cls, value: object) -> object:
        return True if value in ("", None) else value

    @field_validator("oauth_providers", mode="before")
    @classmethod
    def _providers_with_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else []
        if not isinstance(value, list | tuple):
            return value  # pydantic reports the type error
        providers = [OAuthProvider.model_validate(item) for item in value]
        if len({p.name for p in providers}) != len(providers):
            raise ValueError("OAUTH_PROVIDERS names must be unique")
        return tuple(
            p if p.client_secret else p.model_copy(
                update={"client_secret": SecretStr(os.environ.get(p.secret_setting, ""))}
            )
            for p in providers
        )  # fmt: skip

    @property
    def running_in_azure(self) -> bool:
        return bool(self.azure_instance_id)

    @property
    def webpubsub_client_origin(self) -> str | None:
        """Where the web app's WebSocket goes (``wss://<name>.webpubsub.azure.com``, locally
        ``ws://localhost:8081``): the origin of the client URLs the server SDK makes from
        the endpoint (http -> ws, https -> wss, the connection string's Port kept), for
        the page's CSP ``connect-src``. None without real time."""
        from urllib.parse import urlsplit

        secret = self.webpubsub_connection_string
        raw = secret.get_secret_value().strip() if secret else ""
        endpoint, port = (self.webpubsub_endpoint or "").strip(), ""
        if raw:
            parts = dict(p.split("=", 1) for p in raw.split(";") if "=" in p)
            values = {k.strip().lower(): v.strip() for k, v in parts.items()}
            endpoint, port = values.get("endpoint", ""), values.get("port", "")
        split = urlsplit(endpoint)
        if split.scheme not in ("http", "https") or not split.hostname:
            return None
        scheme = "wss" if split.scheme == "https" else "ws"
        netloc = split.netloc.rsplit("@", 1)[-1]
        if port and split.port is None:
            netloc = f"{netloc}:{port}"
        return f"{scheme}://{netloc}"

    @property
    def admin_email_set(self) -> frozenset[str]:
        """ADMIN_EMAILS, each normalised as account e-mails are (``email_key``: casefold),
        so that the admin check and the user view can never disagree."""
        from shared.domain.accounts import email_key

        return frozenset(email_key(e) for e in self.admin_emails.split(",") if e.strip())

    @property
    def uses_identity_storage(self) -> bool:
        return bool(
            self.storage_account_name
            or self.storage_table_uri
            or self.storage_queue_uri
            or self.storage_blob_uri
        )
