"""Job kinds are modules of ``shared.services.kinds``: adding a module adds a kind."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.domain.errors import ValidationFailed
from shared.services import job_kinds
from shared.services.kinds import discover

KIND_MODULE = """
from shared.services.kinds import Kind, Params

class EchoParams(Params):
    text: str

def run(c, job, params):
    return {{"echo": params.text}}

KIND = Kind({name!r}, EchoParams, run, "echoes")
"""


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"kinds_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    yield name, root
    sys.path.remove(str(tmp_path))
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_the_registry_holds_one_kind_per_module() -> None:
    assert sorted(job_kinds.KINDS) == ["history.export", "text.sentiment", "weather.report"]
    for name, kind in job_kinds.KINDS.items():
        assert kind.name == name and kind.description
        assert kind.run.__module__.startswith("shared.services.kinds.")


def test_a_new_module_is_a_new_kind(package: tuple[str, Path]) -> None:
    name, root = package
    (root / "echo.py").write_text(textwrap.dedent(KIND_MODULE.format(name="test.echo")))
    (root / "shout.py").write_text(textwrap.dedent(KIND_MODULE.format(name="test.shout")))
    kinds = discover(name)
    assert sorted(kinds) == ["test.echo", "test.shout"]
    params = kinds["test.echo"].params.model_validate({"text": "hi"})
    assert kinds["test.echo"].run(None, None, params) == {"echo": "hi"}


def test_a_module_without_a_kind_or_a_name_used_twice_is_refused(
    package: tuple[str, Path],
) -> None:
    name, root = package
    (root / "one.py").write_text(textwrap.dedent(KIND_MODULE.format(name="test.same")))
    (root / "two.py").write_text(textwrap.dedent(KIND_MODULE.format(name="test.same")))
    with pytest.raises(ValueError, match="defined twice"):
        discover(name)
    (root / "two.py").unlink()
    (root / "helper.py").write_text("VALUE = 1\n")
    with pytest.raises(TypeError, match="must define KIND"):
        discover(name)


def test_params_are_checked_by_the_kinds_own_model() -> None:
    assert job_kinds.validate_params("text.sentiment", {"texts": ["a"]}) == {"texts": ["a"]}
    with pytest.raises(ValidationFailed) as unknown:
        job_kinds.validate_params("no.such", {})
    assert unknown.value.errors[0].field == "kind"
    with pytest.raises(ValidationFailed) as extra:
        job_kinds.validate_params("history.export", {"surprise": 1})
    assert extra.value.errors[0].field == "params.surprise"


def test_params_larger_than_the_row_allows_are_a_400(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.domain.jobs import PARAMS_MAX_UNITS
    from shared.services.kinds import Kind, Params

    class Free(Params):
        text: str

    kinds = dict(job_kinds.KINDS)
    kinds["test.free"] = Kind("test.free", Free, lambda ports, job, params: None, "free")
    monkeypatch.setattr(job_kinds, "KINDS", kinds)
    fits = "я" * (PARAMS_MAX_UNITS - len('{"text":""}'))  # one unit a letter (no escapes)
    assert job_kinds.validate_params("test.free", {"text": fits}) == {"text": fits}
    with pytest.raises(ValidationFailed) as large:
        job_kinds.validate_params("test.free", {"text": fits + "я"})
    assert large.value.errors[0].field == "params"
    with pytest.raises(ValidationFailed):  # an emoji is two UTF-16 units, as Table counts
        job_kinds.validate_params("test.free", {"text": fits[:-1] + "😀"})
    # Ten texts of the most text.sentiment takes fit the bound.
    assert job_kinds.validate_params("text.sentiment", {"texts": ["я" * 1000] * 10})
