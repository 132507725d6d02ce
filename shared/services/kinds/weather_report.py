"""``weather.report``: current weather for each city; the report is archived as a blob."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from shared.domain.text import PlaceName
from shared.services.kinds import Kind, KindPorts, Params

if TYPE_CHECKING:
    from shared.domain.jobs import Job


class WeatherReportParams(Params):
    # Each as GET /api/weather takes it (no control characters, not blank).
    cities: list[Annotated[PlaceName, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=20
    )
    units: Literal["metric", "imperial"] = "metric"


def run(ports: KindPorts, job: Job, params: WeatherReportParams) -> dict[str, Any]:
    report = []
    for name in params.cities:
        report.append(ports.weather.lookup(name, None, params.units, principal=None))
    body = json.dumps({"job_id": job.id, "generated_for": job.owner_id,
                       "cities": report}, default=str)  # fmt: skip
    reference = ports.outputs.put(
        f"reports/{job.owner_id}/{job.id}.json", body.encode(), "application/json"
    )
    return {
        "blob": reference,
        "cities": [
            {"city": r["city"]["name"], "country": r["city"]["country"],
             "temperature": r["temperature"], "conditions": r["conditions"],
             "units": r["units"]}
            for r in report
        ],
    }  # fmt: skip


KIND = Kind(
    "weather.report", WeatherReportParams, run,
    "Current weather for each city; the report is archived as a blob",
)  # fmt: skip
