"""Job kinds: each a params model and a handler, registered by name.

Adding a kind is one entry here: a pydantic model for its ``params`` (validated when the
job is created, so a bad job is a 400, not a failure hours later) and a function that does
the work and returns a JSON-able output. A handler raises to fail the attempt (the job is
retried with backoff); it must not catch everything and return an error as output.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from shared.container import Container
    from shared.domain.jobs import Job


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeatherReportParams(_Params):
    cities: list[str] = Field(min_length=1, max_length=20)
    units: Literal["metric", "imperial"] = "metric"


class HistoryExportParams(_Params):
    pass


class TextSentimentParams(_Params):
    texts: list[str] = Field(min_length=1, max_length=10)


@dataclass(frozen=True)
class Kind:
    name: str
    params: type[_Params]
    run: Callable[[Container, Job, Any], Any]
    description: str


def _weather_report(c: Container, job: Job, params: WeatherReportParams) -> dict[str, Any]:
    report = []
    for name in params.cities:
        report.append(c.weather.lookup(name, None, params.units, principal=None))
    blob = f"reports/{job.owner_id}/{job.id}.json"
    body = json.dumps({"job_id": job.id, "generated_for": job.owner_id,
                       "cities": report}, default=str)  # fmt: skip
    c.blob_container("job-outputs").upload_blob(blob, body.encode(), overwrite=True)
    return {
        "blob": f"job-outputs/{blob}",
        "cities": [
            {"city": r["city"]["name"], "country": r["city"]["country"],
             "temperature": r["temperature"], "conditions": r["conditions"],
             "units": r["units"]}
            for r in report
        ],
    }  # fmt: skip


def _history_export(c: Container, job: Job, params: HistoryExportParams) -> dict[str, Any]:
    rows = c.history.export(job.owner_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "timestamp", "city_name", "country", "city_id"])
    for entry in rows:
        writer.writerow([entry["id"], entry["timestamp"], entry["city_name"],
                         entry["country"], entry["city_id"]])  # fmt: skip
    blob = f"exports/{job.owner_id}/{job.id}.csv"
    c.blob_container("job-outputs").upload_blob(
        blob, buffer.getvalue().encode("utf-8"), overwrite=True
    )
    return {"blob": f"job-outputs/{blob}", "rows": len(rows)}


def _text_sentiment(c: Container, job: Job, params: TextSentimentParams) -> dict[str, Any]:
    documents = [(str(i), text) for i, text in enumerate(params.texts)]
    results = c.sentiment.analyze(documents)
    failures = [r for r in results if r.sentiment is None]
    if len(failures) == len(results):
        raise RuntimeError(f"no text could be scored: {failures[0].error}")
    return {
        "results": [
            {"text": params.texts[int(r.id)],
             "sentiment": r.sentiment.to_dict() if r.sentiment else None,
             "error": r.error}
            for r in results
        ]
    }  # fmt: skip


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("weather.report", WeatherReportParams, _weather_report,
             "Current weather for each city; the report is archived as a blob"),
        Kind("history.export", HistoryExportParams, _history_export,
             "The owner's search history as CSV in a blob"),
        Kind("text.sentiment", TextSentimentParams, _text_sentiment,
             "Sentiment of each text (1..10)"),
    )
}  # fmt: skip


def validate_params(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The params as the kind's model accepts them; 400 with field errors otherwise."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ValidationFailed(
            "Unknown job kind",
            errors=[FieldError("kind", f"must be one of {', '.join(sorted(KINDS))}")],
        )
    try:
        model = spec.params.model_validate(params or {})
    except ValidationError as exc:
        errors = [
            FieldError(
                "params." + ".".join(str(p) for p in e.get("loc", ()))
                if e.get("loc")
                else "params",
                e.get("msg", "is not valid"),
            )
            for e in exc.errors(include_url=False)
        ]
        raise ValidationFailed("The params do not fit the kind", errors=errors) from exc
    return model.model_dump(mode="json")


def run_kind(c: Container, job: Job) -> Any:
    spec = KINDS[job.kind]
    return spec.run(c, job, spec.params.model_validate(job.params))
