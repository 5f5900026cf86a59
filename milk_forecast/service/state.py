"""What one service process holds: the served run, the run history and the page, and when
they change.

Every request looks at ``runs/LATEST`` (one ``lstat``) at most once per ``interval``
seconds, and the history endpoints have the history rescanned as often; either one, when
due, has things refreshed in a worker thread while the others are answered from what is
held: a new run is loaded aside, then the one reference is swapped; the page is rendered
again if what it shows changed. A run, or a LATEST, that cannot be served is refused in
one log line naming the file and why, and the previous run keeps serving; writing LATEST
again (even naming the same run, repaired) makes the service look again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from milk_forecast.run_folder.files import sanitize
from milk_forecast.run_folder.latest import latest_stamp, read_latest
from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.service.answers import ApiError
from milk_forecast.service.history import RunIndex
from milk_forecast.service.page import Page
from milk_forecast.service.served_run import ServedRun, load_served_run

logger = logging.getLogger(__name__)
RUN_HINT = "produce one with `python run_pipeline.py` (it publishes runs/LATEST)"


class State:
    """The served run (``run``), the history (``index``) and the page (``page.body``)."""

    def __init__(
        self, runs_dir: Path, interval: float, clock: Callable[[], float] = time.monotonic
    ):
        self.runs_dir, self.interval, self.clock = Path(runs_dir), interval, clock
        self.run: ServedRun | None = None
        self.refusal: str | None = None  # why the last look at LATEST served nothing new
        self.reloads = self.refusals = 0  # runs loaded (the first one included); looks refused
        self.index, self.page = RunIndex(self.runs_dir), Page(self.runs_dir)
        self._next = dict.fromkeys(("look", "scan"), clock() + interval)  # start-up did both
        self._stamp: object = None
        self._refreshing = threading.Lock()

    def due(self, what: str) -> bool:
        """True at most once per ``interval`` for each of "look" (at LATEST) and "scan"."""
        now = self.clock()
        if now < self._next[what]:
            return False
        self._next[what] = now + self.interval
        return True

    def changed(self) -> bool:
        """Whether LATEST was written since the last look (one lstat)."""
        return latest_stamp(self.runs_dir) != self._stamp

    def refresh(self) -> None:
        """Load a newer LATEST, rescan the history, render the page if anything changed.
        One refresh at a time; a call during another returns at once (old state kept)."""
        if not self._refreshing.acquire(blocking=False):
            return
        try:
            self.reload()
            self.index.scan()
            self.page.render(self.run and self.run.page, self.index, self.message())
        except Exception:  # the page or the history: never the reason a prediction fails
            logger.exception("the run history or the page could not be refreshed")
        finally:
            self._refreshing.release()

    def reload(self) -> bool:
        """Serve the run LATEST names if LATEST was written since the last look; True on a swap."""
        stamp = latest_stamp(self.runs_dir)
        if stamp == self._stamp:
            return False
        self._stamp, subject = stamp, "LATEST"
        try:
            run_id = read_latest(self.runs_dir)
            if run_id is None or (self.run is not None and self.run.run_id == run_id):
                return False
            subject = f"run {run_id}"
            run = load_served_run(self.runs_dir, run_id)
        except Exception as exc:  # whatever a run folder holds: refuse it, never crash
            reason = str(exc) if isinstance(exc, RunFolderError) else f"{type(exc).__name__}: {exc}"
            self.refusal = f"refused {subject}: {sanitize(reason)}"
            self.refusals += 1
            serving = self.run.run_id if self.run else "nothing"
            logger.error("%s (still serving %s)", self.refusal, serving)
            return False
        self.run, self.refusal, self.reloads = run, None, self.reloads + 1  # the swap
        logger.info("serving run %s from %s", run_id, self.runs_dir)
        return True

    def no_run_error(self) -> ApiError:
        """The 503 answered while no run is served, saying how to make one."""
        message = f"no succeeded run is being served from {self.runs_dir}: {RUN_HINT}"
        message += f"; {self.refusal}" if self.refusal else ""
        return ApiError(503, "no_run", message, hint=RUN_HINT)

    def message(self) -> str:
        """Why no run is served ("" while one is)."""
        return "" if self.run is not None else self.no_run_error().message
