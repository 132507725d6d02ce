"""devtools/suite_schedule.py replays xdist's loadscope hand-out: a long one-test module
handed out last makes a tail, handed out first it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.suite_schedule import by_test_count, finish_times, longest_first, main, units_of


def test_a_long_single_test_module_last_makes_a_tail_first_it_does_not() -> None:
    units = {"tests/a.py": [10.0] * 6, "tests/b.py": [10.0] * 6, "tests/slow.py": [100.0]}
    units |= {f"tests/{name}.py": [10.0] * 3 for name in "cde"}
    old = by_test_count(units)
    assert old[-1] == "tests/slow.py"  # one test: handed out last
    assert finish_times(units, old, workers=2) == [120.0, 190.0]  # 70 s alone at the end
    new = longest_first(units, {"tests/slow.py": 100})
    assert new[0] == "tests/slow.py"
    # slow.py's worker prefetches b (it has at most two tests pending), the other runs the rest
    assert finish_times(units, new, workers=2) == [160.0, 150.0]
    assert finish_times({"tests/slow.py": [100.0]}, ["tests/slow.py"], workers=3) == [
        100.0, 0.0, 0.0,
    ]  # fmt: skip


def test_scopes_are_modules_or_classes_from_a_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.e2e.test_x" name="test_one" time="1.5"/>'
        '<testcase classname="tests.e2e.test_x" name="test_two" time="2.0"/>'
        '<testcase classname="tests.e2e.test_y.TestSeed" name="test_three" time="4"/>'
        "</testsuite></testsuites>",
        encoding="utf-8",
    )
    assert units_of(report) == {
        "tests/e2e/test_x.py": [1.5, 2.0],
        "tests/e2e/test_y.py::TestSeed": [4.0],
    }


def test_the_command_prints_both_orders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "junit.xml"
    cases = "".join(
        f'<testcase classname="tests.unit.test_{n % 3}" name="test_{n}" time="1"/>'
        for n in range(9)
    )
    report.write_text(f"<testsuites><testsuite>{cases}</testsuite></testsuites>", "utf-8")
    assert main([str(report), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "9 tests, 9 s of worker time in 3 scopes" in out
    assert "by number of tests (xdist's default): last worker ends at 6 s" in out
    assert "longest first (tests/conftest.py): last worker ends at 6 s" in out
