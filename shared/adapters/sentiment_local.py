"""Sentiment without a cloud service: VADER, a lexicon and rules analyzer for short texts.

Used when ``SENTIMENT_PROVIDER=local`` (development, CI, and any deployment that should
not send comments to Azure). VADER is imported and its lexicon loaded on first use, once
per process, so that importing this module costs nothing at cold start.

VADER gives the shares of positive, neutral and negative wording and a ``compound``
polarity in [-1, 1]; they are mapped onto the Language service's labels so that callers
see one vocabulary whichever analyzer ran.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from shared.domain.sentiment import (
    EMPTY_DOCUMENT_ERROR,
    MAX_DOCUMENTS_PER_REQUEST,
    Label,
    Sentiment,
    SentimentResult,
    check_document_ids,
    normalised_scores,
    truncate_document,
)

SOURCE = "local-vader"

# VADER's own recommended thresholds on the compound score.
POSITIVE_COMPOUND = 0.05
NEGATIVE_COMPOUND = -0.05
# A text is "mixed" when positive and negative wording each make up at least this share
# of it, whatever the compound says: "great work but terribly late" is both.
MIXED_MIN_SHARE = 0.15


def label_for(compound: float, positive: float, negative: float) -> Label:
    """The Language-service label for VADER's compound score and word shares."""
    if positive >= MIXED_MIN_SHARE and negative >= MIXED_MIN_SHARE:
        return "mixed"
    if compound >= POSITIVE_COMPOUND:
        return "positive"
    if compound <= NEGATIVE_COMPOUND:
        return "negative"
    return "neutral"


class LocalSentimentAnalyzer:
    """A SentimentAnalyzer that runs in process; thread-safe, one VADER per instance."""

    name = SOURCE
    # No upstream limit; keeping the service's batch size makes callers behave alike.
    max_batch = MAX_DOCUMENTS_PER_REQUEST

    def __init__(self) -> None:
        self._vader: Any = None
        self._lock = threading.Lock()

    def _analyzer(self) -> Any:
        # Double-checked so concurrent first calls load the lexicon once; polarity_scores
        # only reads the lexicon afterwards, so one instance serves every thread.
        if self._vader is None:
            with self._lock:
                if self._vader is None:
                    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                    self._vader = SentimentIntensityAnalyzer()
        return self._vader

    def analyze(self, documents: Sequence[tuple[str, str]]) -> list[SentimentResult]:
        check_document_ids(documents)
        return [self._score(document_id, text) for document_id, text in documents]

    def _score(self, document_id: str, text: str) -> SentimentResult:
        if not text or not text.strip():
            return SentimentResult.failed(document_id, EMPTY_DOCUMENT_ERROR)
        polarity = self._analyzer().polarity_scores(truncate_document(text))
        positive, neutral, negative = normalised_scores(
            float(polarity["pos"]), float(polarity["neu"]), float(polarity["neg"])
        )
        sentiment = Sentiment(
            label=label_for(float(polarity["compound"]), positive, negative),
            positive=positive,
            neutral=neutral,
            negative=negative,
            source=SOURCE,
        )
        return SentimentResult.scored(document_id, sentiment)
