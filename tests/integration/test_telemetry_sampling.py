"""Issue 18 item 14: nothing an alert counts is sampled away.

The poison-queue alert counts the host's warning "Message has reached MaxDequeueCount ...
Moving message to queue '<queue>-poison'" in `traces`; host.json sampled traces (only
Request was excluded), so in exactly the burst the alert is for, adaptive sampling could
drop the warnings it counts. The 5xx alert reads `requests`, and a 5xx is looked into
through `exceptions`. So host.json excludes Request, Exception and Trace from sampling
(logging.applicationInsights.samplingSettings.excludedTypes, semicolon-separated telemetry
types; learn.microsoft.com/azure/azure-functions/functions-host-json, section
applicationInsights.samplingSettings, and MicrosoftDocs/azure-docs#47219: it sits inside
samplingSettings), and the app's own
exporter (shared/telemetry.py) samples nothing: azure-monitor-opentelemetry 1.8 defaults to
a rate limit of 5 traces a second (OTEL_TRACES_SAMPLER unset; _utils/configurations.py
_default_sampling_ratio), which the burst test below shows dropping 50 of 60 spans and the
exception of the failed one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.ingestion import IngestionStandIn
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# Application Insights tables the alert queries read -> the telemetry type sampling names.
TABLE_TYPES = {
    "traces": "Trace",
    "requests": "Request",
    "exceptions": "Exception",
    "dependencies": "Dependency",
    "customEvents": "Event",
    "pageViews": "PageView",
}


def excluded_types(host_json: dict[str, object]) -> set[str]:
    logging = host_json.get("logging", {})
    insights = logging.get("applicationInsights", {}) if isinstance(logging, dict) else {}
    sampling = insights.get("samplingSettings", {}) if isinstance(insights, dict) else {}
    if isinstance(sampling, dict) and sampling.get("isEnabled") is False:
        return set(TABLE_TYPES.values())  # nothing is sampled
    text = str(sampling.get("excludedTypes", "")) if isinstance(sampling, dict) else ""
    return {part.strip() for part in text.split(";") if part.strip()}


def alert_tables() -> set[str]:
    """The tables the alert rules' queries start from."""
    bicep = (ROOT / "infra" / "modules" / "alerts.bicep").read_text(encoding="utf-8")
    queries = re.findall(r"query: '(\w+)\s*\|", bicep)
    assert len(queries) >= 2, queries
    return set(queries)


def test_item14_no_telemetry_type_an_alert_counts_is_sampled() -> None:
    host_json = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    needed = {TABLE_TYPES[table] for table in alert_tables()} | {"Exception"}
    assert needed >= {"Trace", "Request", "Exception"}
    assert needed <= excluded_types(host_json), excluded_types(host_json)


def test_item14_the_check_fails_on_the_old_host_json() -> None:
    before = {"logging": {"applicationInsights": {"samplingSettings": {
        "isEnabled": True, "excludedTypes": "Request"}}}}  # fmt: skip
    assert "Trace" not in excluded_types(before)
    assert "Trace" in excluded_types({"logging": {"applicationInsights": {
        "samplingSettings": {"isEnabled": False}}}})  # fmt: skip


BURST = r"""
from shared import telemetry
for i in range(60):
    try:
        with telemetry.invocation("queue", "sampling_probe", job_id=str(i)):
            if i == 59:
                raise RuntimeError("the failed one")
    except RuntimeError:
        pass
telemetry.flush()
"""


def test_item14_the_app_exporter_sends_every_span_of_a_burst() -> None:
    """60 invocations in well under a second, the last one failing, through the real
    exporter to the ingestion stand-in: all 60 requests and the exception arrive."""
    with IngestionStandIn() as ingestion:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        environ.update({
            "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string,
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        })  # fmt: skip
        done = subprocess.run([sys.executable, "-c", BURST], cwd=ROOT, env=environ,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]

        def probes() -> list[dict[str, object]]:
            return [e for e in ingestion.of_type("RequestData")
                    if e["data"]["baseData"]["name"] == "sampling_probe"]  # fmt: skip

        wait_for(lambda: len(probes()) >= 60, timeout=20)
        assert len(probes()) == 60
        failed = [e for e in probes() if not e["data"]["baseData"]["success"]]  # type: ignore[index]
        assert len(failed) == 1
        exceptions = wait_for(lambda: ingestion.of_type("ExceptionData"), timeout=20)
        assert "the failed one" in json.dumps(exceptions)
