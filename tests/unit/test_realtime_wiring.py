"""The container's choice of real-time publisher, and the SDK loaded only when one is built."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from shared.adapters.memory_realtime import DisabledRealtimePublisher
from shared.adapters.realtime_webpubsub import WebPubSubPublisher
from shared.container import Container
from shared.settings import Settings
from tests.conftest import TEST_SIGNING_KEY
from tests.support.host import ROOT

KEY = "a2V5LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"


def container(**values: Any) -> Container:
    return Container(settings=Settings(AUTH_SIGNING_KEY=TEST_SIGNING_KEY, **values))


def test_no_webpubsub_setting_means_no_pushes() -> None:
    assert isinstance(container().realtime, DisabledRealtimePublisher)
    blank = container(WEBPUBSUB_CONNECTION_STRING=" ", WEBPUBSUB_ENDPOINT="")
    assert isinstance(blank.realtime, DisabledRealtimePublisher)
    assert not blank.realtime_configured  # the job service then gets no publisher at all


def test_a_connection_string_builds_the_adapter_on_its_hub() -> None:
    built = container(
        WEBPUBSUB_CONNECTION_STRING=f"Endpoint=http://127.0.0.1:7080;AccessKey={KEY};Version=1.0;",
        WEBPUBSUB_HUB="weather",
    )
    publisher = built.realtime
    assert isinstance(publisher, WebPubSubPublisher)
    assert publisher.client._config.hub == "weather"
    assert built.realtime is publisher  # one client per process
    assert built.realtime_configured
    url = publisher.client_url("ann", ["city.1"], 60)
    assert url.startswith("ws://127.0.0.1:7080/client/hubs/weather?access_token=")


def test_an_endpoint_uses_the_managed_identity() -> None:
    built = container(WEBPUBSUB_ENDPOINT="https://example.webpubsub.azure.com",
                      WEBPUBSUB_HUB="hub1")  # fmt: skip
    publisher = built.realtime
    assert isinstance(publisher, WebPubSubPublisher)
    assert publisher.client._config.credential is built.credential
    assert publisher.client._config.hub == "hub1"


def test_importing_the_app_does_not_load_the_webpubsub_sdk() -> None:
    code = (
        "import sys, function_app; print(any(m.startswith('azure.messaging') for m in sys.modules))"
    )
    env = {"AUTH_SIGNING_KEY": TEST_SIGNING_KEY, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"
