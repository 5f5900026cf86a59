"""SIGINT and SIGTERM around runs, handled in one place.

``Interrupts`` is a context manager: inside it, SIGINT and SIGTERM mark a stop as
requested and raise ``RunInterrupted`` in the main thread, so a run in progress ends
as ``failed`` ("interrupted") and a waiting scheduler or lock wakes up; on exit the
previous handlers are back.

``deferred_signals`` holds SIGINT and SIGTERM back for a short block that must not be
split (publishing a run: its ``run.json`` and ``LATEST``): a signal arriving inside
is delivered, to whatever handler was in place, when the block ends.

Outside the main thread (a worker of an orchestrator) nothing is installed: signals
are then the host process's business.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) arrived while the runner was working or waiting."""


class Interrupts:
    """Installs the runner's SIGINT/SIGTERM handlers for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.reason = ""
        self._stopped = False
        self._previous: dict[int, Any] = {}
        self._active = False

    def stopped(self) -> bool:
        """Whether a stop was requested (by a signal, or by ``request_stop``)."""
        return self._stopped

    def request_stop(self, reason: str) -> None:
        self._stopped = True
        self.reason = reason

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
            self._active = True
            for signum in HANDLED_SIGNALS:
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._active:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
            self._active = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.request_stop(f"stopped by {name}")
        raise RunInterrupted(f"stopped by {name}")


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back inside the block; deliver them once it has ended.

    The handlers in place before (the runner's ``Interrupts``, Python's default
    ``KeyboardInterrupt``, or the default action) get each held signal, in order,
    after the block, so the block runs to its end or not at all. No-op outside
    the main thread, where Python never runs signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in dict.fromkeys(held):
            signal.raise_signal(signum)
