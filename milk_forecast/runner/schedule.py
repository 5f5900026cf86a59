"""Run the pipeline now and then at every time of a cron expression (UTC), with retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

from milk_forecast.runner.clock import Clock, format_seconds, isoformat

Log = Callable[[str], None]
RunOnce = Callable[[], bool]  # one attempt: whether it succeeded
Stopped = Callable[[], bool]  # whether a stop was requested

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Longest single sleep while waiting for a due time, so a suspended machine or a
# changed wall clock is noticed within this many seconds.
MAX_WAIT_SLICE_S = 60.0


class CronError(ValueError):
    """A cron expression that cannot be parsed or can never match."""


@dataclass(frozen=True)
class CronSchedule:
    """A valid 5-field cron expression, interpreted in UTC."""

    expression: str

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment`` (naive means UTC), in UTC."""
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return next(CronSim(self.expression, moment))


def parse_cron(expression: str) -> CronSchedule:
    """Check a 5-field cron expression; errors name the field and its text."""
    fields = expression.split()
    if len(fields) != len(FIELD_NAMES):
        what = "is empty" if not fields else f"has {len(fields)} field(s)"
        raise CronError(
            f"cron expression {expression!r} {what}: expected 5 fields ({' '.join(FIELD_NAMES)})"
        )
    try:
        next(CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        raise CronError(_describe(expression, fields, str(exc))) from None
    except StopIteration:
        raise CronError(f"cron expression {expression!r} never matches") from None
    return CronSchedule(expression)


def _describe(expression: str, fields: list[str], problem: str) -> str:
    """cronsim says "Bad minute": name the field and quote what it holds."""
    for name, text in zip(FIELD_NAMES, fields, strict=True):
        if name in problem.lower():
            return f"cron expression {expression!r}: {name} {text!r} is invalid ({problem})"
    return f"cron expression {expression!r}: {problem}"


def run_with_retries(
    run_once: RunOnce, retries: int, retry_delay: float, clock: Clock, stopped: Stopped, log: Log
) -> bool:
    """Call ``run_once`` until it succeeds, at most ``1 + retries`` times, ``retry_delay``
    seconds apart, and none once ``stopped()``; whether an attempt succeeded. An exception
    from ``run_once`` is a failed attempt (logged with its class and message)."""
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            ok = bool(run_once())
        except Exception as exc:  # one broken run must not end a schedule
            log(f"run raised {type(exc).__name__}: {exc}")
            ok = False
        if ok:
            if attempt > 1:
                log(f"attempt {attempt}/{attempts} succeeded")
            return True
        if attempt == attempts:
            break
        if stopped():
            log(f"attempt {attempt}/{attempts} failed; stop requested, not retrying")
            return False
        log(f"attempt {attempt}/{attempts} failed; retrying in {retry_delay:g} s")
        clock.sleep(retry_delay)
        if stopped():
            log("stop requested while waiting to retry; not retrying")
            return False
    log(f"run failed after {attempts} attempt(s); giving up")
    return False


def run_schedule(
    schedule: CronSchedule,
    run_once: RunOnce,
    retries: int,
    retry_delay: float,
    clock: Clock,
    stopped: Stopped,
    log: Log,
) -> bool:
    """Run now, then at every cron time, until ``stopped()``; whether the last occurrence
    succeeded. The next due time is computed after the previous occurrence finished, so
    occurrences missed while a run was still going are skipped, not caught up."""
    last_ok = True
    if not stopped():
        last_ok = run_with_retries(run_once, retries, retry_delay, clock, stopped, log)
    while not stopped():
        due = schedule.next_after(clock.now())
        wait_s = (due - clock.now()).total_seconds()
        log(
            f"next run due at {isoformat(due)} (in {format_seconds(wait_s)}; "
            f"cron {schedule.expression!r}, UTC)"
        )
        if not sleep_until(due, clock, stopped):
            break
        last_ok = run_with_retries(run_once, retries, retry_delay, clock, stopped, log)
    log("scheduler stopped")
    return last_ok


def sleep_until(due: datetime, clock: Clock, stopped: Stopped) -> bool:
    """Sleep until ``clock.now() >= due``; False when a stop was requested first."""
    while not stopped():
        remaining = (due - clock.now()).total_seconds()
        if remaining <= 0:
            return True
        clock.sleep(min(remaining, MAX_WAIT_SLICE_S))
    return False
