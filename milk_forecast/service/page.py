"""The HTML page for people: the served forecast, its charts, the track record, the run history.

Rendered once when a run is loaded (never per request), from documents the run wrote:
``metrics.json``, ``predictions.json`` and the charts 04_train drew (SVG, embedded as
``data:`` images, so any script inside one never runs and the page requests nothing from
any host). Every text that comes from a run folder is escaped. Standard library only.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from milk_forecast.contracts import (
    FORECAST,
    HORIZON,
    KIND,
    LOWER,
    MAE,
    MODEL,
    MONTH,
    PREDICTED,
    REASON,
    RMSE,
    SYNTHETIC_SOURCE,
    UNIT,
    UPPER,
    interval_column,
    level_label,
    walk_forward_key,
)

PAGE_HORIZONS = (1, 3, 6, 12)
STYLE = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6472; --line: #d8dde5;
        --accent: #1f5fa8; --warn-bg: #fff4d6; --warn: #7a5200; --bad-bg: #fde2e1; --bad: #8a1c17; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
header h1 { font-size: 1.4rem; margin: 0 0 4px; }
.muted { color: var(--muted); font-size: 0.9rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px;
          margin: 16px 0; }
h2 { font-size: 1.1rem; margin: 0 0 12px; }
.figure { font-size: 2.4rem; font-weight: 700; color: var(--accent); }
.banner { border-radius: 6px; padding: 10px 12px; margin: 12px 0; }
.warn { background: var(--warn-bg); color: var(--warn); }
.bad { background: var(--bad-bg); color: var(--bad); }
.ok { background: #e5f4ea; color: #1d5c33; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
td.text { text-align: left; white-space: normal; min-width: 12rem; }
img.chart { width: 100%; height: auto; display: block; }
a { color: var(--accent); }
@media (max-width: 600px) { main { padding: 8px; } section { padding: 10px; }
  .figure { font-size: 1.9rem; } th, td { padding: 3px 5px; } }
"""


@dataclass(frozen=True)
class RunLine:
    """One line of the run history on the page."""

    run_id: str
    status: str
    finished_at: str | None
    data_source: str
    rmse: float | None
    served: bool
    report_url: str | None


