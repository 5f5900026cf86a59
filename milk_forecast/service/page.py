"""The page (/dashboard, and / for a browser): templates/page.html, rendered only when the
run or the history changed. Charts are ``data:`` images (their scripts never run); Jinja2
escapes every text from a run folder."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.templating import Jinja2Templates

from milk_forecast.run_folder import layout
from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.files import read_bounded, sanitize
from milk_forecast.run_folder.metrics import DRIFT, RMSE, TRACK_RECORD, walk_forward_key
from milk_forecast.run_folder.servable import Servable
from milk_forecast.service.answers import SERVICE_NAME, mapping

if TYPE_CHECKING:
    from milk_forecast.service.history import RunIndex

MAX_CHART_BYTES = 2 * 1024 * 1024
PAGE_HORIZONS = (1, 3, 6, 12)
MAX_RUNS_SHOWN, MAX_PUBLICATIONS_SHOWN = 50, 10
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.trim_blocks = TEMPLATES.env.lstrip_blocks = True


def chart(run_dir: Path, name: str) -> dict[str, str]:
    """``{"src": a data: URL}``, or ``{"note": why the chart is not shown}``."""
    path, runs_dir = run_dir / layout.FIGURES_DIR / name, run_dir.parent
    try:
        svg = read_bounded(path, MAX_CHART_BYTES, runs_dir)
        if not svg.lstrip()[:5].startswith((b"<svg", b"<?xml")):
            raise layout.RunFolderError(f"{path}: not an SVG image")
    except layout.RunFolderError as exc:
        reason = str(exc).removeprefix(f"{path}: ").replace(str(runs_dir), "runs")
        return {"note": sanitize(f"{layout.FIGURES_DIR}/{name} {reason}", 120)}
    return {"src": "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")}


def run_part(run: Servable, summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows of a run (its ``summary`` included); ``served``: the model listed
    first at each horizon, the one serving it."""
    levels, metrics, sides = run.predictions["interval_levels"], run.metrics, (p.LOWER, p.UPPER)
    evaluations, rows = mapping(metrics, "evaluations"), run.predictions["rows"]
    scores = [mapping(evaluations.get(walk_forward_key(h)), "models") for h in PAGE_HORIZONS]
    track = mapping(mapping(metrics, TRACK_RECORD), "horizons").items()
    return {
        **summary,
        "levels": [p.level_label(level) for level in levels],
        "path": [
            row | {"bounds": [[row.get(p.interval_column(s, v)) for s in sides] for v in levels]}
            for row in rows
            if row[p.KIND] == p.FORECAST
        ],
        "last": next((row for row in reversed(rows) if row.get(p.ACTUAL) is not None), None),
        "charts": {name: chart(run.run_dir, name) for name in layout.CHART_FILES},
        "drift": mapping(metrics, DRIFT),
        "track": {h: scored for h, scored in track if isinstance(scored, Mapping)},
        "served": [next(iter(s), None) for s in scores],
        "backtest": [
            (m, [mapping(s, m).get(RMSE) for s in scores])
            for m in dict.fromkeys(m for s in scores for m in s)
        ],
    }


class Page:
    """The page's bytes (``body``), rendered again only when what it shows changed."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir, self.body = runs_dir, b""
        self._shown: tuple[object, ...] = ()  # the run, rows and log shown, and the message

    def render(self, run: Mapping[str, Any] | None, index: RunIndex, message: str) -> None:
        shown = (run, index.rows, index.publications, message)
        if shown == self._shown:  # the same objects, mostly: compared by identity first
            return
        runs = [
            row | {"report": (self.runs_dir / run_id / layout.REPORT_FILE).is_file()}
            for run_id, (_, row) in list(index.rows.items())[:MAX_RUNS_SHOWN]
        ]
        publications = index.publications[:MAX_PUBLICATIONS_SHOWN]
        context = {"service": SERVICE_NAME, "horizons": PAGE_HORIZONS, "message": message}
        template = TEMPLATES.get_template("page.html")
        self.body = template.render(context, run=run, runs=runs, publications=publications).encode()
        self._shown = shown
