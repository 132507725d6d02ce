"""One contract for the sentiment port, run against VADER and against the Azure adapter.

The Azure adapter talks through the real azure-ai-textanalytics SDK to a local stand-in
of the Language service (tests/support/language_standin.py), so what is checked here is
the request the SDK really sends and the answer it really parses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.azurite import free_port
from shared.adapters.sentiment_azure import AzureTextAnalyticsAnalyzer
from shared.adapters.sentiment_local import LocalSentimentAnalyzer, label_for
from shared.domain.errors import UpstreamUnavailable
from shared.domain.sentiment import LABELS, MAX_DOCUMENT_CHARS
from shared.ports import SentimentAnalyzer
from tests.support.language_standin import SAMPLE_PATH, LanguageStandIn

ROOT = Path(__file__).resolve().parents[2]
KEY = "contract-test-key-5f1c9a"
POSITIVE = "Great work, reliable and excellent communication."
NEGATIVE = "Terrible job: bad quality and late delivery."
NEUTRAL = "I can start on Monday and finish by Friday."


@pytest.fixture
def language() -> Iterator[LanguageStandIn]:
    with LanguageStandIn(key=KEY) as stand_in:
        yield stand_in


@pytest.fixture
def make_azure(
    language: LanguageStandIn,
) -> Iterator[Callable[..., AzureTextAnalyticsAnalyzer]]:
    built: list[AzureTextAnalyticsAnalyzer] = []

    def build(**overrides: Any) -> AzureTextAnalyticsAnalyzer:
        options: dict[str, Any] = {
            "endpoint": language.endpoint,
            "key": KEY,
            "retry_total": 1,
            "retry_backoff_seconds": 0,
            "timeout_seconds": 5,
        }
        options.update(overrides)
        analyzer = AzureTextAnalyticsAnalyzer(**options)
        built.append(analyzer)
        return analyzer

    yield build
    for analyzer in built:
        analyzer.close()


@pytest.fixture(params=["local", "azure"])
def analyzer(request: pytest.FixtureRequest) -> SentimentAnalyzer:
    if request.param == "local":
        return LocalSentimentAnalyzer()
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer] = request.getfixturevalue("make_azure")
    return make_azure()


# -- the contract, for every analyzer ------------------------------------------------------


def test_results_keep_ids_and_input_order(analyzer: SentimentAnalyzer) -> None:
    documents = [
        ("z-9", POSITIVE),
        ("a-1", NEGATIVE),
        ("m", NEUTRAL),
        ("42", POSITIVE),
        ("b", NEGATIVE),
    ]
    results = analyzer.analyze(documents)
    assert [result.id for result in results] == ["z-9", "a-1", "m", "42", "b"]
    assert all(result.ok for result in results)


def test_labels_and_scores_are_well_formed(analyzer: SentimentAnalyzer) -> None:
    texts = [POSITIVE, NEGATIVE, NEUTRAL, "Good price but late.", "ok"]
    results = analyzer.analyze([(str(i), text) for i, text in enumerate(texts)])
    assert len(results) == len(texts)
    for result in results:
        assert result.sentiment is not None
        sentiment = result.sentiment
        assert sentiment.label in LABELS
        scores = (sentiment.positive, sentiment.neutral, sentiment.negative)
        assert all(0.0 <= score <= 1.0 for score in scores)
        assert sum(scores) == pytest.approx(1.0, abs=0.02)
        assert sentiment.source == analyzer.name
        assert set(sentiment.to_dict()["scores"]) == {"positive", "neutral", "negative"}


def test_clear_comments_are_labelled_so(analyzer: SentimentAnalyzer) -> None:
    positive, negative = analyzer.analyze([("p", POSITIVE), ("n", NEGATIVE)])
    assert positive.sentiment is not None
    assert negative.sentiment is not None
    assert positive.sentiment.label == "positive"
    assert positive.sentiment.positive > positive.sentiment.negative
    assert negative.sentiment.label == "negative"
    assert negative.sentiment.negative > negative.sentiment.positive


def test_an_empty_document_fails_alone(analyzer: SentimentAnalyzer) -> None:
    results = analyzer.analyze([("1", POSITIVE), ("2", ""), ("3", "  \n "), ("4", NEGATIVE)])
    assert [result.id for result in results] == ["1", "2", "3", "4"]
    assert [result.ok for result in results] == [True, False, False, True]
    for failed in results[1:3]:
        assert failed.sentiment is None
        assert failed.error is not None
        assert failed.error.startswith("InvalidDocument")


def test_a_batch_of_nothing_is_nothing(analyzer: SentimentAnalyzer) -> None:
    assert analyzer.analyze([]) == []


def test_repeated_ids_are_refused(analyzer: SentimentAnalyzer) -> None:
    with pytest.raises(ValueError, match="twice"):
        analyzer.analyze([("1", POSITIVE), ("1", NEGATIVE)])


def test_a_long_comment_is_scored(analyzer: SentimentAnalyzer) -> None:
    (result,) = analyzer.analyze([("long", (POSITIVE + " ") * 200)])
    assert result.sentiment is not None
    assert result.sentiment.label == "positive"


def test_each_analyzer_keeps_to_the_service_batch_size(analyzer: SentimentAnalyzer) -> None:
    assert analyzer.max_batch == 10


# -- Azure AI Language -------------------------------------------------------------------


def test_the_sdk_sends_what_the_service_documents(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    make_azure().analyze([("1", POSITIVE)])
    (sent,) = language.requests()
    assert (sent.method, sent.path, sent.api_version, sent.status) == (
        "POST",
        "/language/:analyze-text",
        "2023-04-01",
        200,
    )
    assert sent.headers["Ocp-Apim-Subscription-Key"] == KEY
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body["kind"] == "SentimentAnalysis"
    assert sent.body["analysisInput"]["documents"] == [
        {"id": "1", "text": POSITIVE, "language": "en"}
    ]
    # Users' comments are not left in the service's logs.
    assert sent.body["parameters"]["loggingOptOut"] is True


def test_23_documents_take_3_requests_of_at_most_10(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    documents = [(f"doc-{i}", POSITIVE if i % 2 else NEGATIVE) for i in range(23)]
    results = make_azure().analyze(documents)
    assert language.document_counts() == [10, 10, 3]
    assert [result.id for result in results] == [document_id for document_id, _ in documents]
    assert [r.sentiment.label for r in results if r.sentiment] == [
        "positive" if i % 2 else "negative" for i in range(23)
    ]


def test_blank_documents_are_not_sent(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    results = make_azure().analyze([("1", ""), ("2", "   ")])
    assert [result.ok for result in results] == [False, False]
    assert language.requests() == []


def test_an_over_long_document_is_truncated_before_sending(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    text = "Great work. " * 1000
    (result,) = make_azure().analyze([("1", text)])
    assert result.ok
    (sent,) = language.requests()
    assert sent.body["analysisInput"]["documents"][0]["text"] == text[:MAX_DOCUMENT_CHARS]


def test_document_errors_from_the_service_become_error_results(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer],
) -> None:
    results = make_azure(language="xx").analyze([("1", POSITIVE), ("2", NEGATIVE)])
    assert [result.ok for result in results] == [False, False]
    for result in results:
        assert result.error is not None
        assert result.error.startswith("UnsupportedLanguageCode: Invalid language code.")


def test_a_wrong_key_is_upstream_unavailable_without_the_key(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    wrong_key = "wrong-key-7d3e0b5a9c"
    with pytest.raises(UpstreamUnavailable) as caught:
        make_azure(key=wrong_key).analyze([("1", POSITIVE)])
    assert "credentials" in str(caught.value)
    assert "401" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), str(caught.value.detail)):
        assert wrong_key not in text
        assert KEY not in text
    assert [request.status for request in language.requests()] == [401]


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_service_is_upstream_unavailable_after_bounded_retries(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn, status: int
) -> None:
    language.fail_with(status, times=10)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match=f"HTTP {status}") as caught:
        make_azure(retry_total=1).analyze([("1", POSITIVE)])
    assert time.monotonic() - started < 5
    assert caught.value.status == 503
    # One try and one retry: the job queue, not this call, waits out an outage.
    assert [request.status for request in language.requests()] == [status, status]


def test_one_server_error_is_retried_away(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    language.fail_with(500, times=1)
    (result,) = make_azure(retry_total=1).analyze([("1", POSITIVE)])
    assert result.ok
    assert [request.status for request in language.requests()] == [500, 200]


def test_throttling_passes_the_services_retry_after_on(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer], language: LanguageStandIn
) -> None:
    language.fail_with(429, times=5, retry_after=7)
    with pytest.raises(UpstreamUnavailable, match="HTTP 429") as caught:
        make_azure(retry_total=0).analyze([("1", POSITIVE)])
    assert caught.value.headers["Retry-After"] == "7"


def test_an_unreachable_service_is_upstream_unavailable(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer],
) -> None:
    analyzer = make_azure(endpoint=f"http://127.0.0.1:{free_port()}", retry_total=0)
    with pytest.raises(UpstreamUnavailable, match="could not be reached"):
        analyzer.analyze([("1", POSITIVE)])


def test_without_a_key_the_managed_identity_is_used(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer],
    language: LanguageStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.identity

    built: list[object] = []

    class RecordingCredential:
        def __init__(self, **kwargs: Any) -> None:
            built.append(self)

        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken("token", int(time.time()) + 3600)

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", RecordingCredential)
    analyzer = make_azure(key=None)
    # A bearer token is only ever sent over TLS; the plain-http stand-in is refused
    # before any request, which proves the identity path without a real Entra ID.
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable) as caught:
            analyzer.analyze([("1", POSITIVE)])
        assert "Bearer token" in str(caught.value.__cause__)
    assert len(built) == 1
    assert language.requests() == []


def test_one_client_serves_concurrent_callers(
    make_azure: Callable[..., AzureTextAnalyticsAnalyzer],
    language: LanguageStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import azure.ai.textanalytics as textanalytics

    constructed: list[object] = []
    real_client = textanalytics.TextAnalyticsClient

    def counting_client(*args: Any, **kwargs: Any) -> Any:
        constructed.append(object())
        time.sleep(0.05)  # widen the window in which a second client could be built
        return real_client(*args, **kwargs)

    monkeypatch.setattr(textanalytics, "TextAnalyticsClient", counting_client)
    analyzer = make_azure()
    outcomes: list[bool] = []

    def score(index: int) -> None:
        (result,) = analyzer.analyze([(str(index), POSITIVE)])
        outcomes.append(result.ok)

    threads = [threading.Thread(target=score, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert outcomes == [True] * 8
    assert len(constructed) == 1
    assert len(language.requests()) == 8


def test_heavy_sdks_are_imported_only_when_first_used() -> None:
    probe = (
        "import sys, json\n"
        "from shared.adapters.sentiment_azure import AzureTextAnalyticsAnalyzer\n"
        "from shared.adapters.sentiment_local import LocalSentimentAnalyzer\n"
        "AzureTextAnalyticsAnalyzer('https://example.invalid', 'k')\n"
        "LocalSentimentAnalyzer()\n"
        "import shared.ports\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(\n"
        "    ('azure.ai.textanalytics', 'azure.identity', 'vaderSentiment')))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_an_endpoint_is_required() -> None:
    with pytest.raises(ValueError, match="TEXT_ANALYTICS_ENDPOINT"):
        AzureTextAnalyticsAnalyzer("", "k")


# -- the stand-in answers as the service documents -----------------------------------------


def test_the_stand_in_refuses_more_than_10_documents(language: LanguageStandIn) -> None:
    from azure.ai.textanalytics import TextAnalyticsClient
    from azure.core.credentials import AzureKeyCredential
    from azure.core.exceptions import HttpResponseError

    client = TextAnalyticsClient(language.endpoint, AzureKeyCredential(KEY))
    with client, pytest.raises(HttpResponseError) as caught:
        client.analyze_sentiment([POSITIVE] * 11)
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidDocumentBatch"
    assert "Max 10 records" in str(caught.value.error.message)
    assert language.document_counts() == [11]


def test_the_stand_in_answers_per_document_errors_in_the_sdks_terms(
    language: LanguageStandIn,
) -> None:
    from azure.ai.textanalytics import TextAnalyticsClient
    from azure.core.credentials import AzureKeyCredential

    with TextAnalyticsClient(language.endpoint, AzureKeyCredential(KEY)) as client:
        scored, empty, too_long = client.analyze_sentiment(
            ["Great work. But late!", "", "x" * (MAX_DOCUMENT_CHARS + 1)]
        )
    assert not scored.is_error
    assert scored.sentiment == "mixed"
    assert [(s.text, s.sentiment, s.offset) for s in scored.sentences] == [
        ("Great work.", "positive", 0),
        ("But late!", "negative", 12),
    ]
    assert empty.is_error
    assert (empty.error.code, empty.error.message) == ("InvalidDocument", "Document text is empty.")
    assert too_long.is_error
    assert too_long.error.code == "InvalidDocument"


def test_the_stand_in_builds_answers_from_the_recorded_sample(language: LanguageStandIn) -> None:
    import requests

    sample = json.loads(SAMPLE_PATH.read_text("utf-8"))
    text = sample["results"]["documents"][0]["sentences"][0]["text"]
    answer = requests.post(
        f"{language.endpoint}/language/:analyze-text?api-version=2023-04-01",
        headers={"Ocp-Apim-Subscription-Key": KEY},
        json={
            "kind": "SentimentAnalysis",
            "analysisInput": {"documents": [{"id": "1", "text": text}, {"id": "2", "text": ""}]},
        },
        timeout=5,
    )
    assert answer.status_code == 200
    body = answer.json()
    expected = sample["results"]
    assert body["kind"] == sample["kind"]
    assert body["results"]["modelVersion"] == expected["modelVersion"]
    (document,) = body["results"]["documents"]
    assert set(document) == set(expected["documents"][0])
    assert document["sentiment"] == expected["documents"][0]["sentiment"]
    assert document["sentences"][0]["length"] == expected["documents"][0]["sentences"][0]["length"]
    assert body["results"]["errors"] == expected["errors"]


# -- VADER -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compound", "positive", "negative", "label"),
    [
        (0.83, 0.66, 0.0, "positive"),
        (0.05, 0.1, 0.0, "positive"),
        (-0.05, 0.0, 0.1, "negative"),
        (0.0, 0.0, 0.0, "neutral"),
        (0.04, 0.05, 0.04, "neutral"),
        (-0.38, 0.19, 0.30, "mixed"),
        (0.75, 0.45, 0.19, "mixed"),
    ],
)
def test_vader_scores_map_onto_the_services_labels(
    compound: float, positive: float, negative: float, label: str
) -> None:
    assert label_for(compound, positive, negative) == label


def test_vader_calls_praise_with_a_sting_mixed() -> None:
    (result,) = LocalSentimentAnalyzer().analyze(
        [("1", "The food was great but the service was terrible.")]
    )
    assert result.sentiment is not None
    assert result.sentiment.label == "mixed"
    assert result.sentiment.source == "local-vader"


def test_vader_is_loaded_once_under_concurrent_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import vaderSentiment.vaderSentiment as vader

    loaded: list[object] = []
    real_analyzer = vader.SentimentIntensityAnalyzer

    def counting_analyzer() -> Any:
        loaded.append(object())
        time.sleep(0.05)
        return real_analyzer()

    monkeypatch.setattr(vader, "SentimentIntensityAnalyzer", counting_analyzer)
    analyzer = LocalSentimentAnalyzer()
    labels: list[str] = []

    def score() -> None:
        (result,) = analyzer.analyze([("1", POSITIVE)])
        labels.append(result.sentiment.label if result.sentiment else "error")

    threads = [threading.Thread(target=score) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert labels == ["positive"] * 8
    assert len(loaded) == 1
