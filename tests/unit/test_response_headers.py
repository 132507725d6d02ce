"""The transport's response-header parser against the standard library's, on the same bytes.

``shared.adapters.sdk_transport.parse_headers`` must give back exactly what
``http.client.parse_headers`` gives (the ``HTTPMessage`` items, in order, duplicates and
folded lines included) for every header block, taking a shortcut only for plain
``name: value`` lines; and ``_HTTPResponse`` (the standard ``begin`` with that parser)
must read status, length, chunking, keep-alive and body as ``http.client.HTTPResponse``
does."""

from __future__ import annotations

import http.client
import io
from email.errors import MultipartInvariantViolationDefect, StartBoundaryNotFoundDefect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters import sdk_transport
from shared.adapters.sdk_transport import _HTTPResponse, parse_headers

# An entity-group transaction's answer from Azurite (boundary and ids as it sends them).
BATCH = (
    b"Server: Azurite-Table/3.35.0\r\n"
    b"content-type: multipart/mixed;"
    b" boundary=batchresponse_7a5c0f66-2f63-4a3e-a4f6-5b2d3c9e0f11\r\n"
    b"x-ms-request-id: 0f6d7c8e-1a2b-4c3d-9e8f-7a6b5c4d3e2f\r\n"
    b"x-ms-version: 2025-11-05\r\n"
    b"date: Fri, 04 Dec 2026 14:02:11 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b"Keep-Alive: timeout=5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
BLOCKS = {
    "transaction": BATCH,
    "queue": (
        b"Content-Type: application/xml\r\nContent-Length: 412\r\n"
        b"x-ms-request-id: 1\r\nx-ms-version: 2025-11-05\r\n\r\n"
    ),
    "duplicates": b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nVary: A\r\nVary: B\r\n\r\n",
    "folded": b"X-Long: first\r\n  second\r\n\tthird\r\nX-Next: n\r\n\r\n",
    "empty value": b"X-Empty:\r\nX-Spaces:    \r\nETag: W/\"datetime'2026'\"\r\n\r\n",
    "latin-1": "X-Name: caf\u00e9 \u00fc\r\n\r\n".encode("iso-8859-1"),
    "bare LF": b"Content-Type: text/plain\nX-A: 1\n\n",
    "no headers": b"\r\n",
    # Not plain: the standard parser takes them whole.
    "no colon": b"X-A: 1\r\nnot a header\r\nX-B: 2\r\n\r\n",
    "colon first": b"X-A: 1\r\n: no name\r\nX-B: 2\r\n\r\n",
    "space in name": b"X A: 1\r\nX-B: 2\r\n\r\n",
    "unix from": b"From someone\r\nX-B: 2\r\n\r\n",
    "first line folded": b" folded\r\nX-B: 2\r\n\r\n",
    "bare CR": b"X-A: 1\rX-C: 3\r\nX-B: 2\r\n\r\n",
    "no blank line": b"X-A: 1\r\nX-B: 2\r\n",
    "nothing": b"",
}
_IGNORED = (StartBoundaryNotFoundDefect, MultipartInvariantViolationDefect)  # urllib3#800


def _both(block: bytes) -> tuple[http.client.HTTPMessage, http.client.HTTPMessage]:
    ours = parse_headers(io.BytesIO(block + b"the body"))
    theirs = http.client.parse_headers(io.BytesIO(block + b"the body"))
    return ours, theirs


def _same(ours: Any, theirs: Any) -> None:
    assert type(ours) is type(theirs)
    assert ours.items() == theirs.items()
    for name in {name.lower() for name in theirs}:
        assert ours.get_all(name) == theirs.get_all(name)
    assert ours.get_content_type() == theirs.get_content_type()
    assert [type(d) for d in ours.defects if not isinstance(d, _IGNORED)] == [
        type(d) for d in theirs.defects if not isinstance(d, _IGNORED)
    ]


@pytest.mark.parametrize("name", list(BLOCKS))
def test_every_header_block_parses_as_the_standard_library_parses_it(name: str) -> None:
    ours, theirs = _both(BLOCKS[name])
    _same(ours, theirs)


def test_the_reader_leaves_the_body_where_the_standard_one_does() -> None:
    body = b"--batchresponse_x\r\n"
    ours, theirs = io.BytesIO(BATCH + body), io.BytesIO(BATCH + body)
    parse_headers(ours)
    http.client.parse_headers(theirs)
    assert ours.read() == theirs.read() == body


def test_a_transaction_answer_takes_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain blocks never reach the email parser (what the shortcut is for)."""
    calls: list[str] = []
    real = sdk_transport.email.parser.Parser.parsestr
    monkeypatch.setattr(
        sdk_transport.email.parser.Parser, "parsestr",
        lambda self, text, headersonly=False: calls.append(text) or real(self, text, headersonly),
    )  # fmt: skip
    parse_headers(io.BytesIO(BATCH))
    parse_headers(io.BytesIO(BLOCKS["folded"]))
    assert calls == []
    parse_headers(io.BytesIO(BLOCKS["no colon"]))
    assert len(calls) == 1


def test_the_limits_of_the_standard_reader_hold() -> None:
    many = b"".join(b"X-%d: v\r\n" % n for n in range(101)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        parse_headers(io.BytesIO(many))
    with pytest.raises(http.client.LineTooLong):
        parse_headers(io.BytesIO(b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n"))


_LINE_CHARS = st.sampled_from([*"Aa-_:;\t \r\n/=\"'", "\u00e9", "\x7f", "\x00", "0"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(_LINE_CHARS, max_size=12), max_size=8), st.booleans())
def test_any_header_block_parses_as_the_standard_library_parses_it(
    lines: list[str], crlf: bool
) -> None:
    end = "\r\n" if crlf else "\n"
    block = ("".join(line + end for line in lines) + end).encode("iso-8859-1")
    ours, theirs = _both(block)
    _same(ours, theirs)


class _Socket:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.data))  # type: ignore[arg-type]


RESPONSES = {
    "keep-alive, length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
    "chunked": b"HTTP/1.1 202 Accepted\r\n" + BATCH + b"5\r\nhello\r\n0\r\n\r\n",
    "100 continue first": (
        b"HTTP/1.1 100 Continue\r\nX-Skip: 1\r\n\r\n"
        b'HTTP/1.1 201 Created\r\nContent-Length: 2\r\nETag: "e"\r\n\r\nok'
    ),
    "HTTP/1.0, close": b"HTTP/1.0 204 No Content\r\nX-A: 1\r\n\r\n",
    "connection close": b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nmissing",
    "not plain": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nbroken line\r\n\r\nhi",
}


@pytest.mark.parametrize("name", list(RESPONSES))
def test_a_response_is_read_as_the_standard_response_reads_it(name: str) -> None:
    ours = _HTTPResponse(_Socket(RESPONSES[name]), method="GET")  # type: ignore[arg-type]
    theirs = http.client.HTTPResponse(_Socket(RESPONSES[name]), method="GET")  # type: ignore[arg-type]
    ours.begin()
    theirs.begin()
    assert (ours.status, ours.reason) == (theirs.status, theirs.reason)
    assert ours.version == theirs.version
    assert (ours.length, ours.chunked, ours.will_close) == (
        theirs.length, theirs.chunked, theirs.will_close,
    )  # fmt: skip
    _same(ours.msg, theirs.msg)
    assert ours.read() == theirs.read()


def test_the_running_pythons_begin_still_calls_parse_headers() -> None:
    """The transport's response class is the standard ``begin`` with ``parse_headers``
    bound to ours: if a Python release stops calling it by that name, this says so."""
    assert "parse_headers" in http.client.HTTPResponse.begin.__code__.co_names
    assert _HTTPResponse.begin.__code__ is http.client.HTTPResponse.begin.__code__
    assert _HTTPResponse.begin.__globals__["parse_headers"] is parse_headers
