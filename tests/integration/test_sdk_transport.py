"""The storage clients' lean transport (shared/adapters/sdk_transport.py) against the one
it replaces, azure-core's own ``RequestsTransport``: every test runs with both and asserts
the same outcome, against Azurite, a TLS server with its own CA (trustme), and raw
sockets that refuse, stall or cut a response.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import (
    IncompleteReadError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, UpdateMode
from azure.storage.blob import BlobClient
from azure.storage.queue import QueueClient

from devtools.azurite import Azurite
from shared.adapters.sdk_transport import Urllib3Transport

TRANSPORTS: dict[str, Callable[..., RequestsTransport]] = {
    "requests": RequestsTransport,
    "urllib3": Urllib3Transport,
}
CREDENTIAL = AzureNamedKeyCredential("devstoreaccount1", "a2V5")  # never checked: faults


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> Callable[..., RequestsTransport]:
    kind: str = request.param

    def make(**options: Any) -> RequestsTransport:
        return TRANSPORTS[kind](use_env_settings=False, **options)

    return make


# -- the same answers from Azurite ----------------------------------------------------


def test_table_operations_answer_the_same(
    azurite: Azurite, transport: Callable[..., RequestsTransport]
) -> None:
    name = f"t{uuid.uuid4().hex[:12]}"
    table = TableClient.from_connection_string(
        azurite.connection_string, name, transport=transport()
    )
    table.create_table()
    with pytest.raises(ResourceExistsError):
        table.create_table()
    entity = {"PartitionKey": "p", "RowKey": "r1", "city": "Zürich 東京", "n": 3, "x": 1.5}
    etag = table.create_entity(entity)["etag"]
    with pytest.raises(ResourceExistsError):
        table.create_entity(entity)
    got = table.get_entity("p", "r1")
    assert dict(got) == entity and got.metadata["etag"] == etag
    with pytest.raises(ResourceNotFoundError):
        table.get_entity("p", "absent")
    batch = [("upsert", {"PartitionKey": "p", "RowKey": f"b{i}", "v": "é" * 2000},
              {"mode": UpdateMode.REPLACE}) for i in range(20)]  # fmt: skip
    results = table.submit_transaction(batch)
    assert len(results) == 20
    rows = list(table.query_entities("PartitionKey eq 'p'", results_per_page=7))
    assert [r["RowKey"] for r in rows] == ["b0", "b1", *[f"b{i}" for i in range(10, 20)],
                                          *[f"b{i}" for i in range(2, 10)], "r1"]  # fmt: skip
    table.delete_entity("p", "r1")
    table.delete_table()


def test_queue_and_blob_operations_answer_the_same(
    azurite: Azurite, transport: Callable[..., RequestsTransport]
) -> None:
    name = f"q{uuid.uuid4().hex[:12]}"
    queue = QueueClient.from_connection_string(azurite.connection_string, name,
                                               transport=transport())  # fmt: skip
    queue.create_queue()
    queue.send_message("Zürich 東京")
    [message] = queue.receive_messages(messages_per_page=1, max_messages=1)
    assert message.content == "Zürich 東京"
    queue.delete_message(message)
    assert list(queue.peek_messages()) == []
    queue.delete_queue()

    data = bytes(range(256)) * 20_000  # 5 MB: several reads of a streamed download
    blob = BlobClient.from_connection_string(azurite.connection_string, name, "b.bin",
                                             transport=transport())  # fmt: skip
    with contextlib.suppress(ResourceExistsError):
        blob._get_container_client().create_container()
    blob.upload_blob(data, overwrite=True)
    assert blob.download_blob().readall() == data
    assert b"".join(blob.download_blob(max_concurrency=1).chunks()) == data
    with pytest.raises(ResourceNotFoundError):
        BlobClient.from_connection_string(azurite.connection_string, name, "absent",
                                          transport=transport()).download_blob()  # fmt: skip


def test_connections_are_reused(azurite: Azurite) -> None:
    """Every response is read to its end and its connection goes back to the pool: 50
    sequential calls open one connection."""
    table = TableClient.from_connection_string(
        azurite.connection_string, f"t{uuid.uuid4().hex[:12]}",
        transport=Urllib3Transport(use_env_settings=False),
    )  # fmt: skip
    table.create_table()
    table.upsert_entity({"PartitionKey": "p", "RowKey": "r"})
    transport = table._client._client._pipeline._transport
    inner = getattr(transport, "_transport", transport)
    pools = inner._pool.pools
    for _ in range(50):
        table.get_entity("p", "r")
        with pytest.raises(ResourceNotFoundError):
            table.get_entity("p", "absent")  # an error body is read to its end too
    [pool] = [pools[key] for key in pools.keys()]  # noqa: SIM118 - it refuses iteration
    assert pool.num_connections == 1


def test_a_transaction_answer_is_read_without_the_email_parser(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entity-group transaction's multipart answer: its header block takes the
    transport's shortcut (tests/unit/test_response_headers.py), and the parts are read by
    table_batch.py; the SDK's own transport hands the same header block to the email
    parser. The outcome is the same either way (test_table_batch.py)."""
    import email.parser

    from shared.adapters.table_batch import lean_transactions

    parsed: list[str] = []
    real = email.parser.Parser.parsestr
    monkeypatch.setattr(
        email.parser.Parser, "parsestr",
        lambda self, text, headersonly=False: parsed.append(text) or real(self, text, headersonly),
    )  # fmt: skip
    for kind, expected in (("urllib3", 0), ("requests", 1)):
        table = lean_transactions(TableClient.from_connection_string(
            azurite.connection_string, f"t{uuid.uuid4().hex[:12]}",
            transport=TRANSPORTS[kind](use_env_settings=False),
        ))  # fmt: skip
        table.create_table()
        parsed.clear()
        table.submit_transaction(
            [("upsert", {"PartitionKey": "p", "RowKey": str(n), "v": n}) for n in range(5)]
        )
        assert sum("multipart/mixed" in text.lower() for text in parsed) == expected, kind
        assert len(list(table.query_entities("PartitionKey eq 'p'"))) == 5


