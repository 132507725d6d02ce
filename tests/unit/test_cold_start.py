"""Cold start: importing the app loads no SDK, no pydantic, no OpenTelemetry, and what is
deferred still gives the hosts the same function metadata and the same documented models.

Not a timing test (that is ``python -m bench --only imports``): each check runs in a fresh
interpreter and looks at ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "tests" / "unit" / "data" / "function_metadata.json"

# Loaded only by the invocations that need them (container properties, lazy imports).
DEFERRED = (
    "pydantic_settings",
    "azure.data.tables",
    "azure.storage.blob",
    "azure.storage.queue",
    "azure.identity",
    "azure.messaging.webpubsubservice",
    "azure.ai.textanalytics",
    "azure.communication.email",
    "authlib",
    "argon2",
    "jwt",
    "requests",
    "opentelemetry",
    "azure.monitor",
    "schemathesis",
    "prometheus_client",
    "shared.openapi",
    "shared.settings_model",
)
# The request/response models (functions/models/*.py, named by reference in
# ``http.endpoint``) and with them pydantic: imported by the first invocation that uses one.
MODELS = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "functions.models.accounts",
    "functions.models.history",
    "functions.models.jobs",
    "functions.models.ops",
    "functions.models.realtime",
    "functions.models.social",
    "functions.models.subscriptions",
    "functions.models.weather",
    "shared.models",
    "shared.domain.text",
    "shared.services.job_kinds",
    "shared.services.kinds",
)


def _run(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _loaded(names: tuple[str, ...]) -> str:
    return (
        "import sys, json\n"
        f"names = {list(names)!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if any(m == n or m.startswith(n + '.') for n in names))))\n"
    )


def test_importing_the_app_defers_the_sdks_and_settings() -> None:
    loaded = json.loads(_run("import function_app\n" + _loaded(DEFERRED)))
    assert loaded == []


def test_importing_the_app_imports_no_pydantic_and_no_model() -> None:
    loaded = json.loads(_run("import function_app\n" + _loaded(MODELS)))
    assert loaded == []


def test_reading_an_area_model_imports_that_area_only() -> None:
    # What a handler does with `models.X`: one area's module (and pydantic), no other area.
    code = (
        "import azure.functions as func, function_app\n"
        "from functions import ops\n"
        "assert ops.models.HealthOut.__module__ == 'functions.models.ops'\n" + _loaded(MODELS)
    )
    loaded = set(json.loads(_run(code)))
    assert "functions.models.ops" in loaded
    assert "pydantic" in loaded
    assert not {
        m for m in loaded if m.startswith("functions.models.") and m != "functions.models.ops"
    }


def test_every_model_reference_names_a_model() -> None:
    # A misspelt reference would otherwise surface only when the OpenAPI document is built.
    code = (
        "import function_app\n"
        "from pydantic import BaseModel\n"
        "from shared import http\n"
        "import typing\n"
        "count = 0\n"
        "for name, doc in http.ENDPOINT_DOCS.items():\n"
        "    d = doc.resolved()\n"
        "    for m in (d.body, d.query, d.response, *d.alternatives.values()):\n"
        "        if m is None:\n"
        "            continue\n"
        "        m = typing.get_args(m)[0] if typing.get_origin(m) is list else m\n"
        "        assert isinstance(m, type) and issubclass(m, BaseModel), (name, m)\n"
        "        count += 1\n"
        "print(count)\n"
    )
    assert int(_run(code)) > 30


def test_a_request_without_a_connection_string_imports_no_opentelemetry() -> None:
    # An invocation through the app (the endpoint wrapper, the telemetry counters): still
    # no OpenTelemetry module when APPLICATIONINSIGHTS_CONNECTION_STRING is not set.
    code = (
        "import azure.functions as func, function_app\n"
        "from shared import telemetry\n"
        "fn = {f.get_function_name(): f.get_user_function()\n"
        "      for f in function_app.app.get_functions()}['openapi_document']\n"
        "response = fn(func.HttpRequest('GET', 'http://localhost/api/openapi.json', body=b''))\n"
        "assert response.status_code == 200, response.status_code\n"
        "telemetry.count('weather.cache_hits')\n"
        "with telemetry.invocation('queue', 'process_job', job_id='j'):\n"
        "    telemetry.annotate(user_id='u')\n"
        "assert telemetry.snapshot()[('weather.cache_hits', ())] == 1\n"
        + _loaded(("opentelemetry", "azure.monitor"))
    )
    assert json.loads(_run(code)) == []


def test_the_function_metadata_is_unchanged_by_what_is_deferred() -> None:
    # What the local host and Azure index: names, bindings (routes, methods, queues,
    # schedules) and the parameters of each function. Regenerate the snapshot with
    # ``python -m tests.support.function_metadata`` after changing a function on purpose.
    current = json.loads(_run("from tests.support.function_metadata import metadata\n"
                              "import json; print(json.dumps(metadata()))"))  # fmt: skip
    assert current == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_model_references_resolve_in_each_form() -> None:
    # In this process (pydantic is loaded by the test suite anyway).
    import pytest

    from functions.models.jobs import JobIn, JobOut
    from shared import http

    assert http.resolve_model("jobs:JobIn") is JobIn
    assert http.resolve_model("functions.models.jobs:JobIn") is JobIn
    assert http.resolve_model("list[jobs:JobOut]") == list[JobOut]
    assert http.resolve_model(JobIn) is JobIn
    assert http.resolve_model(None) is None
    assert http.lazy_models("functions.models.jobs").JobOut is JobOut
    with pytest.raises(ValueError, match="module:Name"):
        http.resolve_model("JobIn")
    with pytest.raises(AttributeError):
        http.resolve_model("jobs:NoSuchModel")
