"""The local Functions host as a process, over HTTP: what `make run` gives a developer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableClient

from devtools.azurite import Azurite
from tests.support.host import ROOT, LocalHost
from tests.support.waiting import wait_for

PROBE_APP = "tests.support.probe_app"


def probe_settings() -> dict[str, str]:
    run = uuid.uuid4().hex[:10]
    return {
        "PROBE_RUN_ID": run,
        "PROBE_QUEUE_OK": f"ok{run}",
        "PROBE_QUEUE_FAIL": f"fail{run}",
        "PROBE_SCHEDULE": "0 0 0 1 1 *",  # once a year: runs only when asked
    }


def probe_records(azurite: Azurite, run: str, function: str) -> list[dict[str, Any]]:
    table = TableClient.from_connection_string(azurite.connection_string, "hostprobe")
    try:
        entities = table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": f"{run}-{function}"}
        )
        return [json.loads(e["data"]) for e in entities]
    except Exception:
        return []


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_health_is_ok_then_degraded_when_azurite_stops(
    azurite_factory: Callable[[], Azurite], local_host_factory: Callable[..., LocalHost]
) -> None:
    storage = azurite_factory()
    host = local_host_factory(storage=storage)
    response = requests.get(f"{host.url}/api/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"tables": "ok", "queues": "ok", "blobs": "ok"}
    assert body["version"]
    assert response.headers["X-Request-Id"]

    storage.stop()
    started = time.monotonic()
    response = requests.get(f"{host.url}/api/health", timeout=10)
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert set(response.json()["checks"].values()) <= {"down", "timeout"}
    assert time.monotonic() - started < 5  # short timeouts, checks run at once


def test_unknown_routes_and_wrong_methods_are_404(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory()
    assert requests.get(f"{host.url}/api/no-such-thing", timeout=5).status_code == 404
    assert requests.get(f"{host.url}/health", timeout=5).status_code == 404  # no prefix
    assert requests.delete(f"{host.url}/api/health", timeout=5).status_code == 404


def test_request_id_is_echoed_and_in_the_log_lines(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory()
    response = requests.get(
        f"{host.url}/api/health", headers={"X-Request-Id": "trace-me-123"}, timeout=10
    )
    assert response.headers["X-Request-Id"] == "trace-me-123"
    records = wait_for(
        lambda: [r for r in host.log_records() if r.get("request_id") == "trace-me-123"]
    )
    assert all(r["function"] == "health_check" for r in records)
    invocations = wait_for(
        lambda: [
            r
            for r in host.log_records()
            if r.get("event") == "invocation" and r.get("function") == "health_check"
        ]
    )
    line = invocations[0]
    assert line["outcome"] == "Succeeded"
    assert line["trigger"] == "http"
    assert line["invocation_id"]
    assert isinstance(line["duration_ms"], float | int)


def test_openapi_document_lists_every_route_with_schemas(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory()
    document = requests.get(f"{host.url}/api/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert "/api/health" in document["paths"]
    health = document["paths"]["/api/health"]["get"]
    schema_ref = health["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.split("/")[-1] in document["components"]["schemas"]
    assert "/api/docs/{asset}" in document["paths"]


def test_swagger_ui_is_served_by_the_app(local_host_factory: Callable[..., LocalHost]) -> None:
    host = local_host_factory()
    page = requests.get(f"{host.url}/api/docs", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in page.headers
    assert "cdn" not in page.text.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "init.js"):
        response = requests.get(f"{host.url}/api/docs/{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert len(response.content) > 100
    bundle = requests.get(f"{host.url}/api/docs/swagger-ui-bundle.js", timeout=10)
    assert bundle.headers["Content-Encoding"] == "gzip"  # requests asks for gzip
    cached = requests.get(
        f"{host.url}/api/docs/swagger-ui.css",
        headers={"If-None-Match": bundle.headers["ETag"]},
        timeout=10,
    )
    assert cached.status_code == 200  # another file's ETag does not match
    etag = requests.get(f"{host.url}/api/docs/swagger-ui.css", timeout=10).headers["ETag"]
    again = requests.get(
        f"{host.url}/api/docs/swagger-ui.css", headers={"If-None-Match": etag}, timeout=10
    )
    assert again.status_code == 304
    assert requests.get(f"{host.url}/api/docs/..%2Fdocs.html", timeout=10).status_code == 404


def test_invalid_body_gets_problem_json_with_field_errors(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory(app=PROBE_APP, **probe_settings())
    response = requests.post(
        f"{host.url}/api/greet", json={"name": "", "times": 9, "extra": 1}, timeout=10
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/validation"
    assert {e["field"] for e in problem["errors"]} == {"name", "times", "extra"}
    ok = requests.post(f"{host.url}/api/greet", json={"name": "Ada", "times": 2}, timeout=10)
    assert ok.json() == {"greeting": "hello Ada hello Ada"}


def test_http_request_and_response_are_passed_faithfully(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory(app=PROBE_APP, **probe_settings())
    echoed = requests.post(
        f"{host.url}/api/echo",
        data="ünïcode body".encode(),
        headers={"Content-Type": "text/plain", "X-Probe": "yes"},
        timeout=10,
    )
    assert echoed.status_code == 201
    assert echoed.headers["X-Echo"] == "yes"
    assert echoed.headers["Content-Type"].startswith("text/plain")
    assert echoed.content == "ünïcode body".encode()
    routed = requests.get(f"{host.url}/api/items/42?tag=a&tag=b", timeout=10).json()
    assert routed == {
        "function": "item_by_id",
        "route_params": {"id": "42"},
        "params": {"tag": "a,b"},
        "method": "GET",
    }
    # The real host's order, not ASP.NET precedence: item_by_slug ("items/{slug}") sorts
    # before item_new ("items/new") and takes the path, as it would in Azure.
    new = requests.get(f"{host.url}/api/items/new", timeout=10).json()
    assert (new["function"], new["route_params"]) == ("item_by_slug", {"slug": "new"})
    files = requests.get(f"{host.url}/api/files/a/b.txt", timeout=10).json()
    assert files["route_params"] == {"path": "a/b.txt"}


def test_an_unhandled_error_is_a_500_without_internals(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory(app=PROBE_APP, **probe_settings())
    response = requests.get(f"{host.url}/api/boom", timeout=10)
    assert response.status_code == 500
    assert "secret internals" not in response.text
    failed = wait_for(lambda: [r for r in host.log_records() if r.get("outcome") == "Failed"])
    assert failed[0]["function"] == "boom"


@pytest.mark.parametrize("route", ["slow", "slow-async"])
def test_two_slow_requests_at_once_take_the_time_of_one(
    local_host_factory: Callable[..., LocalHost], route: str
) -> None:
    host = local_host_factory(app=PROBE_APP, **probe_settings())
    requests.get(f"{host.url}/api/{route}?seconds=0", timeout=10)  # warm up
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda _: requests.get(f"{host.url}/api/{route}?seconds=1", timeout=10),
                range(2),
            )
        )
    elapsed = time.monotonic() - started
    assert [r.status_code for r in results] == [200, 200]
    assert elapsed < 1.8, f"two 1 s requests took {elapsed:.2f} s"


def test_a_timer_function_runs_through_the_admin_endpoint(
    azurite: Azurite, local_host_factory: Callable[..., LocalHost]
) -> None:
    settings = probe_settings()
    host = local_host_factory(app=PROBE_APP, **settings)
    response = host.run_function("tick")
    assert response.status_code == 202
    (record,) = wait_for(lambda: probe_records(azurite, settings["PROBE_RUN_ID"], "tick"))
    assert record["past_due"] is False
    assert record["invocation_id"]
    assert host.run_function("no_such_function").status_code == 404


def test_a_queue_function_runs_through_the_admin_endpoint(
    azurite: Azurite, local_host_factory: Callable[..., LocalHost]
) -> None:
    settings = probe_settings()
    host = local_host_factory(app=PROBE_APP, **settings)
    assert host.run_function("queue_ok", "given input").status_code == 202
    (record,) = wait_for(lambda: probe_records(azurite, settings["PROBE_RUN_ID"], "queue_ok"))
    assert record["body"] == "given input"


def test_sigterm_finishes_running_work_then_exits_leaving_nothing_behind(
    local_host_factory: Callable[..., LocalHost],
) -> None:
    host = local_host_factory(app=PROBE_APP, **probe_settings())
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(requests.get, f"{host.url}/api/slow?seconds=1.5", timeout=10)
        time.sleep(0.5)
        code = host.stop()
        response = pending.result()
    assert response.status_code == 200
    assert response.text == "done"
    assert code == 0
    assert host.process is not None
    assert not group_alive(host.process.pid)
    assert any(r.get("message") == "Host stopped" for r in host.log_records())


def test_missing_or_invalid_settings_file_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "devtools.host", "--settings", str(tmp_path / "nope.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "not found" in missing.stderr
    assert "local.settings.example.json" in missing.stderr
    broken = tmp_path / "local.settings.json"
    broken.write_text("{oops", encoding="utf-8")
    invalid = subprocess.run(
        [sys.executable, "-m", "devtools.host", "--settings", str(broken)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert invalid.returncode == 2
    assert "not valid JSON" in invalid.stderr


def test_a_chosen_port_taken_before_the_host_binds_it_is_chosen_again(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race behind an EADDRINUSE seen once in a suite run (for Azurite): a port chosen
    free is taken by another process before the host binds it. A port the test names is
    kept, and the host's own error is reported."""
    import socket

    import tests.support.host as host_module
    from tests.conftest import base_settings_values

    values = {k: str(v) for k, v in base_settings_values(azurite.connection_string).items()}
    with socket.socket() as holder:  # bound, not listening: as an outgoing connection's port
        holder.bind(("127.0.0.1", 0))
        taken = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match="Address already in use"):
            LocalHost(values, port=taken).start()
        ports = iter([taken])
        real = host_module.free_port
        monkeypatch.setattr(host_module, "free_port", lambda: next(ports, None) or real())
        host = LocalHost(values)
        assert host.port == taken
        with host:
            assert host.port != taken
            assert requests.get(f"{host.url}/api/health", timeout=10).status_code == 200
