"""``history.export``: the owner's search history as CSV in a blob."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from shared.services.kinds import Kind, KindPorts, Params

if TYPE_CHECKING:
    from shared.domain.jobs import Job


class HistoryExportParams(Params):
    pass


def run(ports: KindPorts, job: Job, params: HistoryExportParams) -> dict[str, Any]:
    rows = ports.history.export(job.owner_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "timestamp", "city_name", "country", "city_id"])
    for entry in rows:
        writer.writerow([entry["id"], entry["timestamp"], entry["city_name"],
                         entry["country"], entry["city_id"]])  # fmt: skip
    reference = ports.outputs.put(
        f"exports/{job.owner_id}/{job.id}.csv", buffer.getvalue().encode("utf-8"), "text/csv"
    )
    return {"blob": reference, "rows": len(rows)}


KIND = Kind("history.export", HistoryExportParams, run,
            "The owner's search history as CSV in a blob")  # fmt: skip
