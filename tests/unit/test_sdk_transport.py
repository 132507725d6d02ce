"""The storage clients' transport options: the proxy and CA settings are read by
shared/settings.py once per client, not by requests on every call."""

from __future__ import annotations

import pytest

from shared.adapters.sdk_transport import Urllib3Transport
from shared.settings import (
    CA_BUNDLE_SETTINGS,
    PROXY_SETTINGS,
    sdk_transport_options,
    storage_client_options,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_SETTINGS, *CA_BUNDLE_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_proxy_settings_the_transport_does_not_look_them_up(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert sdk_transport_options() == {"use_env_settings": False}


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "NETRC"])
def test_a_configured_proxy_keeps_the_sdk_default(clean_env: pytest.MonkeyPatch, name: str) -> None:
    clean_env.setenv(name, "http://proxy.example:3128")
    assert sdk_transport_options() == {}


def test_a_ca_bundle_from_the_environment_still_applies(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    assert sdk_transport_options()["connection_verify"] == "/etc/ssl/curl.pem"
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/requests.pem")  # requests' precedence
    assert sdk_transport_options() == {
        "use_env_settings": False, "connection_verify": "/etc/ssl/requests.pem",
    }  # fmt: skip


def test_the_storage_clients_get_the_options(clean_env: pytest.MonkeyPatch) -> None:
    from shared.container import Container
    from shared.settings import Settings

    settings = Settings.model_validate({
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AUTH_SIGNING_KEY": "k" * 40,
    })  # fmt: skip
    transport = Container(settings).table_service._client._client._pipeline._transport
    inner = getattr(transport, "_transport", transport)
    assert isinstance(inner, Urllib3Transport)
    assert inner._use_env_settings is False
    assert inner.connection_config.read_timeout == 20  # the container's timeouts reach it


def test_the_lean_transport_is_built_with_the_options(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/requests.pem")
    options = storage_client_options(connection_timeout=5, read_timeout=30)
    transport = options.pop("transport")
    assert isinstance(transport, Urllib3Transport)
    assert options == {"use_env_settings": False, "connection_verify": "/etc/ssl/requests.pem",
                       "connection_timeout": 5, "read_timeout": 30}  # fmt: skip
    assert transport.connection_config.verify == "/etc/ssl/requests.pem"
    config = transport.connection_config
    assert (config.timeout, config.read_timeout) == (5, 30)
    assert storage_client_options()["transport"] is not transport  # one per client


def test_with_a_proxy_the_sdk_transport_stays(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert storage_client_options(read_timeout=30) == {"read_timeout": 30}
