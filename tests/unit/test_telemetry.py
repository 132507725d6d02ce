"""shared/telemetry.py without export: the in-process counters and span attributes, and the
local host's Prometheus text."""

from __future__ import annotations

import pytest

from devtools.metrics import prometheus_text
from shared import settings, telemetry


@pytest.fixture(autouse=True)
def _no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)


def _value(name: str, **attributes: str) -> float:
    key = (name, tuple(sorted(attributes.items())))
    return telemetry.snapshot().get(key, 0)


def test_counts_add_up_per_attribute_set() -> None:
    before_a = _value("upstream.requests", provider="test-a")
    before_b = _value("upstream.requests", provider="test-b")
    telemetry.count("upstream.requests", provider="test-a")
    telemetry.count("upstream.requests", 2, provider="test-a")
    telemetry.count("upstream.requests", provider="test-b")
    telemetry.count("upstream.requests", 0, provider="test-b")  # nothing to add
    assert _value("upstream.requests", provider="test-a") == before_a + 3
    assert _value("upstream.requests", provider="test-b") == before_b + 1


def test_prometheus_text_has_every_metric_and_the_counts() -> None:
    telemetry.count("jobs.retried", kind="prom-test")
    text = prometheus_text().decode()
    for name in telemetry.METRICS:
        assert f"# TYPE {name.replace('.', '_')}_total counter" in text
    value = _value("jobs.retried", kind="prom-test")
    assert f'jobs_retried_total{{kind="prom-test"}} {float(value)}' in text.splitlines()


def test_annotate_outside_an_invocation_is_a_no_op_and_inside_it_collects() -> None:
    telemetry.annotate(user_id="nobody")  # no invocation: nothing happens, nothing raised
    with telemetry.invocation("queue", "fn", job_id="j1", empty=""):
        telemetry.annotate(user_id="u1", skipped=None)
        attributes = telemetry._span_attributes.get()
        assert attributes == {"job_id": "j1", "user_id": "u1"}
    assert telemetry._span_attributes.get() is None


def test_traced_keeps_the_name_and_parameters_the_hosts_read() -> None:
    import inspect

    def process(msg: object) -> str:
        return "done"

    wrapped = telemetry.traced("queue")(process)
    assert wrapped.__name__ == "process"
    assert list(inspect.signature(wrapped).parameters) == ["msg"]
    assert wrapped(msg=object()) == "done"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("Authorization=AAD", ""),
        ("ClientId=abc;Authorization=AAD", "abc"),
        ("ClientId=abc;Authorization=key", None),
    ],
)
def test_the_entra_client_id_comes_from_the_authentication_string(
    value: str, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", value)
    assert settings.telemetry_entra_client_id() == expected
