"""The storage clients' HTTP transport: azure-core's ``RequestsTransport`` without the
``requests.Session`` in between.

Every storage call of a request or a job goes through azure-core's pipeline and then its
``RequestsTransport``, which hands the request to ``requests.Session.request``: that builds
a ``Request``, prepares it (URL re-quoting, cookie jar merge, hooks), merges settings,
picks the adapter, checks the CA bundle path, and builds a ``Response`` with a cookie jar
of its own, all for a request that azure-core has already prepared completely (URL,
headers, body, signature). Storage calls are most of a job's CPU; through this transport
a bare queue cycle runs 1.1 to 1.4 times as fast and a job's hosts spend about a quarter less CPU
(``python -m bench --only jobs``, docs/benchmarks.md#jobs-throughput-explained).

This transport keeps everything that is azure-core's (its response classes, which wrap a
``requests.Response``, streaming, error types, timeouts, ``connection_verify``) and sends
through the urllib3 pool manager that requests itself would use, with what requests does
that matters to a storage call: no redirects followed (azure-core's policy does that),
no retries at this level, ``enforce_content_length``, connect and read timeouts, TLS
verification with the same CA bundle. Cookies, proxies from the environment and ``.netrc``
are what it does not do: storage sets no cookies, and when a proxy is configured the
container keeps the SDK's default transport (settings.sdk_transport_options).

Response headers: ``http.client`` parses every response's header block with the ``email``
package's full message parser, which for a ``multipart/mixed`` response (every
entity-group transaction) also starts parsing a body that is not there and compiles a
regular expression for its boundary (unique per response, so never cached; urllib3 ignores
the defects this leaves, urllib3/urllib3#800). This transport's connections read the same
lines with ``http.client``'s own reader and store each ``name: value`` line exactly as that
parser stores it (``Policy.header_source_parse``, ``Message.set_raw``); a header block with
anything else in it (a line without a name, a bare CR, a missing blank line) goes to the
standard parser whole. A transaction costs about a fifth less CPU this way (alternated
rounds of 300 against Azurite: 1.04 against 1.31 ms; a point read or a queue call about 2 %
less; docs/benchmarks.md#jobs-throughput-explained).
"""

from __future__ import annotations

import email.parser
import http.client
import re
import threading
import types
from typing import Any

import requests
import urllib3
import urllib3.connection
import urllib3.connectionpool
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import RequestsTransport, RequestsTransportResponse
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

POOL_SIZE = 32  # connections kept per host: the app's threads and the trigger's batch

# A header line as the email parser reads one: a name of printable ASCII but ':' (its
# ``headerRE``), the colon, a value without CR or LF, one line end; and a folded line.
_FIELD = re.compile(r"[\041-\071\073-\176]+:[^\r\n]*\r?\n\Z")
_FOLDED = re.compile(r"[ \t][^\r\n]*\r?\n\Z")


def parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers`` for header blocks of plain fields: the same lines read
    the same way, the same ``HTTPMessage`` items; anything else is parsed by the standard
    parser (the module text)."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]  # its limits, too
    texts = [line.decode("iso-8859-1") for line in lines]
    fields: list[list[str]] = []
    plain = bool(texts) and texts[-1] in ("\r\n", "\n")
    for text in texts[:-1] if plain else ():
        if _FIELD.match(text):
            fields.append([text])
        elif fields and _FOLDED.match(text):
            fields[-1].append(text)
        else:
            plain = False
            break
    if not plain:
        return email.parser.Parser(_class=_class).parsestr("".join(texts))
    message = _class()
    for field in fields:
        message.set_raw(*message.policy.header_source_parse(field))
    return message


def _begin_parsing_with(parse: Any) -> Any:
    """``HTTPResponse.begin`` of the running Python, its ``parse_headers`` being ``parse``:
    the standard method's own code (status line, 1xx responses, version, length, chunking,
    keep-alive), with one name bound differently."""
    begin = http.client.HTTPResponse.begin
    names = {**vars(http.client), "parse_headers": parse}
    return types.FunctionType(begin.__code__, names, begin.__name__, begin.__defaults__,
                              begin.__closure__)  # fmt: skip


