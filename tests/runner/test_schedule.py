from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from milk_forecast.runner import clock as clock_module
from milk_forecast.runner.clock import SystemClock, format_seconds
from milk_forecast.runner.schedule import CronError, parse_cron, run_schedule, run_with_retries
from milk_forecast.runner.signals import Interrupts


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class FakeClock:
    """Time that only moves when slept (or when a run 'takes' time)."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)


def recording_run(
    clock: FakeClock,
    outcomes: list[bool],
    stop: Interrupts | None = None,
    run_seconds: float = 0.0,
) -> tuple[Callable[[], bool], list[datetime]]:
    """A run_once returning ``outcomes`` in turn; sets ``stop`` after the last one."""
    calls: list[datetime] = []

    def run_once() -> bool:
        calls.append(clock.now())
        clock.current += timedelta(seconds=run_seconds)
        outcome = outcomes[len(calls) - 1]
        if stop is not None and len(calls) == len(outcomes):
            stop.request_stop()
        return outcome

    return run_once, calls


def scheduled(
    expression: str,
    run_once: Callable[[], bool],
    clock: FakeClock,
    stop: Interrupts,
    retries: int,
    retry_delay: float,
    log: Callable[[str], None],
) -> bool:
    """``run_schedule`` of ``expression`` on the fake clock, stopped by ``stop``."""
    return run_schedule(
        parse_cron(expression),
        run_once,
        retries=retries,
        retry_delay=retry_delay,
        clock=clock,
        stopped=stop.stopped,
        log=log,
    )


def test_schedule_runs_now_then_at_each_cron_time() -> None:
    clock, stop, lines = FakeClock(utc(2026, 11, 25, 15, 42, 10)), Interrupts(), []
    run_once, calls = recording_run(clock, [True] * 4, stop, run_seconds=90)
    assert scheduled("0 0 * * 0", run_once, clock, stop, 0, 30, lines.append) is True
    assert calls == [
        utc(2026, 11, 25, 15, 42, 10),
        utc(2026, 11, 29),
        utc(2026, 12, 6),
        utc(2026, 12, 13),
    ]
    due_lines = [line for line in lines if line.startswith("next run due at")]
    assert due_lines[0].startswith("next run due at 2026-11-29T00:00:00Z (in 3d 08h")
    assert len(due_lines) == 3
    assert all(s <= 60 for s in clock.slept)  # long waits are sliced


def test_overrunning_occurrences_are_skipped_not_caught_up() -> None:
    clock, stop = FakeClock(utc(2026, 1, 1, 0, 0)), Interrupts()
    run_once, calls = recording_run(clock, [True] * 3, stop, run_seconds=20 * 60)
    scheduled("*/15 * * * *", run_once, clock, stop, 0, 0, lambda _: None)
    assert calls == [utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 1, 0)]


def test_retry_after_a_failure_then_success() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), Interrupts(), []
    run_once, calls = recording_run(clock, [False, True])
    assert run_with_retries(run_once, 3, 30, clock, stop.stopped, lines.append) is True
    assert len(calls) == 2
    assert clock.slept == [30]
    assert "attempt 1/4 failed; retrying in 30 s" in lines


def test_give_up_after_all_retries() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), Interrupts(), []
    run_once, calls = recording_run(clock, [False] * 3)
    assert run_with_retries(run_once, 2, 5, clock, stop.stopped, lines.append) is False
    assert len(calls) == 3
    assert clock.slept == [5, 5]
    assert lines[-1] == "run failed after 3 attempt(s); giving up"


def test_an_exception_counts_as_a_failed_attempt() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), Interrupts(), []
    outcomes = iter([RuntimeError("kernel died"), True])

    def run_once() -> bool:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert run_with_retries(run_once, 1, 0, clock, stop.stopped, lines.append) is True
    assert "run raised RuntimeError: kernel died" in lines


def test_failed_last_occurrence_gives_exit_status_one() -> None:
    clock, stop = FakeClock(utc(2026, 1, 1)), Interrupts()
    run_once, calls = recording_run(clock, [True, False, False], stop)
    assert scheduled("0 * * * *", run_once, clock, stop, 1, 10, lambda _: None) is False
    assert calls[1:] == [utc(2026, 1, 1, 1, 0), utc(2026, 1, 1, 1, 0, 10)]


def test_stop_during_a_run_ends_the_loop_without_retrying() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), Interrupts(), []
    run_once, calls = recording_run(clock, [False], stop)
    ok = scheduled("* * * * *", run_once, clock, stop, 3, 10, lines.append)
    assert (ok, len(calls), clock.slept) == (False, 1, [])
    assert lines[-1] == "scheduler stopped"


def test_stop_while_waiting_for_the_next_time() -> None:
    stop = Interrupts()

    class StoppingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if self.current >= utc(2026, 1, 1, 0, 30):
                stop.request_stop()

    clock = StoppingClock(utc(2026, 1, 1))
    run_once, calls = recording_run(clock, [True, True])
    assert scheduled("0 * * * *", run_once, clock, stop, 0, 0, lambda _: None) is True
    assert calls == [utc(2026, 1, 1)]
    assert clock.current < utc(2026, 1, 1, 1, 0)


def test_already_stopped_runs_nothing() -> None:
    clock, stop = FakeClock(utc(2026, 1, 1)), Interrupts()
    stop.request_stop()
    run_once, calls = recording_run(clock, [True])
    scheduled("* * * * *", run_once, clock, stop, 0, 0, lambda _: None)
    assert calls == []


def test_system_clock_sleeps_in_slices_and_returns_early_on_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop, slices = Interrupts(), []

    def fake_sleep(seconds: float) -> None:
        slices.append(seconds)
        if len(slices) == 3:
            stop.request_stop()

    monkeypatch.setattr(clock_module.time, "sleep", fake_sleep)
    SystemClock(stop.stopped).sleep(3600)
    assert slices == [clock_module.SLEEP_SLICE_S] * 3


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (4.6, 185, 7620, 273600)] == [
        "5s",
        "3m 05s",
        "2h 07m",
        "3d 04h",
    ]


# --- cron expressions (parsed and stepped by cronsim) ---


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
        ("1,,2 * * * *", "minute '1,,2'"),
        ("0 0 30 2 *", "day-of-month '30'"),
    ],
)
def test_malformed_expressions_name_the_field(expr: str, named: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr)
    assert named in str(info.value)
    assert isinstance(info.value, ValueError)
