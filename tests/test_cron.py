from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from milk_forecast.cron import CronError, parse_cron


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def occurrences(expr: str, start: datetime, count: int) -> list[datetime]:
    schedule, found = parse_cron(expr), []
    moment = start
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment)
    return found


def test_weekly_sunday_midnight_from_a_wednesday() -> None:
    wednesday = utc(2026, 11, 25, 15, 42)
    assert wednesday.weekday() == 2
    assert parse_cron("0 0 * * 0").next_after(wednesday) == utc(2026, 11, 29, 0, 0)


def test_next_after_is_strictly_after_a_matching_moment() -> None:
    sunday_midnight = utc(2026, 11, 29, 0, 0)
    assert parse_cron("0 0 * * 0").next_after(sunday_midnight) == utc(2026, 12, 6, 0, 0)
    assert parse_cron("0 0 * * 7").next_after(sunday_midnight) == utc(2026, 12, 6, 0, 0)
    assert parse_cron("0 0 * * sun").next_after(sunday_midnight) == utc(2026, 12, 6, 0, 0)


def test_every_fifteen_minutes_crosses_the_hour() -> None:
    found = occurrences("*/15 * * * *", utc(2026, 3, 1, 10, 31, 59), 4)
    expected = [(10, 45), (11, 0), (11, 15), (11, 30)]
    assert found == [utc(2026, 3, 1, hour, minute) for hour, minute in expected]


def test_ranges_with_steps_and_lists() -> None:
    found = occurrences("5,50 8-12/2 * * mon-fri", utc(2026, 11, 27, 12, 0), 4)
    # Friday 12:05 and 12:50, then the weekend is skipped to Monday 08:05.
    assert found == [
        utc(2026, 11, 27, 12, 5),
        utc(2026, 11, 27, 12, 50),
        utc(2026, 11, 30, 8, 5),
        utc(2026, 11, 30, 8, 50),
    ]


def test_month_and_year_boundaries() -> None:
    assert parse_cron("30 6 31 * *").next_after(utc(2026, 4, 1)) == utc(2026, 5, 31, 6, 30)
    assert parse_cron("0 0 1 * *").next_after(utc(2026, 12, 15)) == utc(2027, 1, 1)
    assert parse_cron("0 12 * jan,JUL *").next_after(utc(2026, 7, 31, 12)) == utc(2027, 1, 1, 12)


def test_february_29_jumps_to_the_next_leap_year() -> None:
    assert parse_cron("0 0 29 2 *").next_after(utc(2026, 1, 1)) == utc(2028, 2, 29)
    assert parse_cron("0 0 29 2 *").next_after(utc(2096, 3, 1)) == utc(2104, 2, 29)


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    # 13th of the month OR any Friday.
    found = occurrences("0 0 13 * 5", utc(2026, 11, 1), 4)
    assert found == [utc(2026, 11, 6), utc(2026, 11, 13), utc(2026, 11, 20), utc(2026, 11, 27)]
    # Day of week unrestricted: only the 13th.
    assert parse_cron("0 0 13 * *").next_after(utc(2026, 11, 14)) == utc(2026, 12, 13)


def test_naive_is_utc_and_other_zones_are_converted() -> None:
    schedule = parse_cron("0 9 * * *")
    assert schedule.next_after(datetime(2026, 1, 1, 8, 59)) == utc(2026, 1, 1, 9)
    santiago = timezone(timedelta(hours=-3))
    # 07:00 at UTC-3 is 10:00 UTC: today's 09:00 UTC has passed.
    assert schedule.next_after(datetime(2026, 1, 1, 7, 0, tzinfo=santiago)) == utc(2026, 1, 2, 9)


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        ("", "expected 5 fields"),
        ("* * * *", "4 field"),
        ("* * * * * *", "6 field"),
        ("60 * * * *", "minute '60'"),
        ("* 24 * * *", "hour '24'"),
        ("* * 0 * *", "day-of-month '0'"),
        ("* * * 13 *", "month '13'"),
        ("* * * foo *", "month 'foo'"),
        ("* * * * 8", "day-of-week '8'"),
        ("*/0 * * * *", "minute '*/0'"),
        ("*/x * * * *", "minute '*/x'"),
        ("* 1-2/ * * *", "hour '1-2/'"),
        ("* 5-2 * * *", "hour '5-2'"),
        ("1,,2 * * * *", "minute ''"),
        ("0 0 30 2 *", "day-of-month '30'"),
    ],
)
def test_malformed_expressions_name_the_field(expr: str, named: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr)
    assert named in str(info.value)
    assert isinstance(info.value, ValueError)
