"""The start-up refusals of shared/settings.py: settings that would run but not work in Azure."""

from __future__ import annotations

import json

import pytest

from shared.settings import (
    Settings,
    UnsafeSettings,
    check_startup_environment,
    check_startup_settings,
)

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


HTTP_PROVIDER = json.dumps(
    [{"name": "corp", "display_name": "Corp", "issuer": "http://id.corp.example", "client_id": "c"}]
)
HTTPS_PROVIDER = HTTP_PROVIDER.replace("http://", "https://")
CASES = [
    {"WEBSITE_INSTANCE_ID": "abc", "AUTH_SIGNING_KEY": KEY, "EMAIL_PROVIDER": "smtp",
     "SMTP_HOST": ""},
    {"WEBSITE_INSTANCE_ID": "abc", "AUTH_SIGNING_KEY": KEY, "EMAIL_PROVIDER": "smtp"},
    {"WEBSITE_SITE_NAME": "app", "AUTH_SIGNING_KEY": "@Microsoft.KeyVault(SecretUri=x)" + KEY},
    {"WEBSITE_INSTANCE_ID": "abc", "AUTH_SIGNING_KEY": "short"},
    {"WEBSITE_INSTANCE_ID": "abc"},
    {"WEBSITE_INSTANCE_ID": "abc", "auth_signing_key": KEY, "EMAIL_PROVIDER": "acs"},
    {"AUTH_SIGNING_KEY": "", "EMAIL_PROVIDER": "smtp", "SMTP_HOST": ""},
    {"WEBSITE_INSTANCE_ID": "", "AUTH_SIGNING_KEY": "short"},
    {"WEBSITE_INSTANCE_ID": "abc", "AUTH_SIGNING_KEY": KEY, "OAUTH_PROVIDERS": HTTP_PROVIDER},
    {"WEBSITE_INSTANCE_ID": "abc", "AUTH_SIGNING_KEY": KEY, "OAUTH_PROVIDERS": HTTPS_PROVIDER},
    {"AUTH_SIGNING_KEY": KEY, "OAUTH_PROVIDERS": HTTP_PROVIDER},
]  # fmt: skip


@pytest.mark.parametrize("values", CASES)
def test_the_cheap_startup_check_agrees_with_the_settings_check(
    values: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # function_app runs check_startup_environment at import (no Settings built there):
    # it must refuse exactly what check_startup_settings refuses.
    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME", "AUTH_SIGNING_KEY",
                 "EMAIL_PROVIDER", "SMTP_HOST", "OAUTH_PROVIDERS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    expected: str | None = None
    try:
        check_startup_settings(Settings())  # type: ignore[call-arg]
    except UnsafeSettings as exc:
        expected = str(exc)
    if expected is None:
        check_startup_environment()
    else:
        with pytest.raises(UnsafeSettings) as refused:
            check_startup_environment()
        assert str(refused.value) == expected


def test_item4_an_http_issuer_is_refused_in_azure_and_allowed_locally() -> None:
    """Issue 18, item 4: over http the discovery document, the JWKS and the token answer
    can be replaced on the way: whoever does it signs in as anyone. Locally the bundled
    provider is http://127.0.0.1 (devtools/oidc.py), so only Azure refuses it."""
    values = {"AUTH_SIGNING_KEY": KEY, "OAUTH_PROVIDERS": HTTP_PROVIDER}
    with pytest.raises(UnsafeSettings, match="must be https in Azure"):
        check_startup_settings(settings(WEBSITE_INSTANCE_ID="abc", **values))
    check_startup_settings(settings(**values))
    https = {**values, "OAUTH_PROVIDERS": HTTPS_PROVIDER}
    check_startup_settings(settings(WEBSITE_INSTANCE_ID="abc", **https))