# -- the same errors from faults -------------------------------------------------------


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback TCP server that gives every accepted socket to ``handle``."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _table(port: int, transport: RequestsTransport, scheme: str = "http") -> TableClient:
    return TableClient(
        endpoint=f"{scheme}://127.0.0.1:{port}/devstoreaccount1", table_name="t",
        credential=CREDENTIAL, transport=transport, retry_total=0,
    )  # fmt: skip


def test_a_refused_connection_is_a_request_error(
    transport: Callable[..., RequestsTransport],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServiceRequestError) as caught:
        _table(port, transport()).get_entity("p", "r")
    assert not isinstance(caught.value, ServiceRequestTimeoutError)


def test_a_server_that_never_answers_is_a_response_timeout(
    transport: Callable[..., RequestsTransport],
) -> None:
    def stall(conn: socket.socket) -> None:
        with conn:
            time.sleep(3)

    with raw_server(stall) as port:
        started = time.monotonic()
        with pytest.raises(ServiceResponseTimeoutError):
            _table(port, transport(read_timeout=0.5)).get_entity("p", "r")
        assert time.monotonic() - started < 2.5


def test_a_response_cut_short_is_an_incomplete_read(
    transport: Callable[..., RequestsTransport],
) -> None:
    """A body shorter than its Content-Length is azure-core's IncompleteReadError (which
    its retry policy retries), never a short entity."""

    def cut(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 500\r\n\r\n{\"PartitionKey\": \"p\"")  # fmt: skip

    with raw_server(cut) as port, pytest.raises(IncompleteReadError):
        _table(port, transport()).get_entity("p", "r")


def test_a_connection_closed_before_the_status_is_a_response_error(
    transport: Callable[..., RequestsTransport],
) -> None:
    def close(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)

    with raw_server(close) as port, pytest.raises(ServiceResponseError):
        _table(port, transport()).get_entity("p", "r")


# -- TLS: verified against the named CA bundle, as requests verifies -------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """An HTTPS server (a certificate of its own CA for 127.0.0.1) answering 404 with a
    Table service error body; yields its port and the CA's PEM path."""
    import trustme  # requirements-dev.txt: a missing CA library fails, never skips

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"odata.error":{"code":"ResourceNotFound","message":{"value":"no"}}}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-ms-error-code", "ResourceNotFound")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], str(ca_path)
    server.shutdown()
    server.server_close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_is_verified_against_the_bundle_named(
    tls_server: tuple[int, str], transport: Callable[..., RequestsTransport]
) -> None:
    port, ca_path = tls_server
    with pytest.raises(ServiceRequestError):  # an unknown CA: refused
        _table(port, transport(), "https").get_entity("p", "r")
    with pytest.raises(ResourceNotFoundError):  # the CA named: the server's own answer
        _table(port, transport(connection_verify=ca_path), "https").get_entity("p", "r")
    with pytest.raises(ResourceNotFoundError):  # verification off, as asked
        _table(port, transport(connection_verify=False), "https").get_entity("p", "r")
