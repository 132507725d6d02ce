"""schemathesis.toml: every check is on (as ``--checks all``), the exceptions are the
documented few, and the hooks it names load."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
import schemathesis.specs.openapi.checks
from schemathesis.checks import CHECKS

ROOT = Path(__file__).resolve().parents[2]


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_path(str(ROOT / "schemathesis.toml"))


def _operation(operation_id: str, path: str) -> tuple[object, object]:
    schema = schemathesis.openapi.from_dict(
        {
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                path: {
                    "get": {
                        "operationId": operation_id,
                        "responses": {"200": {"description": "ok"}},
                    }
                }
            },
        },
        config=_config(),
    )
    operation = next(iter(schema.get_all_operations())).ok()
    return schema.config, operation


def test_every_check_is_on_but_the_undeclared_method_one() -> None:
    checks = _config().projects.get_default().checks_config_for()
    names = set(CHECKS.get_all_names())
    assert len(names) >= 14
    off = {name for name in names if not checks.get_by_name(name=name).enabled}
    assert off == {"unsupported_method"}


def test_exceptions_apply_only_where_their_reason_holds() -> None:
    project, job = _operation("get_job", "/api/jobs/{job_id}")
    for phase in ("fuzzing", "stateful"):
        checks = project.checks_config_for(operation=job, phase=phase)  # type: ignore[attr-defined]
        assert not checks.get_by_name(name="use_after_free").enabled
        assert checks.get_by_name(name="positive_data_acceptance").enabled
    project, me = _operation("me", "/api/me")
    checks = project.checks_config_for(operation=me, phase="stateful")  # type: ignore[attr-defined]
    assert checks.get_by_name(name="use_after_free").enabled
    assert checks.get_by_name(name="positive_data_acceptance").expected_statuses == [
        "2xx",
        "3xx",
        "401",
        "403",
        "404",
        "409",
        "429",
        "5xx",
    ]


def test_the_hooks_module_loads() -> None:
    import importlib
    import tomllib

    name = tomllib.loads((ROOT / "schemathesis.toml").read_text())["hooks"]
    assert importlib.import_module(name).map_case  # type: ignore[attr-defined]


def test_item10_the_schemathesis_run_varies_its_seed_and_keeps_the_fixed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fixed seed never finds what another seed found (issue 18 item 10): the e2e run
    draws a new seed for the seed-dependent phases, and SCHEMATHESIS_SEED replays one."""
    from tests.e2e import test_schemathesis as run

    monkeypatch.delenv("SCHEMATHESIS_SEED", raising=False)
    drawn = {run.varying_seed() for _ in range(5)}
    assert len(drawn) > 1 and run.SEED not in drawn
    assert set(run.SEEDED_PHASES) == {"fuzzing", "stateful"}
    assert set(run.ALL_PHASES) == {"examples", "coverage", "fuzzing", "stateful"}
    monkeypatch.setenv("SCHEMATHESIS_SEED", "12345")
    assert run.varying_seed() == 12345
