"""OAUTH_PROVIDERS and OAUTH_<NAME>_CLIENT_SECRET as shared/settings.py reads them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.settings import Settings

ENTRA = {
    "name": "entra-id",
    "display_name": "Microsoft",
    "issuer": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0",
    "client_id": "11111111-1111-1111-1111-111111111111",
}


def test_empty_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OAUTH_PROVIDERS", raising=False)
    assert Settings().oauth_providers == ()  # type: ignore[call-arg]
    monkeypatch.setenv("OAUTH_PROVIDERS", "")
    assert Settings().oauth_providers == ()  # type: ignore[call-arg]


def test_providers_with_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    google = {**ENTRA, "name": "google", "issuer": "https://accounts.google.com"}
    monkeypatch.setenv("OAUTH_PROVIDERS", json.dumps([ENTRA, google]))
    monkeypatch.setenv("OAUTH_ENTRA_ID_CLIENT_SECRET", "entra-secret")
    monkeypatch.delenv("OAUTH_GOOGLE_CLIENT_SECRET", raising=False)
    entra_id, google_provider = Settings().oauth_providers  # type: ignore[call-arg]
    assert entra_id.secret_setting == "OAUTH_ENTRA_ID_CLIENT_SECRET"
    assert entra_id.client_secret is not None
    assert entra_id.client_secret.get_secret_value() == "entra-secret"
    assert "entra-secret" not in repr(entra_id)
    assert google_provider.client_secret is not None
    assert google_provider.client_secret.get_secret_value() == ""


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        json.dumps({"name": "x"}),
        json.dumps([{**ENTRA, "name": "Entra"}]),  # a route segment: lower case only
        json.dumps([{**ENTRA, "name": "a/b"}]),
        json.dumps([{**ENTRA, "issuer": "https://x.example/?q=1"}]),
        json.dumps([{**ENTRA, "extra": 1}]),
        json.dumps([ENTRA, ENTRA]),  # names are unique
    ],
)
def test_a_bad_value_stops_the_app_at_start(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("OAUTH_PROVIDERS", bad)
    with pytest.raises((ValidationError, ValueError)):
        Settings()  # type: ignore[call-arg]
