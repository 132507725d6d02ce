"""A local stand-in of Azure AI Language's synchronous sentiment call, for the real SDK.

    with LanguageStandIn(key="k") as language:
        client = TextAnalyticsClient(language.endpoint, AzureKeyCredential("k"))
        ... language.document_counts() ... language.fail_with(500, times=2)

It answers ``POST /language/:analyze-text?api-version=2023-04-01`` (what
azure-ai-textanalytics 5.4.0 sends) for ``kind: "SentimentAnalysis"`` the way the service
documents it: the ``Ocp-Apim-Subscription-Key`` header is checked (401 otherwise), more
than 10 documents is a 400 ``InvalidDocumentBatch``, an empty or over-long document is a
per-document ``InvalidDocument`` error next to the others' results, and so is a language
outside a small supported set (``UnsupportedLanguageCode``). Answers are built from the
shape of ``data/samples/language-sentiment.json``. ``fail_with(status, times)`` answers
the next requests with 500/503/429 (optionally with Retry-After) for retry tests.

Scoring is a tiny word lexicon, deterministic, so that tests can say what to expect:
good/great/excellent/reliable are positive, bad/late/terrible negative, both mixed.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

SAMPLE_PATH = Path(__file__).resolve().parents[2] / "data" / "samples" / "language-sentiment.json"
ANALYZE_TEXT_PATH = "/language/:analyze-text"
SUPPORTED_API_VERSIONS = frozenset({"2022-05-01", "2023-04-01"})
MAX_DOCUMENTS = 10
MAX_DOCUMENT_CHARS = 5120
DEFAULT_KEY = "stand-in-language-key"

# A few of the languages the sentiment model supports; enough to test the refusal of others.
SUPPORTED_LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "nl", "pt-pt", "pt-br", "ja"})

POSITIVE_WORDS = frozenset({"good", "great", "excellent", "reliable"})
NEGATIVE_WORDS = frozenset({"bad", "late", "terrible"})

_WORD = re.compile(r"[a-z']+")
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")

# Error bodies as the service documents them ({"error": {code, message, innererror?}}).
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)
TOO_MANY_DOCUMENTS_MESSAGE = (
    f"Batch request contains too many records. Max {MAX_DOCUMENTS} records are permitted."
)
DOCUMENT_TOO_LARGE_MESSAGE = (
    f"A document within the request was too large to be processed. Limit document size "
    f"to: {MAX_DOCUMENT_CHARS} text elements. For additional details on the data "
    "limitations see https://aka.ms/text-analytics-data-limits"
)
UNSUPPORTED_LANGUAGE_MESSAGE = "Invalid language code. Supported languages: " + ",".join(
    sorted(SUPPORTED_LANGUAGES)
)
FAULT_MESSAGES = {
    429: ("429", "Rate limit is exceeded. Try again in 1 seconds."),
    500: ("InternalServerError", "Internal server error."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
}


def error_body(
    code: str, message: str, inner_code: str | None = None, inner_message: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner_code is not None:
        error["innererror"] = {"code": inner_code, "message": inner_message or message}
    return {"error": error}


def lexicon_scores(text: str) -> tuple[str, dict[str, float]]:
    """The label and confidence scores (two decimals, summing to 1) of one text."""
    words = _WORD.findall(text.lower())
    positives = sum(word in POSITIVE_WORDS for word in words)
    negatives = sum(word in NEGATIVE_WORDS for word in words)
    if positives and negatives:
        label = "mixed"
    elif positives:
        label = "positive"
    elif negatives:
        label = "negative"
    else:
        label = "neutral"
    neutral_weight = 0.25 if positives or negatives else 1.0
    total = positives + negatives + neutral_weight
    positive = round(positives / total, 2)
    negative = round(negatives / total, 2)
    neutral = round(1.0 - positive - negative, 2)
    return label, {"positive": positive, "neutral": neutral, "negative": negative}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it (before it decided how to answer)."""

    method: str
    path: str
    api_version: str | None
    headers: dict[str, str]
    document_count: int | None
    body: Any
    status: int = 0


@dataclass
class _Fault:
    status: int
    times: int
    retry_after: int | None = None


