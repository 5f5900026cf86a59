"""The page people open (``/dashboard``, ``/`` for browsers), kept rendered in memory.

The run's part of the page (forecast, charts, metrics, track record) is built when the
run loads (``served_run.load_served_run`` calls ``read_charts``); the history part comes
from the ``RunIndex`` (runs and the publication log). ``Dashboard`` renders the whole page
once per state, the served run, the index's rows and the publications, and answers
the same bytes until one of them changes: a request never renders, and never reads
``runs/``, unless the state it sees is new (at most once per index rescan).

Charts are read through the guarded ``RunsFolder`` (regular files inside ``runs/``, at
most ``guard.MAX_CHART_BYTES``); a chart that is missing, too big, not SVG or unreadable
is left out with a note on the page and never refuses the run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milk_forecast.run_folder.files import is_number
from milk_forecast.run_folder.layout import (
    FAN_CHART_FILE,
    FIGURES_DIR,
    REPORT_FILE,
    TRACK_RECORD_CHART_FILE,
)
from milk_forecast.run_folder.metrics import RMSE
from milk_forecast.service import guard
from milk_forecast.service.guard import RefusedError, RunsFolder
from milk_forecast.service.page import RunLine, render_no_run, render_page
from milk_forecast.service.serving import SERVICE_NAME

if TYPE_CHECKING:
    from milk_forecast.service.history import RunIndex
    from milk_forecast.service.served_run import ServedRun

logger = logging.getLogger(__name__)
CHART_FILES = (FAN_CHART_FILE, TRACK_RECORD_CHART_FILE)
MAX_RUNS_SHOWN = 50  # newest runs listed on the page; /api/runs lists them all
SVG_STARTS = (b"<svg", b"<?xml")


@dataclass(frozen=True)
class Charts:
    """A run's charts (file name -> SVG bytes) and why any of them is not shown."""

    images: Mapping[str, bytes] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)


def report_url(run_id: str) -> str:
    return f"/runs/{run_id}/{REPORT_FILE}"


def read_chart(folder: RunsFolder, path: Path) -> bytes:
    """One chart's SVG bytes; RefusedError saying why it cannot be shown."""
    data = folder.read_bytes(path, guard.MAX_CHART_BYTES)
    if not data.lstrip()[:5].startswith(SVG_STARTS):
        raise RefusedError(f"{path}: not an SVG image")
    return data


def read_charts(folder: RunsFolder, run_dir: Path) -> Charts:
    """The charts 04_train drew in ``run_dir/figures``; each one absent is noted, never fatal."""
    images: dict[str, bytes] = {}
    notes: dict[str, str] = {}
    for name in CHART_FILES:
        path = run_dir / FIGURES_DIR / name
        try:
            images[name] = read_chart(folder, path)
        except RefusedError as exc:
            if os.path.lexists(path):  # a run without charts (an older one) is no news
                logger.warning("chart not shown on the page: %s", exc)
            reason = str(exc).removeprefix(f"{path}: ").replace(str(folder.path), "runs")
            notes[name] = guard.sanitize(f"{FIGURES_DIR}/{name} {reason}", 120)
    return Charts(images, notes)


def rmse_of(headline: Any) -> float | None:
    value = headline.get(RMSE) if isinstance(headline, Mapping) else None
    return float(value) if is_number(value) else None


def has_report(folder: RunsFolder, run_id: str) -> bool:
    """Whether the run folder holds a report.html the report route would serve."""
    try:
        folder.regular_file(folder.path / run_id / REPORT_FILE, guard.MAX_REPORT_BYTES)
    except RefusedError:
        return False
    return True


def history_lines(
    folder: RunsFolder, rows: Sequence[Mapping[str, Any]], served_id: str | None
) -> list[RunLine]:
    """The page's run lines (the newest ``MAX_RUNS_SHOWN``), with links to their reports."""
    return [
        RunLine(
            run_id=row["run_id"],
            status=row["status"],
            finished_at=row["finished_at"],
            data_source=row["data_source"],
            rmse=rmse_of(row["headline"]),
            served=row["run_id"] == served_id,
            report_url=report_url(row["run_id"]) if has_report(folder, row["run_id"]) else None,
        )
        for row in rows[:MAX_RUNS_SHOWN]
    ]


class Dashboard:
    """The rendered page, kept until the served run, the runs or the publications change."""

    def __init__(self, folder: RunsFolder) -> None:
        self.folder = folder
        self._page: tuple[tuple[object, ...], bytes] | None = None
        self._rendering = threading.Lock()

    @staticmethod
    def _state(run: ServedRun | None, index: RunIndex, message: str) -> tuple[object, ...]:
        return (run, index.rows, index.publications, message)

    def cached(self, run: ServedRun | None, index: RunIndex, message: str) -> bytes | None:
        """The page for this state if it is rendered already (compared by identity)."""
        page = self._page
        if page is None:
            return None
        state = self._state(run, index, message)
        same = all(a is b for a, b in zip(page[0][:3], state[:3], strict=True))
        return page[1] if same and page[0][3] == message else None

    def render(self, run: ServedRun | None, index: RunIndex, message: str) -> bytes:
        """Render (off the event loop) and keep the page for this state."""
        with self._rendering:
            body = self.cached(run, index, message)
            if body is not None:
                return body
            state = self._state(run, index, message)
            rows = [row for _, row in index.rows.values()]
            publications = index.publications
            lines = history_lines(self.folder, rows, run.run_id if run else None)
            if run is None or run.page is None:
                body = render_no_run(SERVICE_NAME, message, lines, publications)
            else:
                data = dataclasses.replace(run.page, history=lines, publications=publications)
                body = render_page(data)
            self._page = (state, body)
            return body
