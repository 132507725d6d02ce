"""The local host's HTTP front over real sockets, as the real Functions host answers:
unknown methods and unmatched routes (empty 404, never 501 or an HTML page; see
azure-functions-host #10098 and #11625), malformed requests (400, no HTML), CORS from
``Host.CORS`` of local.settings.json (as ``func start``), and a burst of connections well
beyond ``maxConcurrentRequests`` (host.json: 100) all answered, none reset."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from devtools.azurite import Azurite
from tests.conftest import base_settings_values
from tests.support.host import FAST_QUEUE_SETTINGS, LocalHost


def test_unknown_methods_go_through_routing_and_get_the_hosts_empty_404(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory()
    for method in ("TRACE", "PROPFIND", "BREW", "PATCH"):
        for path in ("/api/jobs", "/api/health", "/api/no-such-route", "/"):
            response = requests.request(method, f"{host.url}{path}", timeout=10)
            assert response.status_code == 404, (method, path)
            assert response.content == b""
            assert "html" not in response.headers.get("Content-Type", "")
    # Route method constraints compare case-insensitively (ASP.NET HttpMethodRouteConstraint).
    assert requests.request("get", f"{host.url}/api/health", timeout=10).status_code == 200


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        chunks: list[bytes] = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def test_a_malformed_request_is_a_400_without_a_page(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory()
    for request in (
        b"GARBAGE\r\n\r\n",
        b"GET /api/health HTTP/9.9\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
    ):
        answer = raw_exchange(host.port, request)
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.split(b" ")[1] in {b"400", b"505"}, answer
        assert b"<html" not in answer.lower()
        assert rest.endswith(b"\r\n\r\n")  # headers only, no body


@pytest.fixture
def cors_host(azurite: Azurite) -> Iterator[LocalHost]:
    values = {**base_settings_values(azurite.connection_string), **FAST_QUEUE_SETTINGS}
    values["AzureFunctionsWebHost__hostid"] = f"test-{uuid.uuid4().hex[:12]}"
    host = LocalHost(
        values, host_section={"CORS": "http://app.test,https://other.test", "CORSCredentials": True}
    )
    with host:
        yield host


def test_cors_of_local_settings_is_honoured_like_func_start(cors_host: LocalHost) -> None:
    url = f"{cors_host.url}/api/jobs"
    preflight = requests.options(
        url,
        headers={
            "Origin": "http://app.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://app.test"
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert preflight.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert preflight.headers["Vary"] == "Origin"

    stranger = requests.options(
        url,
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert stranger.status_code == 204
    assert "Access-Control-Allow-Origin" not in stranger.headers

    actual = requests.get(url, headers={"Origin": "https://other.test"}, timeout=10)
    assert actual.status_code == 401  # the function answered; the CORS headers ride along
    assert actual.headers["Access-Control-Allow-Origin"] == "https://other.test"
    assert actual.headers["Access-Control-Allow-Credentials"] == "true"
    assert actual.headers["X-Request-Id"]
    plain = requests.get(url, timeout=10)
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_a_burst_of_200_connections_is_queued_and_every_one_answered(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    """200 clients connect at the same instant (twice maxConcurrentRequests): Python's
    default listen backlog of 5 would reset some; each must get its answer."""
    host = local_host_factory()
    clients = 200
    start = threading.Barrier(clients)
    answers: list[bytes] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        try:
            start.wait(timeout=60)
            answer = raw_exchange(
                host.port, b"GET /api/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            with lock:
                answers.append(answer)
        except BaseException as exc:  # a reset or a timeout is the failure under test
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(answers) == clients
    assert all(a.startswith(b"HTTP/1.1 401 ") for a in answers), {a[:20] for a in answers}