@dataclass
class _State:
    key: str
    sample: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: pytest shows failures, not access logs

    def do_GET(self) -> None:
        self._read_body()
        self._record(None, 404)
        self._send(404, error_body("404", "Resource not found"))

    def do_POST(self) -> None:
        raw = self._read_body()
        if self.server.state.delay:
            time.sleep(self.server.state.delay)  # a slow service (tests that kill a worker)
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = None
        status, answer, headers = self._answer(body)
        self._record(body, status)
        self._send(status, answer, headers)

    def _answer(self, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        state = self.server.state
        if self.headers.get("Ocp-Apim-Subscription-Key") != state.key:
            return 401, error_body("401", INVALID_KEY_MESSAGE), {}
        with state.lock:
            fault = state.faults[0] if state.faults else None
            if fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.pop(0)
        if fault is not None:
            code, message = FAULT_MESSAGES.get(fault.status, (str(fault.status), "Failure."))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            return fault.status, error_body(code, message), headers
        url = urlsplit(self.path)
        if url.path != ANALYZE_TEXT_PATH:
            return 404, error_body("404", "Resource not found"), {}
        if self._api_version() not in SUPPORTED_API_VERSIONS:
            return 404, error_body("404", "Resource not found"), {}
        if not isinstance(body, dict) or body.get("kind") != "SentimentAnalysis":
            return (
                400,
                error_body(
                    "InvalidRequest",
                    "Invalid Request.",
                    "InvalidParameterValue",
                    "This stand-in only answers kind SentimentAnalysis.",
                ),
                {},
            )
        documents = (body.get("analysisInput") or {}).get("documents") or []
        if not documents:
            return (
                400,
                error_body(
                    "InvalidRequest",
                    "Invalid document in request.",
                    "MissingInputDocuments",
                    "Missing input documents.",
                ),
                {},
            )
        if len(documents) > MAX_DOCUMENTS:
            return (
                400,
                error_body(
                    "InvalidRequest",
                    "Invalid document in request.",
                    "InvalidDocumentBatch",
                    TOO_MANY_DOCUMENTS_MESSAGE,
                ),
                {},
            )
        ids = [str(document.get("id")) for document in documents]
        if len(set(ids)) != len(ids):
            return (
                400,
                error_body(
                    "InvalidArgument",
                    "Invalid document in request.",
                    "InvalidDocument",
                    "Request contains duplicated Ids. Make sure each document has a unique Id.",
                ),
                {},
            )
        return 200, self._results(documents), {}

    def _results(self, documents: list[dict[str, Any]]) -> dict[str, Any]:
        sample = self.server.state.sample
        template_document = sample["results"]["documents"][0]
        template_sentence = template_document["sentences"][0]
        template_error = sample["results"]["errors"][0]
        scored: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for document in documents:
            document_id = str(document.get("id"))
            text = str(document.get("text") or "")
            language = str(document.get("language") or "en")
            if not text.strip():
                inner = ("InvalidDocument", "Document text is empty.")
            elif language.lower() not in SUPPORTED_LANGUAGES:
                inner = ("UnsupportedLanguageCode", UNSUPPORTED_LANGUAGE_MESSAGE)
            elif len(text) > MAX_DOCUMENT_CHARS:
                inner = ("InvalidDocument", DOCUMENT_TOO_LARGE_MESSAGE)
            else:
                scored.append(_scored_document(template_document, template_sentence, document))
                continue
            error = copy.deepcopy(template_error)
            error["id"] = document_id
            if inner[0] == "UnsupportedLanguageCode":
                error["error"]["message"] = "Invalid Language Code."
            error["error"]["innererror"] = {"code": inner[0], "message": inner[1]}
            errors.append(error)
        return {
            "kind": sample["kind"],
            "results": {
                "documents": scored,
                "errors": errors,
                "modelVersion": sample["results"]["modelVersion"],
            },
        }

    def _api_version(self) -> str | None:
        values = parse_qs(urlsplit(self.path).query).get("api-version")
        return values[0] if values else None

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, body: Any, status: int) -> None:
        documents = None
        if isinstance(body, dict):
            found = (body.get("analysisInput") or {}).get("documents")
            documents = len(found) if isinstance(found, list) else None
        recorded = RecordedRequest(
            method=self.command,
            path=urlsplit(self.path).path,
            api_version=self._api_version(),
            headers={name: value for name, value in self.headers.items()},
            document_count=documents,
            body=body,
            status=status,
        )
        with self.server.state.lock:
            self.server.state.requests.append(recorded)

    def _send(
        self, status: int, answer: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("apim-request-id", f"stand-in-{len(self.server.state.requests)}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _scored_document(
    template: dict[str, Any], sentence_template: dict[str, Any], document: dict[str, Any]
) -> dict[str, Any]:
    text = str(document.get("text") or "")
    label, scores = lexicon_scores(text)
    answer = copy.deepcopy(template)
    answer.update(id=str(document.get("id")), sentiment=label, confidenceScores=scores)
    answer["warnings"] = []
    sentences = []
    for match in _SENTENCE.finditer(text):
        sentence_text = match.group().strip()
        if not sentence_text:
            continue
        sentence_label, sentence_scores = lexicon_scores(sentence_text)
        sentence = copy.deepcopy(sentence_template)
        sentence.update(
            sentiment=sentence_label,
            confidenceScores=sentence_scores,
            offset=match.start() + (len(match.group()) - len(match.group().lstrip())),
            length=len(sentence_text),
            text=sentence_text,
        )
        sentences.append(sentence)
    answer["sentences"] = sentences
    return answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class LanguageStandIn:
    """The sentiment endpoint of a Language resource, on 127.0.0.1 at a free port."""

    def __init__(self, key: str = DEFAULT_KEY, sample_path: Path = SAMPLE_PATH) -> None:
        self.key = key
        self._state = _State(key=key, sample=json.loads(sample_path.read_text("utf-8")))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LanguageStandIn:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.state = self._state
        self._server = server
        # A short poll interval keeps stop() (server.shutdown) quick in test teardown.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="language-stand-in",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LanguageStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def fail_with(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (after the key check)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._state.lock:
            self._state.faults.append(_Fault(status, times, retry_after))

    def slow_down(self, seconds: float) -> None:
        """Answer every request after ``seconds`` (0 to stop)."""
        with self._state.lock:
            self._state.delay = seconds

    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def document_counts(self) -> list[int | None]:
        """How many documents each request carried, in arrival order."""
        return [request.document_count for request in self.requests()]

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.faults.clear()
