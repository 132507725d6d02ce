"""Sentiment of a text: the model every analyzer returns and the limits callers plan for.

Pure: no I/O, no SDK. The shape of ``Sentiment.to_dict()`` is the Bid's ``sentiment``
field of API.md, so the stored value and the public answer are one and the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

Label = Literal["positive", "neutral", "negative", "mixed"]
LABELS: tuple[Label, ...] = get_args(Label)

# Limits of the Azure AI Language synchronous sentiment call (documented service limits);
# the local analyzer keeps to the same ones so that a caller behaves alike with either.
MAX_DOCUMENTS_PER_REQUEST = 10
MAX_DOCUMENT_CHARS = 5120

# Scores are confidences: stored and shown with this many decimals.
SCORE_DECIMALS = 4

# The per-document error an empty text gets, worded as the Language service words it,
# so that callers see one message whichever analyzer ran.
EMPTY_DOCUMENT_ERROR = "InvalidDocument: Document text is empty."


@dataclass(frozen=True)
class Sentiment:
    """A label and its three confidence scores (each in [0, 1], summing to about 1).

    ``mixed`` has no score of its own: it means the text carries both positive and
    negative sentiment, which the positive and negative scores show.
    """

    label: Label
    positive: float
    neutral: float
    negative: float
    source: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown sentiment label {self.label!r}")
        for name in ("positive", "neutral", "negative"):
            score = getattr(self, name)
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise ValueError(f"{name} score must be a number")
            if math.isnan(score) or not 0.0 <= score <= 1.0:
                raise ValueError(f"{name} score {score!r} is outside [0, 1]")
        if not self.source:
            raise ValueError("a sentiment names its source")

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (API.md, Bid ``sentiment``)."""
        return {
            "label": self.label,
            "scores": {
                "positive": round(self.positive, SCORE_DECIMALS),
                "neutral": round(self.neutral, SCORE_DECIMALS),
                "negative": round(self.negative, SCORE_DECIMALS),
            },
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sentiment:
        """Read back what ``to_dict`` wrote; ValueError for anything else."""
        try:
            scores = data["scores"]
            return cls(
                label=data["label"],
                positive=float(scores["positive"]),
                neutral=float(scores["neutral"]),
                negative=float(scores["negative"]),
                source=str(data["source"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a sentiment: {exc}") from exc


@dataclass(frozen=True)
class SentimentResult:
    """The outcome for one document: a sentiment, or the reason it has none.

    A document-level failure (empty text, unsupported language) is a result with
    ``error`` set, so that one bad document never costs the others their scores.
    """

    id: str
    sentiment: Sentiment | None
    error: str | None

    def __post_init__(self) -> None:
        if (self.sentiment is None) == (self.error is None):
            raise ValueError("a result has either a sentiment or an error, not both or neither")

    @classmethod
    def scored(cls, document_id: str, sentiment: Sentiment) -> SentimentResult:
        return cls(id=document_id, sentiment=sentiment, error=None)

    @classmethod
    def failed(cls, document_id: str, error: str) -> SentimentResult:
        return cls(id=document_id, sentiment=None, error=error or "unknown error")

    @property
    def ok(self) -> bool:
        return self.sentiment is not None


def normalised_scores(
    positive: float, neutral: float, negative: float
) -> tuple[float, float, float]:
    """Scale three non-negative scores to sum to 1; all-zero scores mean neutral."""
    values = [max(0.0, positive), max(0.0, neutral), max(0.0, negative)]
    total = sum(values)
    if total <= 0.0:
        return 0.0, 1.0, 0.0
    return values[0] / total, values[1] / total, values[2] / total


def check_document_ids(documents: Sequence[tuple[str, str]]) -> None:
    """Refuse empty or repeated ids: results are matched back to inputs by id.

    A repeated id is a caller's bug (the service would refuse the whole batch), so it
    raises ValueError rather than becoming a per-document error.
    """
    seen: set[str] = set()
    for document_id, _ in documents:
        if not document_id:
            raise ValueError("every document needs a non-empty id")
        if document_id in seen:
            raise ValueError(f"document id {document_id!r} appears twice")
        seen.add(document_id)


def truncate_document(text: str) -> str:
    """Cut a text to what the service accepts; the opening carries most of a comment."""
    return text[:MAX_DOCUMENT_CHARS]
