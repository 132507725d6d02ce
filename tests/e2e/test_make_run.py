"""`make run`'s program (devtools.run): up with Azurite, health 200, Ctrl-C leaves nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from devtools.azurite import DEFAULT_PORTS, free_port, port_open
from tests.conftest import TEST_SIGNING_KEY
from tests.support.host import ROOT


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(
    any(port_open(p) for p in DEFAULT_PORTS),
    reason="an Azurite (or something else) already uses 10000-10002",
)
def test_run_starts_everything_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text(encoding="utf-8"))
    example["Values"]["AUTH_SIGNING_KEY"] = TEST_SIGNING_KEY
    example["Values"]["WEATHER_PROVIDER"] = "simulated"
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(example), encoding="utf-8")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run", "--port", str(port), "--settings", str(settings)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives `make run`
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert status is not None and status.status_code == 200
        assert status.json()["checks"] == {"tables": "ok", "queues": "ok", "blobs": "ok"}
        assert all(port_open(p) for p in DEFAULT_PORTS)
        providers = requests.get(f"http://127.0.0.1:{port}/api/auth/providers", timeout=5)
        assert [p["name"] for p in providers.json()["items"]] == ["local"]  # the local OP
        negotiated = _negotiate(port)
        assert negotiated.status_code == 200, negotiated.text  # the emulator is wired in
        realtime_port = urlsplit(negotiated.json()["url"]).port
        assert realtime_port is not None and port_open(realtime_port)
        _connects(negotiated.json()["url"])
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0
    assert f"http://localhost:{port}/api/docs" in output
    assert "Stopped Azurite." in output
    issuer = re.search(r"local OpenID Connect provider (http://127\.0\.0\.1:(\d+))", output)
    assert issuer is not None, output
    assert "OAUTH_PROVIDERS=" in output
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        _group_alive(process.pid)
        or any(port_open(p) for p in DEFAULT_PORTS)
        or port_open(int(issuer.group(2)))
    ):
        time.sleep(0.2)
    assert not _group_alive(process.pid)
    assert not any(port_open(p) for p in DEFAULT_PORTS)
    assert not port_open(int(issuer.group(2)))  # the local OpenID Connect provider too
    assert f"Web PubSub emulator http://127.0.0.1:{realtime_port}" in output
    assert "Stopped the Web PubSub emulator." in output
    assert not port_open(realtime_port)


def _negotiate(port: int) -> requests.Response:
    from datetime import UTC, datetime

    from shared.auth import TokenService

    token = TokenService(TEST_SIGNING_KEY, 60).issue("run-user", "run@example.com",
                                                     datetime.now(UTC))  # fmt: skip
    return requests.post(f"http://127.0.0.1:{port}/api/realtime/negotiate",
                         headers={"Authorization": f"Bearer {token.access_token}"},
                         timeout=10)  # fmt: skip


def _connects(url: str) -> None:
    """The negotiated URL opens a WebSocket of the JSON subprotocol that names its user."""
    import asyncio

    import aiohttp

    async def check() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, protocols=("json.webpubsub.azure.v1",)) as ws,
        ):
            connected = await ws.receive_json(timeout=10)
            assert connected["event"] == "connected" and connected["userId"] == "run-user"

    asyncio.run(check())