@dataclass(frozen=True)
class PageData:
    """Everything the page shows; built by the service from a loaded run."""

    service: str
    run_id: str
    finished_at: str | None
    data_source: str
    metrics: Mapping[str, Any]
    rows: Sequence[Mapping[str, Any]]
    charts: Mapping[str, bytes] = field(default_factory=dict)  # title -> SVG bytes
    history: Sequence[RunLine] = ()
    publications: Sequence[Mapping[str, Any]] = ()


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any, digits: int = 2) -> str:
    return (
        f"{value:,.{digits}f}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else "-"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], text_columns: int = 0) -> str:
    """An HTML table of already escaped cells; the last ``text_columns`` cells wrap."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for cells in rows:
        split = len(cells) - text_columns
        tds = [f"<td>{c}</td>" for c in cells[:split]]
        tds += [f'<td class="text">{c}</td>' for c in cells[split:]]
        body.append(f"<tr>{''.join(tds)}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def chart(title: str, svg: bytes) -> str:
    """An SVG as a ``data:`` image: shown, never executed, never fetching anything."""
    encoded = base64.b64encode(svg).decode("ascii")
    return f'<img class="chart" alt="{esc(title)}" src="data:image/svg+xml;base64,{encoded}">'


def levels_of(metrics: Mapping[str, Any]) -> list[float]:
    levels = metrics.get("interval_levels")
    return [v for v in levels if isinstance(v, float)] if isinstance(levels, list) else []


def interval_text(row: Mapping[str, Any], level: float) -> str:
    lower, upper = row.get(interval_column(LOWER, level)), row.get(interval_column(UPPER, level))
    return f"{number(lower)} – {number(upper)}" if lower is not None else "-"


def forecast_section(data: PageData) -> str:
    levels = levels_of(data.metrics)
    path = [row for row in data.rows if row.get(KIND) == FORECAST]
    if not path:
        return "<section><h2>Forecast</h2><p>This run has no forecast row.</p></section>"
    first = path[0]
    intervals = "; ".join(
        f"{esc(level_label(level))}% interval {esc(interval_text(first, level))}"
        for level in levels
    )
    lines = [
        [esc(r.get(MONTH)), esc(r.get(HORIZON)), number(r.get(PREDICTED))]
        + [esc(interval_text(r, level)) for level in levels]
        + [esc(r.get(MODEL))]
        for r in path
    ]
    headers = ["month", "horizon", f"forecast ({UNIT})"]
    headers += [f"{level_label(level)}% interval" for level in levels] + ["model"]
    return (
        "<section><h2>Forecast</h2>"
        f'<div class="muted">price paid to producers, {esc(first.get(MONTH))} (next month)</div>'
        f'<div class="figure" id="forecast-value">{number(first.get(PREDICTED))} {UNIT}</div>'
        f"<div>{intervals}</div>"
        f'<p class="muted">{esc(first.get(REASON) or "")}</p>'
        f"{table(headers, lines, text_columns=1)}</section>"
    )


def drift_banner(metrics: Mapping[str, Any]) -> str:
    drift = metrics.get("drift")
    if not isinstance(drift, Mapping):
        return ""
    status = drift.get("status")
    reasons = [esc(r) for r in drift.get("reasons") or [] if isinstance(r, str)]
    if status == "warning":
        text = "Drift warning: " + "; ".join(reasons)
        return f'<div class="banner warn" id="drift">{text}</div>'
    if status == "ok":
        return '<div class="banner ok" id="drift">No drift: recent published forecasts are as good as the backtest promised.</div>'
    return f'<div class="banner" id="drift">Drift check: {esc(status)} ({esc(drift.get("rule"))})</div>'


def metrics_section(metrics: Mapping[str, Any]) -> str:
    evaluations = metrics.get("evaluations")
    if not isinstance(evaluations, Mapping):
        return ""
    models: list[str] = []
    for horizon in PAGE_HORIZONS:
        block = evaluations.get(walk_forward_key(horizon))
        if isinstance(block, Mapping) and isinstance(block.get("models"), Mapping):
            models += [m for m in block["models"] if m not in models]
    rows = []
    for model in models:
        cells = [esc(model)]
        for horizon in PAGE_HORIZONS:
            block = evaluations.get(walk_forward_key(horizon)) or {}
            scores = (block.get("models") or {}).get(model) if isinstance(block, Mapping) else None
            cells.append(number(scores.get(RMSE)) if isinstance(scores, Mapping) else "-")
        rows.append(cells)
    headers = ["model"] + [f"RMSE h={h}" for h in PAGE_HORIZONS]
    return (
        "<section><h2>How the model did in backtests (walk-forward, CLP/L)</h2>"
        f"{table(headers, rows)}</section>"
    )


def track_record_section(data: PageData) -> str:
    record = data.metrics.get("track_record")
    parts = [
        "<section><h2>Track record of the published forecasts</h2>",
        drift_banner(data.metrics),
    ]
    if "Track record" in data.charts:
        parts.append(chart("Track record", data.charts["Track record"]))
    by_horizon = record.get("horizons") if isinstance(record, Mapping) else None
    if isinstance(by_horizon, Mapping) and by_horizon:
        levels = levels_of(data.metrics)
        rows = []
        for horizon, summary in by_horizon.items():
            if not isinstance(summary, Mapping):
                continue
            inside = summary.get("inside") if isinstance(summary.get("inside"), Mapping) else {}
            rows.append(
                [
                    esc(horizon),
                    esc(summary.get("count")),
                    number(summary.get(RMSE)),
                    number(summary.get(MAE)),
                ]
                + [number(inside.get(level_label(level)), 2) for level in levels]
            )
        headers = ["horizon", "forecasts", "RMSE", "MAE"]
        headers += [f"inside {level_label(level)}%" for level in levels]
        parts.append(table(headers, rows))
    else:
        parts.append("<p>No published forecast has met its actual price yet.</p>")
    parts.append("</section>")
    return "".join(parts)


def history_section(data: PageData) -> str:
    rows = [
        [
            esc(line.run_id) + (" (served)" if line.served else ""),
            esc(line.status),
            esc(line.finished_at or "-"),
            esc(line.data_source),
            number(line.rmse),
            f'<a href="{esc(line.report_url)}">report</a>' if line.report_url else "-",
        ]
        for line in data.history
    ]
    published = [
        [esc(p.get("run_id")), esc(p.get("published_at")), esc(p.get("by"))]
        for p in list(data.publications)[-10:][::-1]
    ]
    parts = [
        "<section><h2>Runs</h2>",
        table(["run", "status", "finished", "data", "RMSE", "report"], rows),
    ]
    if published:
        parts += [
            "<h2>Publications (newest first)</h2>",
            table(["run", "published at", "by"], published),
        ]
    parts.append("</section>")
    return "".join(parts)


def render_page(data: PageData) -> bytes:
    """The whole page as UTF-8 bytes."""
    synthetic = ""
    if data.data_source == SYNTHETIC_SOURCE:
        synthetic = '<div class="banner bad">Served from the SYNTHETIC SAMPLE: these prices are made up.</div>'
    charts = "".join(
        f"<section><h2>{esc(title)}</h2>{chart(title, svg)}</section>"
        for title, svg in data.charts.items()
        if title != "Track record"
    )
    body = (
        f"<header><h1>{esc(data.service)}: milk producer price forecast</h1>"
        f'<div class="muted">run {esc(data.run_id)}, finished {esc(data.finished_at or "-")}, '
        f'{esc(data.data_source)} data · <a href="/api/forecast">JSON</a> · '
        '<a href="/openapi.json">API</a> · <a href="/metrics">metrics</a></div></header>'
        f"{synthetic}{forecast_section(data)}{charts}{metrics_section(data.metrics)}"
        f"{track_record_section(data)}{history_section(data)}"
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(data.service)}: forecast</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return page.encode("utf-8")
