"""SIGINT and SIGTERM around runs, handled in one place. Outside the main thread (a worker
of an orchestrator) nothing is installed: signals are then the host process's business.
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
    """For a ``with`` block, SIGINT and SIGTERM mark a stop as requested and raise
    ``RunInterrupted``: a run in progress ends ``failed``, a waiting scheduler or lock wakes up."""

    def __init__(self) -> None:
        self._stopped = False
        self._previous: dict[int, Any] = {}

    def stopped(self) -> bool:
        return self._stopped

    def request_stop(self) -> None:
        self._stopped = True

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
            for signum in HANDLED_SIGNALS:
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()
        raise RunInterrupted(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back inside a block that must not be split (publishing a run),
    then give each held signal, in order, to the handlers in place before."""
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
