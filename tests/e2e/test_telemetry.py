"""Telemetry through the local host: spans and metrics exported to an Application Insights
ingestion stand-in when APPLICATIONINSIGHTS_CONNECTION_STRING is set; the same counters
in Prometheus text at GET /admin/metrics either way."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import requests

from tests.support.host import LocalHost
from tests.support.ingestion import IngestionStandIn
from tests.support.waiting import wait_for

# Nothing leaves 127.0.0.1: no statsbeat to Microsoft, no cloud metadata probes.
QUIET = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    # The distro samples 5 traces a second by default; the host's queue polling (traced
    # Azure SDK calls) would use that up. Every trace here.
    "OTEL_TRACES_SAMPLER": "always_on",
    "OTEL_METRIC_EXPORT_INTERVAL": "500",
}


def _metric_lines(host: LocalHost) -> list[str]:
    response = requests.get(f"{host.url}/admin/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text.splitlines()


def _metrics(envelopes: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for envelope in envelopes:
        for point in envelope["data"]["baseData"]["metrics"]:
            totals[point["name"]] = totals.get(point["name"], 0) + point["value"]
    return totals


def test_a_request_exports_a_span_with_its_request_id_and_the_metrics(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    with IngestionStandIn() as ingestion:
        host = local_host_factory(
            APPLICATIONINSIGHTS_CONNECTION_STRING=ingestion.connection_string, **QUIET
        )
        request_id = f"telemetry-{uuid.uuid4().hex[:12]}"
        city = "Lyon"
        for _ in range(2):  # a miss, then a hit
            response = requests.get(f"{host.url}/api/weather", params={"city": city},
                                    headers={"X-Request-Id": request_id}, timeout=30)  # fmt: skip
            assert response.status_code == 200, response.text

        lines = _metric_lines(host)
        assert "weather_cache_hits_total 1.0" in lines
        assert "weather_cache_misses_total 1.0" in lines
        assert "# TYPE jobs_started_total counter" in lines
        host.stop()  # the host flushes the app's exporter as it stops

        def our_requests() -> list[dict[str, Any]]:
            return [
                e for e in ingestion.of_type("RequestData")
                if e["data"]["baseData"].get("properties", {}).get("request_id") == request_id
            ]  # fmt: skip

        spans = wait_for(lambda: len(our_requests()) >= 2 and our_requests(), timeout=30)
        data = spans[0]["data"]["baseData"]
        assert data["name"].endswith("get_weather") or "weather" in data["name"]
        assert data["responseCode"] == "200"
        assert data["properties"]["faas.trigger"] == "http"

        def exported() -> dict[str, float]:
            return _metrics(ingestion.of_type("MetricData"))

        totals = wait_for(
            lambda: (
                exported().get("weather.cache_hits", 0) >= 1
                and exported().get("weather.cache_misses", 0) >= 1
                and exported()
            ),
            timeout=30,
        )
        assert totals["weather.cache_misses"] >= 1
        assert all(path.endswith("/track") for path in ingestion.paths)


def test_without_a_connection_string_the_counters_are_served_locally(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory()
    assert "weather_cache_misses_total 0.0" not in _metric_lines(host)  # nothing yet
    response = requests.get(f"{host.url}/api/weather", params={"city": "Nantes"}, timeout=30)
    assert response.status_code == 200
    lines = _metric_lines(host)
    assert "weather_cache_misses_total 1.0" in lines
    assert not any(line.startswith("weather_cache_hits_total ") for line in lines)
    # The admin endpoints answer loopback callers only (the host sees the peer address).
    assert requests.post(f"{host.url}/admin/metrics", timeout=10).status_code == 404


def test_item2_openweathermap_key_never_reaches_application_insights(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    """Issue 18, item 2. With a connection string set, ``configure_azure_monitor`` turns on
    the requests and urllib3 instrumentations, which record each dependency's full URL
    (``http.url``/``url.full``: OpenWeatherMap's key is the ``appid`` query parameter,
    https://openweathermap.org/current) and exception messages that quote it. Everything
    the exporter sends to the ingestion stand-in is searched for the key: after current
    weather, geocoding, a provider failure and a provider that cannot be reached."""
    from tests.support.weather_standins import OpenWeatherStandIn

    key = f"owm-secret-{uuid.uuid4().hex}"
    with IngestionStandIn() as ingestion, OpenWeatherStandIn(api_key=key) as owm:
        host = local_host_factory(
            APPLICATIONINSIGHTS_CONNECTION_STRING=ingestion.connection_string,
            WEATHER_PROVIDER="openweather", OPENWEATHER_BASE_URL=owm.base_url,
            OPENWEATHER_API_KEY=key, **QUIET,
        )  # fmt: skip
        for city in ("Berlin", "Zocca"):
            answer = requests.get(f"{host.url}/api/weather", params={"city": city}, timeout=30)
            assert answer.status_code == 200, answer.text
        assert owm.count("/") >= 2 and owm.count("/geo") >= 1
        owm.fail_with(500)
        assert requests.get(f"{host.url}/api/weather", params={"city": "Paris"},
                            timeout=60).status_code == 503  # fmt: skip
        provider_host = owm.base_url.split("//", 1)[1].split("/", 1)[0]
        owm.stop()  # connection refused: the exception message quotes the URL
        assert requests.get(f"{host.url}/api/weather", params={"city": "Madrid"},
                            timeout=60).status_code == 503  # fmt: skip
        host.stop()

        def to_the_provider() -> list[dict[str, Any]]:
            return [
                e for e in ingestion.of_type("RemoteDependencyData")
                if provider_host in json.dumps(e)
            ]  # fmt: skip

        dependencies = wait_for(lambda: len(to_the_provider()) >= 4 and to_the_provider(),
                                timeout=30)  # fmt: skip
        assert any("appid=REDACTED" in json.dumps(e) for e in dependencies)
        sent = json.dumps(ingestion.envelopes)
        assert key not in sent
        assert key not in host.logs
