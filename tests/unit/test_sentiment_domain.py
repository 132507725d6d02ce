"""The sentiment model: its public shape, its invariants, and the helpers adapters share."""

from __future__ import annotations

import math

import pytest

from shared.domain.sentiment import (
    EMPTY_DOCUMENT_ERROR,
    LABELS,
    MAX_DOCUMENT_CHARS,
    MAX_DOCUMENTS_PER_REQUEST,
    Sentiment,
    SentimentResult,
    check_document_ids,
    normalised_scores,
    truncate_document,
)


def a_sentiment(**overrides: object) -> Sentiment:
    values: dict[str, object] = {
        "label": "positive",
        "positive": 0.912345,
        "neutral": 0.07,
        "negative": 0.017655,
        "source": "azure-language",
    }
    values.update(overrides)
    return Sentiment(**values)  # type: ignore[arg-type]


def test_the_public_shape_is_the_bids_sentiment_field() -> None:
    assert a_sentiment().to_dict() == {
        "label": "positive",
        "scores": {"positive": 0.9123, "neutral": 0.07, "negative": 0.0177},
        "source": "azure-language",
    }


def test_what_to_dict_writes_from_dict_reads_back() -> None:
    original = a_sentiment(label="mixed", positive=0.45, neutral=0.1, negative=0.45)
    assert Sentiment.from_dict(original.to_dict()) == original


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"label": "positive", "source": "x"},
        {"label": "positive", "scores": {"positive": 1.0}, "source": "x"},
        {"label": "great", "scores": {"positive": 1, "neutral": 0, "negative": 0}, "source": "x"},
        {
            "label": "positive",
            "scores": {"positive": 2, "neutral": 0, "negative": 0},
            "source": "x",
        },
        {"label": "positive", "scores": None, "source": "x"},
    ],
)
def test_from_dict_refuses_what_is_not_a_sentiment(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Sentiment.from_dict(data)


@pytest.mark.parametrize(
    "overrides",
    [
        {"label": "happy"},
        {"positive": 1.01},
        {"negative": -0.01},
        {"neutral": math.nan},
        {"positive": True},
        {"neutral": "0.5"},
        {"source": ""},
    ],
)
def test_a_sentiment_refuses_impossible_values(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        a_sentiment(**overrides)


def test_the_labels_are_the_language_services() -> None:
    assert set(LABELS) == {"positive", "neutral", "negative", "mixed"}


def test_a_result_has_a_sentiment_or_an_error() -> None:
    scored = SentimentResult.scored("7", a_sentiment())
    failed = SentimentResult.failed("8", EMPTY_DOCUMENT_ERROR)
    assert scored.ok
    assert (scored.id, scored.error) == ("7", None)
    assert not failed.ok
    assert (failed.id, failed.sentiment, failed.error) == ("8", None, EMPTY_DOCUMENT_ERROR)
    with pytest.raises(ValueError):
        SentimentResult(id="9", sentiment=None, error=None)
    with pytest.raises(ValueError):
        SentimentResult(id="9", sentiment=a_sentiment(), error="also failed")


def test_a_failure_always_says_something() -> None:
    assert SentimentResult.failed("1", "").error


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ((0.2, 0.2, 0.6), (0.2, 0.2, 0.6)),
        ((0.331, 0.331, 0.331), (1 / 3, 1 / 3, 1 / 3)),
        ((2.0, 0.0, 2.0), (0.5, 0.0, 0.5)),
        ((0.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
        ((-0.1, 0.5, 0.5), (0.0, 0.5, 0.5)),
    ],
)
def test_scores_are_normalised_to_sum_to_one(
    raw: tuple[float, float, float], expected: tuple[float, float, float]
) -> None:
    scores = normalised_scores(*raw)
    assert scores == pytest.approx(expected)
    assert sum(scores) == pytest.approx(1.0)


def test_ids_must_be_present_and_unique() -> None:
    check_document_ids([("a", "x"), ("b", "")])
    check_document_ids([])
    with pytest.raises(ValueError, match="twice"):
        check_document_ids([("a", "x"), ("b", "y"), ("a", "z")])
    with pytest.raises(ValueError, match="non-empty id"):
        check_document_ids([("", "x")])


def test_documents_are_cut_to_the_service_limit() -> None:
    assert MAX_DOCUMENT_CHARS == 5120
    assert MAX_DOCUMENTS_PER_REQUEST == 10
    assert truncate_document("short") == "short"
    long_text = "é" * (MAX_DOCUMENT_CHARS + 100)
    assert truncate_document(long_text) == "é" * MAX_DOCUMENT_CHARS
