"""Progress bars (devtools/progress.py, tqdm) for a person at a terminal, never in a pipe or
a test: the JSON lines of ``python -m devtools.job_index`` stay clean when redirected."""

from __future__ import annotations

import io

import pytest

from devtools import progress as module
from devtools.progress import Steps, enabled, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def outside_pytest(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("WEATHER_JOBS_PROGRESS", raising=False)
    return monkeypatch


def _as_a_person(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest sets PYTEST_CURRENT_TEST again when the test body starts: unset it there.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)


def test_no_bar_in_tests_or_pipes(outside_pytest: pytest.MonkeyPatch) -> None:
    _as_a_person(outside_pytest)
    pipe = io.StringIO()
    items = [1, 2, 3]
    assert progress(items, desc="x", stream=pipe) is items  # untouched, nothing drawn
    assert pipe.getvalue() == ""
    outside_pytest.setenv("PYTEST_CURRENT_TEST", "a test")
    assert not enabled(Terminal())


def test_a_bar_on_a_terminal_counts_to_the_end(outside_pytest: pytest.MonkeyPatch) -> None:
    _as_a_person(outside_pytest)
    terminal = Terminal()
    assert list(progress(range(5), desc="backfill", unit="owner", stream=terminal)) == [
        0, 1, 2, 3, 4,
    ]  # fmt: skip
    drawn = terminal.getvalue()
    assert "backfill" in drawn and "5/5" in drawn and "owner" in drawn


def test_the_setting_forces_bars_on_or_off(outside_pytest: pytest.MonkeyPatch) -> None:
    outside_pytest.setenv("WEATHER_JOBS_PROGRESS", "0")
    assert not enabled(Terminal())
    outside_pytest.setenv("WEATHER_JOBS_PROGRESS", "1")
    assert enabled(io.StringIO())


def test_steps_count_the_sections(outside_pytest: pytest.MonkeyPatch) -> None:
    _as_a_person(outside_pytest)
    terminal = Terminal()
    steps = Steps(["health", "weather"], desc="bench", stream=terminal)
    steps.start("health")
    steps.start("weather")
    steps.close()
    assert "2/2" in terminal.getvalue()
    quiet = Steps(["health"], desc="bench", stream=io.StringIO())
    quiet.start("health")
    quiet.close()


def test_say_prints_plain_lines_without_a_terminal(
    outside_pytest: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _as_a_person(outside_pytest)
    module.say('{"owner_id": "a"}')
    assert capsys.readouterr().out == '{"owner_id": "a"}\n'
