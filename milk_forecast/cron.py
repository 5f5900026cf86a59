"""Standard 5-field cron expressions and their next occurrence.

Fields: ``minute hour day-of-month month day-of-week``. Each field is ``*`` or a
comma-separated list of items; an item is a value, a range ``a-b``, or either of
those or ``*`` followed by a step ``/n`` (``a/n`` means ``a-<max>/n``). Months take
``jan``..``dec`` and days of the week ``sun``..``sat`` (case-insensitive); day of the
week 0 and 7 are both Sunday.

As in classic (Vixie) cron, when both day-of-month and day-of-week are restricted
(their field does not start with ``*``) a day matching *either* matches; otherwise
both must match (the ``*`` one always does).

Schedules are interpreted in UTC: ``next_after`` converts its argument to UTC (a
naive datetime is taken to be UTC already) and returns an aware UTC datetime.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")

_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAY_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# Largest day of each month in any year (February counts its leap day).
_MAX_MONTH_DAYS = {m: 29 if m == 2 else calendar.monthrange(2001, m)[1] for m in range(1, 13)}
_SEARCH_MONTHS = 12 * 400  # one full Gregorian cycle


class CronError(ValueError):
    """A cron expression that cannot be parsed or can never match."""


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: dict[str, int]


_SPECS = (
    _FieldSpec("minute", 0, 59, {}),
    _FieldSpec("hour", 0, 23, {}),
    _FieldSpec("day-of-month", 1, 31, {}),
    _FieldSpec("month", 1, 12, _MONTH_NAMES),
    _FieldSpec("day-of-week", 0, 7, _DAY_NAMES),
)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed cron expression: the allowed values of each field, sorted."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]  # 0 = Sunday .. 6 = Saturday
    day_of_month_restricted: bool
    day_of_week_restricted: bool

    def matches_day(self, day: date) -> bool:
        """Whether ``day`` is a day the schedule fires on (month, dom and dow rules)."""
        if day.month not in self.months:
            return False
        in_dom = day.day in self.days_of_month
        in_dow = (day.isoweekday() % 7) in self.days_of_week
        if self.day_of_month_restricted and self.day_of_week_restricted:
            return in_dom or in_dow
        return in_dom and in_dow

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment``, as an aware UTC datetime."""
        start = _as_utc(moment).replace(second=0, microsecond=0) + timedelta(minutes=1)
        year, month = start.year, start.month
        for _ in range(_SEARCH_MONTHS):
            if month in self.months:
                first = start.day if (year, month) == (start.year, start.month) else 1
                for day_number in range(first, calendar.monthrange(year, month)[1] + 1):
                    day = date(year, month, day_number)
                    if self.matches_day(day):
                        found = self._first_time_on(day, start if day == start.date() else None)
                        if found is not None:
                            return found
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        raise CronError(f"cron expression {self.expression!r} never matches")

    def _first_time_on(self, day: date, not_before: datetime | None) -> datetime | None:
        """The first matching time on ``day``, at or after ``not_before`` when given."""
        for hour in self.hours:
            if not_before is not None and hour < not_before.hour:
                continue
            for minute in self.minutes:
                if not_before is not None and (hour, minute) < (not_before.hour, not_before.minute):
                    continue
                return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
        return None


def parse_cron(expr: str) -> CronSchedule:
    """Parse a 5-field cron expression; errors name the field and the offending value."""
    fields = expr.split()
    if len(fields) != len(FIELD_NAMES):
        what = "is empty" if not fields else f"has {len(fields)} field(s)"
        raise CronError(
            f"cron expression {expr!r} {what}: expected 5 fields ({' '.join(FIELD_NAMES)})"
        )
    values = [_parse_field(text, spec, expr) for text, spec in zip(fields, _SPECS, strict=True)]
    days_of_week = tuple(sorted({d % 7 for d in values[4]}))
    schedule = CronSchedule(
        expression=expr,
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=days_of_week,
        day_of_month_restricted=not fields[2].startswith("*"),
        day_of_week_restricted=not fields[4].startswith("*"),
    )
    _check_reachable(schedule, fields[2])
    return schedule


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_reachable(schedule: CronSchedule, dom_text: str) -> None:
    """Reject a day-of-month that no selected month has (e.g. ``30 2``), unless dow rescues it."""
    if schedule.day_of_month_restricted and schedule.day_of_week_restricted:
        return
    longest = max(_MAX_MONTH_DAYS[m] for m in schedule.months)
    if min(schedule.days_of_month) > longest:
        raise CronError(
            f"cron expression {schedule.expression!r}: day-of-month {dom_text!r} "
            f"never occurs in the selected month(s) {schedule.months}"
        )


def _parse_field(text: str, spec: _FieldSpec, expr: str) -> tuple[int, ...]:
    selected: set[int] = set()
    for item in text.split(","):
        selected.update(_parse_item(item, spec, expr))
    return tuple(sorted(selected))


def _parse_item(item: str, spec: _FieldSpec, expr: str) -> range:
    def fail(reason: str) -> CronError:
        return CronError(f"cron expression {expr!r}: {spec.name} {item!r} {reason}")

    if not item:
        raise fail("is empty (stray comma?)")
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise fail(f"has a bad step {step_text!r}: expected a positive integer")
        step = int(step_text)
    if base == "*":
        low, high = spec.low, spec.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(first, spec, fail), _value(last, spec, fail)
        if low > high:
            raise fail(f"is a reversed range: {low} > {high}")
    else:
        low = _value(base, spec, fail)
        high = spec.high if slash else low
    return range(low, high + 1, step)


def _value(text: str, spec: _FieldSpec, fail: Callable[[str], CronError]) -> int:
    key = text.lower()
    if key in spec.names:
        return spec.names[key]
    if not key.isdigit():
        raise fail(f"has {text!r}, which is not a number or a name")
    number = int(key)
    if not spec.low <= number <= spec.high:
        raise fail(f"is out of range: {number} not in {spec.low}-{spec.high}")
    return number
