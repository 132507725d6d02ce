"""The start-up refusals of shared/settings.py: settings that would run but not work in Azure."""

from __future__ import annotations

import pytest

from shared.settings import Settings, UnsafeSettings, check_startup_settings

KEY = "k" * 48


def settings(**values: str) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["", "   "])
def test_azure_refuses_smtp_without_a_host(host: str) -> None:
    unsafe = settings(
        WEBSITE_INSTANCE_ID="abc", AUTH_SIGNING_KEY=KEY, EMAIL_PROVIDER="smtp", SMTP_HOST=host
    )
    with pytest.raises(UnsafeSettings, match="SMTP_HOST"):
        check_startup_settings(unsafe)


@pytest.mark.parametrize(
    "values",
    [
        {"EMAIL_PROVIDER": "smtp", "SMTP_HOST": "smtp.example.net"},
        {
            "EMAIL_PROVIDER": "acs",
            "SMTP_HOST": "",
            "ACS_ENDPOINT": "https://a.communication.azure.com",
        },
    ],
    ids=["smtp-with-host", "acs"],
)
def test_azure_starts_with_a_working_email_provider(values: dict[str, str]) -> None:
    check_startup_settings(settings(WEBSITE_INSTANCE_ID="abc", AUTH_SIGNING_KEY=KEY, **values))


def test_locally_an_empty_smtp_host_is_not_refused() -> None:
    # Outside Azure (no WEBSITE_INSTANCE_ID) the local host and tests run with any settings.
    local = settings(AUTH_SIGNING_KEY="", EMAIL_PROVIDER="smtp", SMTP_HOST="")
    assert not local.running_in_azure
    check_startup_settings(local)


def test_azure_still_refuses_a_short_signing_key() -> None:
    with pytest.raises(UnsafeSettings, match="AUTH_SIGNING_KEY"):
        check_startup_settings(
            settings(WEBSITE_INSTANCE_ID="abc", AUTH_SIGNING_KEY="short", EMAIL_PROVIDER="acs")
        )
