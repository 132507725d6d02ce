"""Every setting of the public contract, read once per process.

This is the only module that reads the environment. Locally the values come from
``local.settings.json`` "Values" (the local host copies them into the environment, the
environment winning, as ``func start`` does); in Azure they are app settings, secrets
arriving through Key Vault references.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "weather-jobs"
APP_VERSION = "0.1.0"

DEFAULT_OPEN_METEO_BASE_URL = "https://api.open-meteo.com/v1"
DEFAULT_OPEN_METEO_GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1"
DEFAULT_OPENWEATHER_BASE_URL = "https://api.openweathermap.org"


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

    @property
    def running_in_azure(self) -> bool:
        return bool(self.azure_instance_id)

    @property
    def admin_email_set(self) -> frozenset[str]:
        return frozenset(e.strip().lower() for e in self.admin_emails.split(",") if e.strip())

    @property
    def uses_identity_storage(self) -> bool:
        return bool(
            self.storage_account_name
            or self.storage_table_uri
            or self.storage_queue_uri
            or self.storage_blob_uri
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()  # type: ignore[call-arg]


def reset_settings() -> None:
    """Forget the cached settings (tests that change the environment call this)."""
    get_settings.cache_clear()


class UnsafeSettings(RuntimeError):
    """Raised at start-up when the settings are not safe to run with in Azure."""


def check_startup_settings(settings: Settings) -> None:
    """Refuse to start in Azure without a real token signing key (32 bytes at least), or
    with SMTP e-mail and no SMTP host."""
    key = settings.auth_signing_key.get_secret_value() if settings.auth_signing_key else ""
    if settings.running_in_azure and key.startswith("@Microsoft.KeyVault("):
        # The platform leaves the reference text in place when it cannot resolve it.
        raise UnsafeSettings("AUTH_SIGNING_KEY is an unresolved Key Vault reference")
    if settings.running_in_azure and len(key.encode()) < 32:
        raise UnsafeSettings(
            "AUTH_SIGNING_KEY must be set to a random secret of at least 32 bytes in Azure"
        )
    smtp_without_host = settings.email_provider == "smtp" and not settings.smtp_host.strip()
    if settings.running_in_azure and smtp_without_host:
        # Every verification code would retry into otp-email-poison: nobody could sign up.
        raise UnsafeSettings("EMAIL_PROVIDER=smtp needs SMTP_HOST in Azure")
