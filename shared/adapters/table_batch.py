"""Entity-group transactions without azure-core's per-call thread pools (issue 17).

``TableClient.submit_transaction`` (azure-data-tables 12.7.0 on azure-core 1.41.0) runs
each sub-request's policies in a new ``ThreadPoolExecutor`` (twice: the batch and its
changeset, ``Pipeline._prepare_multipart_mixed_request``), builds the multipart body with
``email.message``, and parses the response parts with the ``email`` parser in a third new
thread pool (``_parts_helper``). Profiled in the local host with ``cProfile``, that was
about 22 ms of CPU per transaction, more than everything else a job's life costs
(docs/benchmarks.md#where-a-jobs-cpu-went), and a job's life is three transactions.

This module keeps the SDK for everything that is the SDK's business: the sub-requests are
the SDK's own (``TableBatchOperations``: entity serialisation, ``If-Match``, ``Prefer``,
EDM types), and the ``$batch`` request goes through the client's own pipeline
(authentication, retries, tracing, our transport settings). Only the two text formats in
between are ours: the multipart/mixed body, written as the SDK writes it (batch boundary,
one changeset, each operation as ``application/http`` with ``binary`` transfer encoding;
"Performing entity group transactions",
https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions),
and the response's status lines and ``ETag`` headers, read the same way.

Errors stay the SDK's: when the service refuses the transaction (a status other than 202,
or a part with a status outside 2xx: nothing of it was applied, a transaction is atomic)
the same operations are sent once more through ``TableClient.submit_transaction``, which
raises exactly what it raises (``TableTransactionError`` with the code and the failing
operation's index, ``RequestTooLargeError``, ...) or, if the state changed in between,
succeeds: either outcome is one the caller must handle anyway. A response that says the
transaction was applied is never sent again. ``tests/integration/test_table_batch.py``
runs every kind of operation and failure through both paths against Azurite.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.data.tables import TableClient

_STATUS_LINE = b"HTTP/1.1 "


class UnreadableBatchResponse(RuntimeError):
    """The service answered 202 but its parts could not be read (not retried: the
    transaction may have been applied)."""


def lean_transactions(table: TableClient) -> TableClient:
    """``table`` with its ``submit_transaction`` replaced by this module's (the container
    does this for every table client it hands out)."""
    table.submit_transaction = functools.partial(submit_transaction, table)  # type: ignore[method-assign,assignment]
    return table


def _sdk_submit(table: TableClient, ops: list[Any]) -> list[dict[str, Any]]:
    from azure.data.tables import TableClient

    return [dict(result) for result in TableClient.submit_transaction(table, ops)]


def submit_transaction(table: TableClient, operations: Iterable[Any]) -> list[dict[str, Any]]:
    """As ``TableClient.submit_transaction(operations)``: the response metadata of each
    operation (``{"etag": ...}`` where the service returned one)."""
    ops = list(operations)
    requests = _sub_requests(table, ops) if ops else None
    if not requests:
        return _sdk_submit(table, ops)
    from azure.core.rest import HttpRequest

    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    request = HttpRequest(
        "POST",
        f"{table.scheme}://{table._primary_hostname}/$batch",  # as the SDK's _batch_send
        headers={
            "x-ms-version": table.api_version,
            "DataServiceVersion": "3.0",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Content-Type": f"multipart/mixed; boundary={batch}",
            "Accept": "application/json",
        },
        content=_body(requests, batch, changeset),
    )
    response = table._client.send_request(request, stream=True)  # the client's pipeline
    if response.status_code != 202:
        return _sdk_submit(table, ops)  # refused as a whole: the SDK's own error
    statuses = _parts(response.headers.get("Content-Type", ""), response.read())
    if statuses is None:
        raise UnreadableBatchResponse(f"{len(ops)} operations: response not multipart/mixed")
    if any(not 200 <= status < 300 for status, _ in statuses):
        return _sdk_submit(table, ops)  # nothing was applied: the SDK's own error
    if len(statuses) != len(ops):
        raise UnreadableBatchResponse(f"{len(statuses)} results for {len(ops)} operations")
    return [{"etag": etag} if etag is not None else {} for _, etag in statuses]


def _sub_requests(table: TableClient, ops: list[Any]) -> list[Any] | None:
    """The SDK's own requests for ``ops`` (None: let the SDK do all of it)."""
    try:
        from azure.data.tables._table_batch import TableBatchOperations

        batched = TableBatchOperations(
            config=table._client._config,
            endpoint=f"{table.scheme}://{table._primary_hostname}",
            table_name=table.table_name,
            is_cosmos_endpoint=table._cosmos_endpoint,
        )
    except (ImportError, AttributeError, TypeError):  # an SDK that changed inside
        return None
    for operation in ops:
        batched.add_operation(operation)  # its own ValueError/TypeError for a bad one
    return list(batched.requests)


def _body(requests: list[Any], batch: str, changeset: str) -> bytes:
    from email.utils import formatdate

    now = formatdate(usegmt=True)  # the SDK's StorageHeadersPolicy dates every part
    out = [f"--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()]
    for index, sub in enumerate(requests):
        content = sub.content
        body = content.encode() if isinstance(content, str) else bytes(content or b"")
        headers = {**dict(sub.headers), "x-ms-date": now, "Date": now}
        if body:
            headers["Content-Length"] = str(len(body))
        lines = [f"{sub.method} {sub.url} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        out.append(
            f"--{changeset}\r\nContent-Type: application/http\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {index}\r\n\r\n".encode()
        )
        out.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n")
    out.append(f"--{changeset}--\r\n\r\n--{batch}--\r\n".encode())
    return b"".join(out)


def _boundary(content_type: str) -> bytes | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"').encode()
    return None


def _parts(content_type: str, body: bytes) -> list[tuple[int, str | None]] | None:
    """(status, ETag) of each operation's response, in order; None if not multipart."""
    outer = _boundary(content_type)
    if outer is None or not content_type.lower().startswith("multipart/mixed"):
        return None
    results: list[tuple[int, str | None]] = []
    for part in _split(body, outer):
        head, _, rest = part.partition(b"\r\n\r\n")
        inner_type = _header(head, b"content-type") or ""
        inner = _boundary(inner_type)
        if inner_type.lower().startswith("multipart/mixed") and inner is not None:
            pieces = [p.partition(b"\r\n\r\n")[2] for p in _split(rest, inner)]
        else:
            pieces = [rest]  # a response outside a changeset (an error of the whole)
        for piece in pieces:
            start = piece.find(_STATUS_LINE)
            if start < 0:
                continue
            status_line, _, headers = piece[start:].partition(b"\r\n")
            status = int(status_line[len(_STATUS_LINE) :].split(b" ", 1)[0])
            results.append((status, _header(headers.partition(b"\r\n\r\n")[0], b"etag")))
    return results


def _split(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts between ``--boundary`` delimiters, without the closing one's epilogue."""
    delimiter = b"--" + boundary
    chunks = body.split(delimiter)[1:]  # before the first: the preamble
    parts = []
    for chunk in chunks:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        parts.append(chunk.lstrip(b"\r\n"))
    return parts


def _header(head: bytes, name: bytes) -> str | None:
    for line in head.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return None
