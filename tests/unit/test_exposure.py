"""What the project exposes beyond its API: published ports and settings of the local
stacks (issue 18, items 6 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, object]:
    yaml = pytest.importorskip("yaml")
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))


def test_item8_compose_publishes_azurite_and_the_emulator_on_loopback_only() -> None:
    """Azurite's account key is public knowledge and the emulator's access key a local
    default: published on every interface, anyone on the network could read and write
    the storage or mint client tokens. Docker publishes ``HOST:CONTAINER`` on 0.0.0.0
    unless the host part names an address (compose file reference, ``ports``)."""
    services = _compose()["services"]
    assert isinstance(services, dict)
    published = [str(p) for s in services.values() for p in (s or {}).get("ports", [])]
    storage_and_emulator = [
        p for p in published if p.split(":")[-1] in {"10000", "10001", "10002", "8081"}
    ]
    assert len(storage_and_emulator) == 4, published
    for port in storage_and_emulator:
        assert port.startswith("127.0.0.1:"), port


def test_item6_trusted_proxy_hops_is_0_locally_and_1_in_azure() -> None:
    """Nothing sits in front of the app locally or in compose (the header would be the
    caller's claim); in Azure, App Service's front end appends the client."""
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    assert example["Values"]["TRUSTED_PROXY_HOPS"] == "0"
    environment = _compose()["services"]["app"]["environment"]  # type: ignore[index]
    assert environment["TRUSTED_PROXY_HOPS"] == "0"
    bicep = (ROOT / "infra" / "main.bicep").read_text(encoding="utf-8")
    assert "  TRUSTED_PROXY_HOPS: '1'" in bicep


# -- item 8: the web app's CSP, HSTS, one e-mail normalisation -----------------------------


@pytest.mark.parametrize(
    ("values", "origin"),
    [
        ({"WEBPUBSUB_ENDPOINT": "https://wps-x.webpubsub.azure.com"},
         "wss://wps-x.webpubsub.azure.com"),
        ({"WEBPUBSUB_CONNECTION_STRING":
          "Endpoint=http://localhost;Port=8081;AccessKey=k;Version=1.0;"},
         "ws://localhost:8081"),
        ({"WEBPUBSUB_CONNECTION_STRING":
          "Endpoint=https://wps-y.webpubsub.azure.com;AccessKey=k;Version=1.0;"},
         "wss://wps-y.webpubsub.azure.com"),
        ({}, None),
    ],
)  # fmt: skip
def test_item8_the_web_app_may_connect_to_its_web_pubsub_host_only(
    values: dict[str, str], origin: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connect-src 'self' ws: wss:`` let the page open a WebSocket to any host (a place
    to send what an injected script read). The SDK makes client URLs from the endpoint
    (http -> ws, https -> wss, with the connection string's port)."""
    from shared import static
    from shared.settings import Settings, reset_settings

    assert Settings(**values).webpubsub_client_origin == origin  # type: ignore[arg-type]
    for name in ("WEBPUBSUB_ENDPOINT", "WEBPUBSUB_CONNECTION_STRING"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    try:
        policy = static.web_app_csp()
    finally:
        reset_settings()
    (connect,) = [d.strip() for d in policy.split(";") if d.strip().startswith("connect-src")]
    assert connect == "connect-src 'self'" + (f" {origin}" if origin else "")
    assert "ws:" not in connect.split() and "wss:" not in connect.split()
    assert "ws: wss:" not in static.CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("in_azure", [True, False])
def test_item8_hsts_in_azure_only(in_azure: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure serves https only (httpsOnly in infra/): every answer says so for a year. On
    local http the header must not be sent (a browser would then refuse http://localhost
    for a year)."""
    import azure.functions as func

    from shared import http
    from shared.settings import reset_settings

    @http.endpoint("HSTS probe")
    def hsts_probe(req: func.HttpRequest) -> func.HttpResponse:
        return http.ok({"ok": True})

    for name in ("WEBSITE_INSTANCE_ID", "WEBSITE_SITE_NAME"):
        monkeypatch.delenv(name, raising=False)
    if in_azure:
        monkeypatch.setenv("WEBSITE_INSTANCE_ID", "abc123")
    reset_settings()
    try:
        answer = hsts_probe(func.HttpRequest("GET", "https://h/api/echo", headers={}, body=b""))
    finally:
        reset_settings()
    assert answer.headers.get("Strict-Transport-Security") == (
        "max-age=31536000" if in_azure else None
    )


@pytest.mark.parametrize(
    ("listed", "signed_in"),
    [("Straße@example.com", "STRASSE@example.com"), ("\u212aim@example.com", "kim@example.com"),
     ("ADMIN@Example.com", "admin@example.COM")],
)  # fmt: skip
def test_item8_the_admin_check_and_the_user_view_normalise_e_mails_alike(
    listed: str, signed_in: str
) -> None:
    """``.lower()`` (the admin check) and ``casefold()`` (the user view) disagree on ß and
    the Kelvin sign: an admin whose address the view called admin was refused the admin
    routes. Both now use ``email_key``."""
    from shared.domain.accounts import email_key
    from shared.settings import Settings

    admins = Settings(ADMIN_EMAILS=f"other@example.com, {listed}").admin_email_set  # type: ignore[call-arg]
    assert email_key(signed_in) in admins
