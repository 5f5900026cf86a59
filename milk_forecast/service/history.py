"""The run history (/api/runs, /api/runs/{run_id}), kept in memory: a scan re-reads only
the files whose inode, mtime or size changed; a malformed ``run.json`` is a row saying why."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import layout, record
from milk_forecast.run_folder.files import read_json_object, stamp
from milk_forecast.run_folder.metrics import MAX_METRICS_BYTES
from milk_forecast.run_folder.publication import read_publications
from milk_forecast.service.answers import ApiError, check_run_id, dumps, flat_object, short_text

logger = logging.getLogger(__name__)
Stamp = tuple[int, int, int, int] | None
# A run whose row is kept while its run.json is unchanged: ended, or abandoned (its process
# is gone for good): only a run still running is read again at each scan.
SETTLED = (record.SUCCEEDED, record.FAILED, record.INCOMPLETE)


class RunIndex:
    """Every run of the runs folder and the publication log, each newest first. ``rows`` and
    ``publications`` stay the same objects while unchanged (the page compares them)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.rows: dict[str, tuple[Stamp, dict[str, Any]]] = {}
        self.publications: tuple[dict[str, str], ...] = ()
        self._log_stamp: object = ()
        self._body: tuple[object, object, str | None, bytes] | None = None

    def scan(self) -> None:
        """Rebuild the rows, and re-read the publication log if it changed."""
        try:
            names = sorted((entry.name for entry in os.scandir(self.runs_dir)), reverse=True)
        except OSError:
            names = []
        rows = {name: self._row(name) for name in names if layout.is_valid_run_id(name)}
        if rows != self.rows:
            self.rows = rows
        log_stamp = stamp(self.runs_dir / layout.PUBLICATIONS_FILE)
        if log_stamp != self._log_stamp:
            self._log_stamp = log_stamp
            entries, notes = read_publications(self.runs_dir)
            for note in notes:
                logger.warning("publication log: %s", note)
            if tuple(reversed(entries)) != self.publications:
                self.publications = tuple(reversed(entries))

    def _row(self, run_id: str) -> tuple[Stamp, dict[str, Any]]:
        """The kept row of an ended run whose run.json is unchanged, else a new one (a running
        run's process may have died meanwhile)."""
        current = stamp(self.runs_dir / run_id / layout.RUN_JSON)
        kept = self.rows.get(run_id)
        if kept and current and kept[0] == current and kept[1]["status"] in SETTLED:
            return kept
        summary = record.summary_of(self.runs_dir / run_id)
        values, error = summary.record, summary.error
        return current, {
            "run_id": run_id,
            "status": summary.status,
            "started_at": short_text(values.get("started_at")),
            "finished_at": short_text(values.get("finished_at")),
            "data_source": record.data_source(values.get("synthetic_sample")),
            "headline": flat_object(values.get("headline")),
            "error": {"message": error} if error else flat_object(values.get("error")),
        }

    def list_body(self, served_id: str | None) -> bytes:
        """The /api/runs body: every run, which one is served, and the publications."""
        rows, publications, kept = self.rows, self.publications, self._body
        if kept and kept[0] is rows and kept[1] is publications and kept[2] == served_id:
            return kept[3]
        runs = [{**row, "served": run_id == served_id} for run_id, (_, row) in rows.items()]
        body = dumps({"served_run_id": served_id, "runs": runs, "publications": publications})
        self._body = (rows, publications, served_id, body)
        return body

    def check_known(self, run_id: str) -> None:
        """A 404 unless ``run_id`` names a run folder."""
        check_run_id(run_id)
        if not record.is_run_folder(self.runs_dir / run_id):
            raise ApiError(404, "unknown_run", f"there is no run {run_id} in the runs folder")

    def detail(self, run_id: str, served_id: str | None) -> dict[str, Any]:
        """What /api/runs/{run_id} answers: its run.json and metrics.json; 404 for unknown ids."""
        self.check_known(run_id)
        run_dir = self.runs_dir / run_id
        summary, metrics_file = record.summary_of(run_dir), run_dir / layout.METRICS_FILE
        try:
            metrics = read_json_object(metrics_file, MAX_METRICS_BYTES, self.runs_dir)
        except layout.RunFolderError:
            metrics = None
        answer = {"run_id": run_id, "status": summary.status, "served": run_id == served_id}
        return answer | {"run": summary.record or None, "metrics": metrics, "error": summary.error}
