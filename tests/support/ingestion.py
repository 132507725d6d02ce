"""A stand-in for the Application Insights ingestion endpoint, on 127.0.0.1.

With ``IngestionEndpoint=http://127.0.0.1:PORT/`` in the connection string, the Azure
Monitor exporter POSTs its envelopes here (``/v2.1/track``, a JSON array, maybe gzipped).
Every envelope is kept for the test to read; the answer says all were accepted. Each
stand-in has an instrumentation key of its own: the exporter keeps what it could not send
in a directory per key and sends it again later, from any process.
"""

from __future__ import annotations

import glob
import gzip
import json
import shutil
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class IngestionStandIn:
    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.instrumentation_key = str(uuid.uuid4())
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                text = body.decode("utf-8").strip()
                items = json.loads(text) if text.startswith("[") else [
                    json.loads(line) for line in text.splitlines() if line.strip()
                ]  # fmt: skip
                with stand_in._lock:
                    stand_in.paths.append(self.path)
                    stand_in.envelopes.extend(items)
                answer = json.dumps(
                    {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        # A refused or reset connection sends a batch to the exporter's retry storage (and
        # back a minute later): a backlog large enough for every exporter at once.
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def connection_string(self) -> str:
        return (
            f"InstrumentationKey={self.instrumentation_key};"
            f"IngestionEndpoint=http://127.0.0.1:{self.port}/"
        )

    def of_type(self, base_type: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.envelopes if e.get("data", {}).get("baseType") == base_type]

    def __enter__(self) -> IngestionStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        # The exporter's retry storage for this key (what it could not send): not kept.
        pattern = f"Microsoft-AzureMonitor-*/opentelemetry-python-{self.instrumentation_key}"
        for directory in glob.glob(str(Path(tempfile.gettempdir()) / pattern)):
            shutil.rmtree(directory, ignore_errors=True)
