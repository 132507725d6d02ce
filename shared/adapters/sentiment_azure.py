"""Sentiment from Azure AI Language (the Text Analytics SDK, imported on first use).

``TextAnalyticsClient.analyze_sentiment`` of azure-ai-textanalytics 5.4.0 posts to
``{endpoint}/language/:analyze-text?api-version=2023-04-01`` with ``kind:
"SentimentAnalysis"``. The synchronous call takes at most 10 documents of at most 5,120
characters each, so this adapter splits and truncates (and answers blank texts itself);
the caller hands in any number.

Authenticates with ``TEXT_ANALYTICS_KEY`` (sent as ``Ocp-Apim-Subscription-Key``) or,
without a key, with the app's managed identity (DefaultAzureCredential, which needs the
"Cognitive Services User" role on the resource).

Retries are bounded here: sentiment is scored in the background, and the job or bid
that asked for it is retried with backoff by the queue, so a long in-process retry loop
would only hold a Functions worker hostage while the service is down.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shared.domain.errors import UpstreamUnavailable
from shared.domain.sentiment import (
    EMPTY_DOCUMENT_ERROR,
    MAX_DOCUMENTS_PER_REQUEST,
    Sentiment,
    SentimentResult,
    check_document_ids,
    truncate_document,
)

if TYPE_CHECKING:
    from azure.ai.textanalytics import TextAnalyticsClient
    from azure.core.credentials import TokenCredential

SOURCE = "azure-language"
SERVICE = "Azure AI Language"
DEFAULT_RETRY_TOTAL = 2
DEFAULT_RETRY_BACKOFF_SECONDS = 0.5
DEFAULT_TIMEOUT_SECONDS = 15.0
# Wait this long after a throttled answer without Retry-After, or a failure without one.
DEFAULT_RETRY_AFTER_SECONDS = 30


class AzureTextAnalyticsAnalyzer:
    """A SentimentAnalyzer backed by Azure AI Language; one SDK client per instance."""

    name = SOURCE
    max_batch = MAX_DOCUMENTS_PER_REQUEST

    def __init__(
        self,
        endpoint: str,
        key: str | None,
        *,
        language: str = "en",
        retry_total: int = DEFAULT_RETRY_TOTAL,
        retry_backoff_seconds: float = DEFAULT_RETRY_BACKOFF_SECONDS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        credential: Callable[[], TokenCredential] | None = None,
    ) -> None:
        """``credential``: the process's token credential, asked for when the client is
        built without a key (the container passes its one managed identity)."""
        if not endpoint:
            raise ValueError("TEXT_ANALYTICS_ENDPOINT is required for SENTIMENT_PROVIDER=azure")
        self._endpoint = endpoint
        self._key = key or None
        self._language = language
        self._retry_total = retry_total
        self._retry_backoff_seconds = retry_backoff_seconds
        self._timeout_seconds = timeout_seconds
        self._credential = credential
        self._client: TextAnalyticsClient | None = None
        self._lock = threading.Lock()

    def _text_analytics(self) -> TextAnalyticsClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> TextAnalyticsClient:
        from azure.ai.textanalytics import TextAnalyticsClient
        from azure.core.credentials import AzureKeyCredential

        credential: AzureKeyCredential | TokenCredential
        if self._key:
            credential = AzureKeyCredential(self._key)
        elif self._credential is not None:
            credential = self._credential()
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        return TextAnalyticsClient(
            self._endpoint,
            credential,
            default_language=self._language,
            retry_total=self._retry_total,
            retry_backoff_factor=self._retry_backoff_seconds,
            connection_timeout=self._timeout_seconds,
            read_timeout=self._timeout_seconds,
        )

    def close(self) -> None:
        """Release the client's connections (at process shutdown; tests)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def analyze(self, documents: Sequence[tuple[str, str]]) -> list[SentimentResult]:
        check_document_ids(documents)
        # Blank texts are answered here: the service would only refuse them one by one,
        # and a batch of nothing but blanks needs no request at all.
        results: dict[str, SentimentResult] = {
            document_id: SentimentResult.failed(document_id, EMPTY_DOCUMENT_ERROR)
            for document_id, text in documents
            if not text or not text.strip()
        }
        to_send = [document for document in documents if document[0] not in results]
        for start in range(0, len(to_send), self.max_batch):
            for result in self._analyze_batch(to_send[start : start + self.max_batch]):
                results[result.id] = result
        return [results[document_id] for document_id, _ in documents]

    def _analyze_batch(self, batch: Sequence[tuple[str, str]]) -> list[SentimentResult]:
        from azure.core.exceptions import AzureError

        payload = [
            {"id": document_id, "text": truncate_document(text)} for document_id, text in batch
        ]
        try:
            # Comments are users' words: opt out of the service keeping them for 48 hours.
            answers = self._text_analytics().analyze_sentiment(payload, disable_service_logs=True)
        except AzureError as exc:
            raise self._unavailable(exc) from exc
        by_id = {str(answer.id): answer for answer in answers}
        return [_result_for(document_id, by_id.get(document_id)) for document_id, _ in batch]

    def _unavailable(self, exc: Exception) -> UpstreamUnavailable:
        """Say what failed without echoing the service's text (it may quote the request)."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        retry_after: int | None = DEFAULT_RETRY_AFTER_SECONDS
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError):
            detail = f"{SERVICE} refused our credentials" + (f" (HTTP {status})" if status else "")
        elif isinstance(exc, HttpResponseError) and status is not None:
            code = getattr(getattr(exc, "error", None), "code", None)
            detail = f"{SERVICE} answered HTTP {status}" + (f" ({code})" if code else "")
            retry_after = _retry_after(exc) or retry_after
        elif isinstance(exc, ServiceRequestError | ServiceResponseError):
            detail = f"{SERVICE} could not be reached ({type(exc).__name__})"
        else:
            detail = f"{SERVICE} failed ({type(exc).__name__})"
        if self._key:
            detail = detail.replace(self._key, "***")
        return UpstreamUnavailable(detail, retry_after=retry_after)


def _result_for(document_id: str, answer: Any) -> SentimentResult:
    """Map one AnalyzeSentimentResult or DocumentError (or its absence) to our result."""
    if answer is None:
        return SentimentResult.failed(document_id, "MissingResult: the service returned none")
    if getattr(answer, "is_error", False):
        error = answer.error
        return SentimentResult.failed(document_id, f"{error.code}: {error.message}")
    scores = answer.confidence_scores
    try:
        sentiment = Sentiment(
            label=answer.sentiment,
            positive=float(scores.positive),
            neutral=float(scores.neutral),
            negative=float(scores.negative),
            source=SOURCE,
        )
    except (TypeError, ValueError) as exc:
        return SentimentResult.failed(document_id, f"UnexpectedSentiment: {exc}")
    return SentimentResult.scored(document_id, sentiment)


def _retry_after(exc: Any) -> int | None:
    """Seconds the service asked us to wait (429 answers carry Retry-After)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(1, int(float(value))) if value is not None else None
    except ValueError:
        return None
