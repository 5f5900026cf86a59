"""For tests that reading a broken file (a FIFO, say) answers instead of waiting forever."""

from __future__ import annotations

import threading
from collections.abc import Callable

TIMEOUT_SECONDS = 5


def finishes(call: Callable[[], object]) -> list[object]:
    """What ``call`` returned or raised, run in a thread given TIMEOUT_SECONDS; a call still
    running then (a blocked open) fails the test."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # the outcome is what the test asserts on
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(TIMEOUT_SECONDS)
    assert not worker.is_alive(), "the reader blocked"
    return outcome
