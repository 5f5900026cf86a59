from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from milk_forecast import scheduler
from milk_forecast.cron import parse_cron
from milk_forecast.scheduler import (
    StopFlag,
    SystemClock,
    format_seconds,
    run_schedule,
    run_with_retries,
)


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
    stop: StopFlag | None = None,
    run_seconds: float = 0.0,
) -> tuple[Callable[[], bool], list[datetime]]:
    """A run_once returning ``outcomes`` in turn; sets ``stop`` after the last one."""
    calls: list[datetime] = []

    def run_once() -> bool:
        calls.append(clock.now())
        clock.current += timedelta(seconds=run_seconds)
        outcome = outcomes[len(calls) - 1]
        if stop is not None and len(calls) == len(outcomes):
            stop.set("test done")
        return outcome

    return run_once, calls


def test_schedule_runs_now_then_at_each_cron_time() -> None:
    clock, stop, lines = FakeClock(utc(2026, 11, 25, 15, 42, 10)), StopFlag(), []
    run_once, calls = recording_run(clock, [True] * 4, stop, run_seconds=90)
    code = run_schedule(
        parse_cron("0 0 * * 0"),
        run_once,
        retries=0,
        retry_delay=30,
        clock=clock,
        stop=stop,
        log=lines.append,
    )
    assert code == 0
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
    clock, stop = FakeClock(utc(2026, 1, 1, 0, 0)), StopFlag()
    run_once, calls = recording_run(clock, [True] * 3, stop, run_seconds=20 * 60)
    run_schedule(
        parse_cron("*/15 * * * *"),
        run_once,
        retries=0,
        retry_delay=0,
        clock=clock,
        stop=stop,
        log=lambda _: None,
    )
    assert calls == [utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 1, 0)]


def test_retry_after_a_failure_then_success() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), StopFlag(), []
    run_once, calls = recording_run(clock, [False, True])
    assert run_with_retries(run_once, 3, 30, clock, stop, lines.append) is True
    assert len(calls) == 2
    assert clock.slept == [30]
    assert "attempt 1/4 failed; retrying in 30 s" in lines


def test_give_up_after_all_retries() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), StopFlag(), []
    run_once, calls = recording_run(clock, [False] * 3)
    assert run_with_retries(run_once, 2, 5, clock, stop, lines.append) is False
    assert len(calls) == 3
    assert clock.slept == [5, 5]
    assert lines[-1] == "run failed after 3 attempt(s); giving up"


def test_an_exception_counts_as_a_failed_attempt() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), StopFlag(), []
    outcomes = iter([RuntimeError("kernel died"), True])

    def run_once() -> bool:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert run_with_retries(run_once, 1, 0, clock, stop, lines.append) is True
    assert "run raised RuntimeError: kernel died" in lines


def test_failed_last_occurrence_gives_exit_status_one() -> None:
    clock, stop = FakeClock(utc(2026, 1, 1)), StopFlag()
    run_once, calls = recording_run(clock, [True, False, False], stop)
    code = run_schedule(
        parse_cron("0 * * * *"),
        run_once,
        retries=1,
        retry_delay=10,
        clock=clock,
        stop=stop,
        log=lambda _: None,
    )
    assert code == 1
    assert calls[1:] == [utc(2026, 1, 1, 1, 0), utc(2026, 1, 1, 1, 0, 10)]


def test_stop_during_a_run_ends_the_loop_without_retrying() -> None:
    clock, stop, lines = FakeClock(utc(2026, 1, 1)), StopFlag(), []
    run_once, calls = recording_run(clock, [False], stop)
    code = run_schedule(
        parse_cron("* * * * *"),
        run_once,
        retries=3,
        retry_delay=10,
        clock=clock,
        stop=stop,
        log=lines.append,
    )
    assert (code, len(calls), clock.slept) == (1, 1, [])
    assert lines[-1] == "scheduler stopped: test done"


def test_stop_while_waiting_for_the_next_time() -> None:
    stop = StopFlag()

    class StoppingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if self.current >= utc(2026, 1, 1, 0, 30):
                stop.set()

    clock = StoppingClock(utc(2026, 1, 1))
    run_once, calls = recording_run(clock, [True, True])
    code = run_schedule(
        parse_cron("0 * * * *"),
        run_once,
        retries=0,
        retry_delay=0,
        clock=clock,
        stop=stop,
        log=lambda _: None,
    )
    assert code == 0
    assert calls == [utc(2026, 1, 1)]
    assert clock.current < utc(2026, 1, 1, 1, 0)


def test_already_stopped_runs_nothing() -> None:
    clock, stop = FakeClock(utc(2026, 1, 1)), StopFlag()
    stop.set()
    run_once, calls = recording_run(clock, [True])
    run_schedule(
        parse_cron("* * * * *"),
        run_once,
        retries=0,
        retry_delay=0,
        clock=clock,
        stop=stop,
        log=lambda _: None,
    )
    assert calls == []


def test_system_clock_sleeps_in_slices_and_returns_early_on_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stop, slices = StopFlag(), []

    def fake_sleep(seconds: float) -> None:
        slices.append(seconds)
        if len(slices) == 3:
            stop.set()

    monkeypatch.setattr(scheduler.time, "sleep", fake_sleep)
    SystemClock(stop, slice_s=0.2).sleep(3600)
    assert slices == [0.2, 0.2, 0.2]


@pytest.mark.parametrize(("retries", "delay"), [(-1, 0), (0, -1)])
def test_negative_retries_or_delay_are_rejected(retries: int, delay: float) -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        run_with_retries(
            lambda: True, retries, delay, FakeClock(utc(2026, 1, 1)), StopFlag(), print
        )


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (4.6, 185, 7620, 273600)] == [
        "5s",
        "3m 05s",
        "2h 07m",
        "3d 04h",
    ]
