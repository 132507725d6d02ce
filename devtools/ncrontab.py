"""Timer schedules as the Functions host reads them.

An NCRONTAB expression has six fields, seconds first:
``{second} {minute} {hour} {day} {month} {day-of-week}`` (``0 */10 * * * *`` is every ten
minutes). The host also accepts a TimeSpan (``hh:mm:ss``) meaning "every interval", and
``%SETTING%`` expressions resolved from app settings. Day-of-month and day-of-week must
both match (NCrontab's rule; classic cron ORs them).

croniter does the calendar arithmetic; this module does the Functions-specific parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

_SETTING = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?$")


class ScheduleError(ValueError):
    """A schedule the host would refuse to load."""


def resolve_setting_expressions(value: str, settings: Mapping[str, str]) -> str:
    """Replace ``%NAME%`` with the app setting NAME, as binding expressions are resolved."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise ScheduleError(f"app setting {name!r} (used as %{name}%) is not defined")
        return settings[name]

    return _SETTING.sub(replace, value)


@dataclass(frozen=True)
class Schedule:
    expression: str
    interval: timedelta | None = None  # set for TimeSpan schedules

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after ``moment`` (UTC)."""
        moment = moment.astimezone(UTC)
        if self.interval is not None:
            return moment + self.interval
        itr = croniter(
            self.expression,
            moment,
            day_or=False,
            second_at_beginning=True,
            ret_type=datetime,
        )
        value: datetime = itr.get_next(datetime)
        return value.astimezone(UTC)

    def occurrences(self, start: datetime, count: int) -> list[datetime]:
        result = []
        moment = start
        for _ in range(count):
            moment = self.next_after(moment)
            result.append(moment)
        return result


def parse_schedule(expression: str, settings: Mapping[str, str] | None = None) -> Schedule:
    """Parse a timer trigger's schedule; ``%SETTING%`` is resolved from ``settings``."""
    resolved = resolve_setting_expressions(expression, settings or {}).strip()
    timespan = _TIMESPAN.match(resolved)
    if timespan:
        interval = timedelta(
            days=int(timespan["days"] or 0),
            hours=int(timespan["h"]),
            minutes=int(timespan["m"]),
            seconds=int(timespan["s"] or 0),
        )
        if interval <= timedelta(0):
            raise ScheduleError(f"timer interval {resolved!r} must be positive")
        return Schedule(resolved, interval)
    fields = resolved.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"NCRONTAB {resolved!r} has {len(fields)} fields; the Functions host expects six: "
            "{second} {minute} {hour} {day} {month} {day-of-week}"
        )
    try:
        valid = croniter.is_valid(resolved, second_at_beginning=True)
    except TypeError:  # pragma: no cover - older croniter without the keyword
        valid = croniter.is_valid(" ".join(fields[1:] + fields[:1]))
    if not valid:
        raise ScheduleError(f"invalid NCRONTAB expression {resolved!r}")
    schedule = Schedule(resolved)
    try:
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except Exception as exc:  # croniter raises its own errors for impossible dates
        raise ScheduleError(f"NCRONTAB {resolved!r} never fires: {exc}") from exc
    return schedule
