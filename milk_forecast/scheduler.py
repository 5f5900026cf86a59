"""Run the pipeline now and then at every cron time, with retries, until stopped.

Time and stopping are injected so tests drive the loop without waiting:
``Clock`` gives ``now()`` and ``sleep()``, ``StopFlag`` is set by the caller's
SIGINT/SIGTERM handler. ``run_once`` starts one new run (a new run folder) per
call and returns whether it succeeded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from milk_forecast.cron import CronSchedule
from milk_forecast.runs import isoformat, utc_now

Log = Callable[[str], None]
RunOnce = Callable[[], bool]

# Longest single sleep while waiting for a due time, so a suspended machine or a
# changed wall clock is noticed within this many seconds.
MAX_WAIT_SLICE_S = 60.0


class StopFlag:
    """Set once to ask the loop to stop; safe to set from a signal handler (a plain bool)."""

    def __init__(self) -> None:
        self._set = False
        self.reason = ""

    def set(self, reason: str = "") -> None:
        self._set = True
        self.reason = reason

    def is_set(self) -> bool:
        return self._set


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (may return early when a stop is requested)."""
        ...


class SystemClock:
    """The real clock: UTC now, and a sleep in short slices that returns early on stop."""

    def __init__(self, stop: StopFlag | None = None, slice_s: float = 0.2) -> None:
        self.stop = stop
        self.slice_s = slice_s

    def now(self) -> datetime:
        return utc_now()

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(seconds, 0.0)
        while not (self.stop is not None and self.stop.is_set()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, self.slice_s))


def run_with_retries(
    run_once: RunOnce,
    retries: int,
    retry_delay: float,
    clock: Clock,
    stop: StopFlag,
    log: Log,
) -> bool:
    """Call ``run_once`` until it succeeds, at most ``1 + retries`` times.

    Waits ``retry_delay`` seconds between attempts; an exception from ``run_once``
    counts as a failed attempt (logged with its class and message). No retry is
    started once ``stop`` is set. Returns whether an attempt succeeded.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if retry_delay < 0:
        raise ValueError(f"retry_delay must be >= 0 seconds, got {retry_delay}")
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        if _attempt(run_once, log):
            if attempt > 1:
                log(f"attempt {attempt}/{attempts} succeeded")
            return True
        if attempt == attempts:
            break
        if stop.is_set():
            log(f"attempt {attempt}/{attempts} failed; stop requested, not retrying")
            return False
        log(f"attempt {attempt}/{attempts} failed; retrying in {retry_delay:g} s")
        clock.sleep(retry_delay)
        if stop.is_set():
            log("stop requested while waiting to retry; not retrying")
            return False
    log(f"run failed after {attempts} attempt(s); giving up")
    return False


def run_schedule(
    schedule: CronSchedule,
    run_once: RunOnce,
    *,
    retries: int,
    retry_delay: float,
    clock: Clock,
    stop: StopFlag,
    log: Log,
    run_now: bool = True,
) -> int:
    """Run now (unless ``run_now`` is False), then at every cron time, until ``stop`` is set.

    Each occurrence gets ``retries`` retries. The next due time is computed after
    the previous occurrence finished, so occurrences missed while a run was still
    going are skipped, not caught up. Returns 0 when the last occurrence succeeded
    (or none ran), 1 when it failed: use it as the exit status.
    """
    last_ok = True
    if run_now and not stop.is_set():
        last_ok = run_with_retries(run_once, retries, retry_delay, clock, stop, log)
    while not stop.is_set():
        due = schedule.next_after(clock.now())
        wait_s = (due - clock.now()).total_seconds()
        log(
            f"next run due at {isoformat(due)} (in {format_seconds(wait_s)}; "
            f"cron {schedule.expression!r}, UTC)"
        )
        if not sleep_until(due, clock, stop):
            break
        last_ok = run_with_retries(run_once, retries, retry_delay, clock, stop, log)
    log(f"scheduler stopped{': ' + stop.reason if stop.reason else ''}")
    return 0 if last_ok else 1


def sleep_until(due: datetime, clock: Clock, stop: StopFlag) -> bool:
    """Sleep until ``clock.now() >= due``; False when ``stop`` was set first."""
    while not stop.is_set():
        remaining = (due - clock.now()).total_seconds()
        if remaining <= 0:
            return True
        clock.sleep(min(remaining, MAX_WAIT_SLICE_S))
    return False


def format_seconds(seconds: float) -> str:
    """A short human duration: ``45s``, ``3m 05s``, ``2h 07m``, ``3d 04h``."""
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _attempt(run_once: RunOnce, log: Log) -> bool:
    try:
        return bool(run_once())
    except Exception as exc:  # one broken run must not end a schedule
        log(f"run raised {type(exc).__name__}: {exc}")
        return False
