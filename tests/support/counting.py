"""Count the storage calls and the table entities written, at the SDK's HTTP transport.

``CountingTransport`` wraps the transport the SDK would use (requests) and records every
request: its method, URL and, for a table entity-group transaction (``POST .../$batch``,
a multipart body of one request per entity), the operations in it. azure-core builds the
multipart body in ``Pipeline.run`` before the transport sees it (azure/core/pipeline/
_base.py, ``request.prepare_multipart_body()``), so the count is of what goes on the wire.
``CountingContainer`` is the app's container with every storage client on that transport.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from azure.core.pipeline.transport import RequestsTransport

from shared.container import Container

_OPERATION = re.compile(rb"^(POST|PUT|PATCH|MERGE|DELETE|GET) https?://\S+", re.MULTILINE)


@dataclass
class Call:
    method: str
    url: str
    service: str  # table, queue, blob
    operations: list[str] = field(default_factory=list)  # of a batch: one method per entity
    rows_returned: int = 0  # of a table query: the entities in the response's ``value``
    columns: tuple[str, ...] = ()  # of a table query: the columns of the rows returned

    @property
    def entities_written(self) -> int:
        """Table entities this call writes (a batch: its write operations; a read: 0)."""
        if self.service != "table":
            return 0
        if self.operations:
            return sum(1 for op in self.operations if op != "GET")
        if self.method in ("PUT", "PATCH", "MERGE", "DELETE"):
            return 1
        if self.method == "POST" and not self.url.split("?")[0].endswith("/Tables"):
            return 1  # an insert (POST to the table)
        return 0


class CallLog:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        with self._lock:
            return list(self.calls[mark:])


def _service(url: str, ports: dict[str, str]) -> str:
    for name, port in ports.items():
        if f":{port}/" in url:
            return name
    return "table" if ".table." in url else "queue" if ".queue." in url else "blob"


class CountingTransport(RequestsTransport):
    def __init__(self, log: CallLog, ports: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log = log
        self.ports = ports

    def send(self, request: Any, **kwargs: Any) -> Any:
        body = request.body if isinstance(request.body, bytes) else b""
        if isinstance(request.body, str):
            body = request.body.encode()
        operations = []
        if request.url.split("?")[0].endswith("$batch"):
            operations = [m.group(1).decode() for m in _OPERATION.finditer(body)]
        call = Call(request.method, request.url, _service(request.url, self.ports), operations)
        response = super().send(request, **kwargs)
        if call.service == "table" and request.method == "GET":
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                rows = json.loads(response.body()).get("value")
                if isinstance(rows, list):
                    call.rows_returned = len(rows)
                    names = {k for row in rows for k in row if not k.startswith("odata.")}
                    call.columns = tuple(sorted(names))
        self.log.add(call)
        return response


class CountingContainer(Container):
    """The app's container; every storage request goes through one CountingTransport."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls = CallLog()
        text = self.settings.storage_connection_string
        ports = {}
        for name in ("table", "queue", "blob"):
            found = re.search(rf"{name.capitalize()}Endpoint=[^;]*:(\d+)", text)
            if found:
                ports[name] = found.group(1)
        self._transport = CountingTransport(self.calls, ports, use_env_settings=False)

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs = super()._client_kwargs()
        for name in ("use_env_settings", "connection_verify"):  # the transport's own
            kwargs.pop(name, None)
        return {**kwargs, "transport": self._transport}
