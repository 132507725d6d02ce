"""NCRONTAB schedules (six fields, seconds first), TimeSpans and %SETTING% expressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devtools.ncrontab import ScheduleError, parse_schedule, resolve_setting_expressions

T0 = datetime(2026, 11, 20, 10, 3, 7, tzinfo=UTC)  # a Friday


def test_every_ten_minutes() -> None:
    schedule = parse_schedule("0 */10 * * * *")
    assert schedule.occurrences(T0, 3) == [
        datetime(2026, 11, 20, 10, 10, tzinfo=UTC),
        datetime(2026, 11, 20, 10, 20, tzinfo=UTC),
        datetime(2026, 11, 20, 10, 30, tzinfo=UTC),
    ]


def test_seconds_come_first() -> None:
    schedule = parse_schedule("*/15 * * * * *")
    assert schedule.next_after(T0) == datetime(2026, 11, 20, 10, 3, 15, tzinfo=UTC)


def test_weekdays_by_name_skip_the_weekend() -> None:
    schedule = parse_schedule("30 0 9 * * Mon-Fri")
    assert schedule.occurrences(T0, 2) == [
        datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC),  # Monday
        datetime(2026, 11, 24, 9, 0, 30, tzinfo=UTC),
    ]


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    # NCrontab ANDs the two day fields: Friday the 13th only (cron would OR them).
    schedule = parse_schedule("0 0 0 13 * Fri")
    assert schedule.occurrences(datetime(2026, 1, 1, tzinfo=UTC), 3) == [
        datetime(2026, 2, 13, tzinfo=UTC),
        datetime(2026, 3, 13, tzinfo=UTC),
        datetime(2026, 11, 13, tzinfo=UTC),
    ]


def test_occurrence_is_strictly_after_the_moment() -> None:
    schedule = parse_schedule("0 0 * * * *")
    on_the_hour = datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert schedule.next_after(on_the_hour) == on_the_hour + timedelta(hours=1)


def test_timespan_schedules_repeat_at_their_interval() -> None:
    schedule = parse_schedule("00:05:00")
    assert schedule.next_after(T0) == T0 + timedelta(minutes=5)
    assert parse_schedule("1.00:00:00").interval == timedelta(days=1)


def test_setting_expressions_are_resolved() -> None:
    schedule = parse_schedule("%REFRESH%", {"REFRESH": "0 */5 * * * *"})
    assert schedule.expression == "0 */5 * * * *"
    assert resolve_setting_expressions("q-%NAME%-x", {"NAME": "jobs"}) == "q-jobs-x"
    with pytest.raises(ScheduleError, match="MISSING"):
        parse_schedule("%MISSING%", {})


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",  # five fields: classic cron, refused by the host
        "61 * * * * *",
        "0 0 0 31 2 *",  # never fires
        "0 0 0 * * Funday",
        "00:00:00",
        "",
    ],
)
def test_invalid_schedules_are_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse_schedule(expression)
