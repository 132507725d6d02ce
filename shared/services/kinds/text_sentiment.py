"""``text.sentiment``: the sentiment of each text, through the sentiment port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from shared.services.kinds import Kind, KindFailed, KindPorts, Params

if TYPE_CHECKING:
    from shared.domain.jobs import Job


MAX_TEXT_CHARS = 1000


class TextSentimentParams(Params):
    # 1,000 characters a text: ten of them stay within the job's params bound.
    texts: list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]] = Field(
        min_length=1, max_length=10
    )


def run(ports: KindPorts, job: Job, params: TextSentimentParams) -> dict[str, Any]:
    documents = [(str(i), text) for i, text in enumerate(params.texts)]
    results = ports.sentiment.analyze(documents)
    failures = [r for r in results if r.sentiment is None]
    if len(failures) == len(results):
        raise KindFailed(f"no text could be scored ({failures[0].error})")
    return {
        "results": [
            {"text": params.texts[int(r.id)],
             "sentiment": r.sentiment.to_dict() if r.sentiment else None,
             "error": r.error}
            for r in results
        ]
    }  # fmt: skip


KIND = Kind("text.sentiment", TextSentimentParams, run, "Sentiment of each text (1..10)")