class _HTTPResponse(http.client.HTTPResponse):
    begin = _begin_parsing_with(parse_headers)


class _Connection(urllib3.connection.HTTPConnection):
    response_class = _HTTPResponse


class _TLSConnection(urllib3.connection.HTTPSConnection):
    response_class = _HTTPResponse


class _Pool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class Urllib3Transport(RequestsTransport):
    """``RequestsTransport`` sending through urllib3 directly (see the module text)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None

    def open(self) -> None:
        super().open()
        with self._lock:
            if self._pool is None:
                pool = urllib3.PoolManager(maxsize=POOL_SIZE, retries=False)
                pool.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
                self._pool = pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.clear()
        super().close()

    def send(self, request: Any, *, proxies: Any = None, **kwargs: Any) -> Any:
        body = request.data
        if proxies or request.files or not isinstance(body, (bytes, bytearray, str, type(None))):
            # a proxy, a form, a streamed or chunked body: what requests does, it does
            return super().send(request, proxies=proxies, **kwargs)
        self.open()
        pool_manager = self._pool
        if pool_manager is None:  # closed by another thread in between
            return super().send(request, proxies=proxies, **kwargs)
        config = self.connection_config
        connect = kwargs.pop("connection_timeout", config.timeout)
        read = kwargs.pop("read_timeout", config.read_timeout)
        verify = kwargs.pop("connection_verify", config.verify)
        cert = kwargs.pop("connection_cert", config.cert)
        stream = kwargs.get("stream", False)
        if isinstance(connect, tuple) or cert is not None:
            return super().send(request, connection_timeout=connect, read_timeout=read,
                                connection_verify=verify, connection_cert=cert,
                                **kwargs)  # fmt: skip
        pool_kwargs: dict[str, Any] = {}
        if request.url.startswith("https:"):
            if verify is False:
                pool_kwargs["cert_reqs"] = "CERT_NONE"
            else:
                pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
                if isinstance(verify, str):
                    pool_kwargs["ca_certs"] = verify
        try:
            url = urllib3.util.parse_url(request.url)  # once: the pool and the target
            pool = pool_manager.connection_from_host(
                url.host, port=url.port, scheme=url.scheme or "http",
                pool_kwargs=pool_kwargs or None,
            )  # fmt: skip
            raw = pool.urlopen(
                request.method,
                url.request_uri,  # origin form, as requests sends it
                body=bytes(body) if isinstance(body, bytearray) else body,
                headers=dict(request.headers),
                redirect=False,
                assert_same_host=False,
                retries=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
                preload_content=False,
                decode_content=False,
                enforce_content_length=True,
                chunked=False,
            )
        # The order and the mapping of RequestsTransport.send (NewConnectionError is a
        # ConnectTimeoutError in urllib3 2, and requests leaves both unwrapped).
        except urllib3.exceptions.NewConnectionError as exc:
            raise ServiceRequestError(exc, error=exc) from exc
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise ServiceRequestTimeoutError(exc, error=exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise ServiceResponseTimeoutError(exc, error=exc) from exc
        except urllib3.exceptions.ProtocolError as exc:
            raise ServiceResponseError(exc, error=exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise ServiceRequestError(exc, error=exc) from exc
        response = requests.Response()
        response.status_code = raw.status
        response.headers = CaseInsensitiveDict(raw.headers)
        response.raw = raw
        response.reason = raw.reason or ""
        response.url = request.url
        response.encoding = get_encoding_from_headers(response.headers)
        if _is_rest(request):
            from azure.core.pipeline.transport._requests_basic import (
                _handle_non_stream_rest_response,
            )
            from azure.core.rest._requests_basic import RestRequestsTransportResponse

            rest = RestRequestsTransportResponse(
                request=request, internal_response=response, block_size=config.data_block_size
            )
            if not stream:
                _handle_non_stream_rest_response(rest)
            return rest
        legacy = RequestsTransportResponse(request, response, config.data_block_size)
        if not stream:
            legacy.body()  # as requests reads a non-streamed body at once
        return legacy


def _is_rest(request: Any) -> bool:
    from azure.core.pipeline._tools import is_rest

    return bool(is_rest(request))
