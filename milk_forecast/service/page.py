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

from milk_forecast.run_folder.layout import FAN_CHART_FILE, MONTH, TRACK_RECORD_CHART_FILE, UNIT
from milk_forecast.run_folder.metrics import MAE, RMSE, walk_forward_key
from milk_forecast.run_folder.predictions import (
    FORECAST,
    HORIZON,
    KIND,
    LOWER,
    MODEL,
    PREDICTED,
    REASON,
    UPPER,
    interval_column,
    level_label,
)
from milk_forecast.run_folder.record import SYNTHETIC_SOURCE

PAGE_HORIZONS = (1, 3, 6, 12)
CHART_TITLES = {
    FAN_CHART_FILE: "Prices, backtest and forecast fan",
    TRACK_RECORD_CHART_FILE: "Published forecasts against what happened",
}
MAX_PUBLICATIONS_SHOWN = 10
STYLE = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6472; --line: #d8dde5;
        --accent: #1f5fa8; --warn-bg: #fff4d6; --warn: #7a5200; --bad-bg: #fde2e1; --bad: #8a1c17; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--ink); background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
header h1 { font-size: 1.4rem; margin: 0 0 4px; }
header nav a { margin-right: 0.8em; }
.muted { color: var(--muted); font-size: 0.9rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px;
          margin: 16px 0; }
h2 { font-size: 1.1rem; margin: 0 0 12px; }
h3 { font-size: 1rem; margin: 16px 0 8px; }
section h2:not(:first-child) { margin-top: 20px; }
.intervals { margin: 4px 0; padding-left: 1.2em; }
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
.chart-box { overflow-x: auto; margin: 12px 0; }
img.chart { width: 100%; height: auto; display: block; }
.phone-only { display: none; }
a { color: var(--accent); }
@media (max-width: 600px) { main { padding: 8px; } section { padding: 10px; }
  header h1 { font-size: 1.2rem; }
  .figure { font-size: 1.9rem; } th, td { padding: 3px 5px; }
  img.chart:not(.fits) { width: 760px; max-width: none; }
  .phone-only { display: block; }
  table.path td.text, table.path th:last-child { display: none; }
  table.names td:first-child { white-space: normal; overflow-wrap: anywhere; min-width: 8rem; } }
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
    charts: Mapping[str, bytes] = field(default_factory=dict)  # file name -> SVG bytes
    chart_notes: Mapping[str, str] = field(default_factory=dict)  # file name -> why it is absent
    history: Sequence[RunLine] = ()
    publications: Sequence[Mapping[str, Any]] = ()


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def share(value: Any) -> str:
    """A share in [0, 1] as a whole percentage, "-" for anything else."""
    return f"{value:.0%}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def number(value: Any, digits: int = 2) -> str:
    return (
        f"{value:,.{digits}f}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else "-"
    )


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    text_columns: int = 0,
    css_class: str = "",
) -> str:
    """An HTML table of already escaped cells; the last ``text_columns`` cells wrap."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for cells in rows:
        split = len(cells) - text_columns
        tds = [f"<td>{c}</td>" for c in cells[:split]]
        tds += [f'<td class="text">{c}</td>' for c in cells[split:]]
        body.append(f"<tr>{''.join(tds)}</tr>")
    attribute = f' class="{css_class}"' if css_class else ""
    return f'<div class="scroll"><table{attribute}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def chart(title: str, svg: bytes, fits: bool = False) -> str:
    """An SVG as a ``data:`` image: shown, never executed, never fetching anything.

    A chart is drawn 760 px wide on a phone (scrolled sideways) so that its detail stays
    legible; one that ``fits`` (a one-line placeholder) is scaled to the screen instead.
    """
    encoded = base64.b64encode(svg).decode("ascii")
    image = (
        f'<div class="chart-box"><img class="chart{" fits" if fits else ""}" '
        f'alt="{esc(title)}" src="data:image/svg+xml;base64,{encoded}"></div>'
    )
    if fits:
        return image
    return image + '<p class="muted phone-only">Scroll the chart sideways to see all of it.</p>'


def chart_block(data: PageData, name: str, fits: bool = False) -> str:
    """The chart ``name`` of the run, or a note saying why it is not shown."""
    title = CHART_TITLES.get(name, name)
    if name in data.charts:
        return chart(title, data.charts[name], fits)
    note = data.chart_notes.get(name, "this run drew no such chart")
    return f'<p class="muted note">{esc(title)}: not shown ({esc(note)}).</p>'


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
    intervals = "".join(
        f"<li>{esc(level_label(level))}% interval: {esc(interval_text(first, level))}</li>"
        for level in levels
    )
    lines = [
        [esc(r.get(MONTH)), esc(r.get(HORIZON)), number(r.get(PREDICTED))]
        + [esc(interval_text(r, level)) for level in levels]
        + [esc(r.get(MODEL))]
        for r in path
    ]
    headers = ["month", "h", f"forecast ({UNIT})"]
    headers += [f"{level_label(level)}% interval" for level in levels] + ["model"]
    return (
        '<section id="forecast"><h2>Forecast</h2>'
        f'<div class="muted">price paid to producers for <strong id="forecast-month">'
        f"{esc(first.get(MONTH))}</strong> (next month)</div>"
        f'<div class="figure" id="forecast-value">{number(first.get(PREDICTED))} {UNIT}</div>'
        f'<ul class="intervals">{intervals}</ul>'
        f'<p class="muted">{esc(first.get(REASON) or "")}</p>'
        f"{chart_block(data, FAN_CHART_FILE)}"
        f"<h3>The whole path</h3>{table(headers, lines, text_columns=1, css_class='path')}"
        '<p class="muted phone-only">The model of each month: on a wider screen, or in '
        '<a href="/api/forecast">/api/forecast</a>.</p></section>'
    )


def drift_banner(metrics: Mapping[str, Any]) -> str:
    drift = metrics.get("drift")
    if not isinstance(drift, Mapping):
        return '<div class="banner" id="drift">Drift check: not computed by this run.</div>'
    status = drift.get("status")
    reasons = [esc(r) for r in drift.get("reasons") or [] if isinstance(r, str)]
    if status == "warning":
        text = "Drift warning: " + "; ".join(reasons)
        return f'<div class="banner warn" id="drift">{text}</div>'
    if status == "ok":
        return (
            '<div class="banner ok" id="drift">No drift: recent published forecasts are as '
            "good as the backtest promised.</div>"
        )
    if status == "not_enough_history":
        return (
            '<div class="banner" id="drift">Drift check: not enough published forecasts '
            f"have met their actual price yet.<br><small>{esc(drift.get('rule'))}</small></div>"
        )
    return f'<div class="banner" id="drift">Drift check: {esc(status)} ({esc(drift.get("rule"))})</div>'


def metrics_section(metrics: Mapping[str, Any]) -> str:
    """Walk-forward RMSE of every model at each horizon, the served (headline) model first."""
    evaluations = metrics.get("evaluations")
    if not isinstance(evaluations, Mapping):
        return ""
    headline = metrics.get("headline")
    served = headline.get(MODEL) if isinstance(headline, Mapping) else None
    models: list[str] = [served] if isinstance(served, str) else []
    for horizon in PAGE_HORIZONS:
        block = evaluations.get(walk_forward_key(horizon))
        if isinstance(block, Mapping) and isinstance(block.get("models"), Mapping):
            models += [m for m in block["models"] if m not in models]
    rows = []
    for model in models:
        label = f"<strong>{esc(model)}</strong> (served)" if model == served else esc(model)
        cells = [label]
        for horizon in PAGE_HORIZONS:
            block = evaluations.get(walk_forward_key(horizon))
            found = block.get("models") if isinstance(block, Mapping) else None
            scores = found.get(model) if isinstance(found, Mapping) else None
            cells.append(number(scores.get(RMSE)) if isinstance(scores, Mapping) else "-")
        rows.append(cells)
    headers = ["model"] + [f"h={h}" for h in PAGE_HORIZONS]
    return (
        '<section id="backtest"><h2>Backtest: walk-forward RMSE by horizon (CLP/L)</h2>'
        '<p class="muted">Each month of the test period forecast from the data before it '
        "only, h months ahead; lower is better.</p>"
        f"{table(headers, rows, css_class='names')}</section>"
    )


def drift_notice(metrics: Mapping[str, Any]) -> str:
    """A line at the top of the page when the served run's drift check warns."""
    drift = metrics.get("drift")
    if not isinstance(drift, Mapping) or drift.get("status") != "warning":
        return ""
    return (
        '<div class="banner warn">Drift warning: recent published forecasts are worse '
        'than the backtest promised (<a href="#track-record">track record</a>).</div>'
    )


def track_record_section(data: PageData) -> str:
    record = data.metrics.get("track_record")
    by_horizon = record.get("horizons") if isinstance(record, Mapping) else None
    scored = isinstance(by_horizon, Mapping) and bool(by_horizon)
    parts = [
        '<section id="track-record"><h2>Track record of the published forecasts</h2>',
        drift_banner(data.metrics),
        # Nothing scored yet: 04_train drew a one-line placeholder, shown at screen width.
        chart_block(data, TRACK_RECORD_CHART_FILE, fits=not scored),
    ]
    if scored:
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
                + [share(inside.get(level_label(level))) for level in levels]
            )
        headers = ["h", "forecasts", "RMSE", "MAE"]
        headers += [f"in {level_label(level)}%" for level in levels]
        parts.append(table(headers, rows))
        parts.append(
            '<p class="muted">h: months ahead. RMSE and MAE in CLP/L of the forecasts '
            "earlier runs published, against the prices that came; in L%: the share of "
            "them their L% interval held (about L% when the intervals are honest).</p>"
        )
    elif TRACK_RECORD_CHART_FILE not in data.charts:  # the chart says it too
        parts.append("<p>No published forecast has met its actual price yet.</p>")
    parts.append("</section>")
    return "".join(parts)


def history_section(history: Sequence[RunLine], publications: Sequence[Mapping[str, Any]]) -> str:
    """The runs (newest first, links to their reports) and the last publications."""
    rows = [
        [
            esc(line.run_id) + (" <strong>(served)</strong>" if line.served else ""),
            f'<a href="{esc(line.report_url)}">report</a>' if line.report_url else "-",
            esc(line.status),
            number(line.rmse),
            esc(line.finished_at or "-"),
            esc(line.data_source),
        ]
        for line in history
    ]
    published = [
        [esc(p.get("run_id")), esc(p.get("published_at")), esc(p.get("by"))]
        for p in list(publications)[:MAX_PUBLICATIONS_SHOWN]
    ]
    parts = [
        '<section id="runs"><h2>Runs (newest first)</h2>',
        table(["run", "report", "status", "RMSE h=1", "finished", "data"], rows)
        if rows
        else "<p>No run yet.</p>",
        '<h2 id="publications">Publications (newest first)</h2>',
        table(["run", "published at", "by"], published)
        if published
        else "<p>No publication recorded.</p>",
        "</section>",
    ]
    return "".join(parts)


def header(service: str, subtitle: str) -> str:
    return (
        "<header><h1>Milk producer price forecast, Chile</h1>"
        f'<div class="muted">{esc(service)}: {subtitle}</div>'
        '<nav class="muted"><a href="/api/forecast">forecast JSON</a>'
        '<a href="/api/runs">runs JSON</a><a href="/openapi.json">API</a>'
        '<a href="/metrics">metrics</a></nav></header>'
    )


def document(service: str, body: str) -> bytes:
    """A whole page around ``body``: no script, no request to anything but data: images."""
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(service)}: forecast</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    return page.encode("utf-8")


def render_page(data: PageData) -> bytes:
    """The whole page of a served run as UTF-8 bytes."""
    synthetic = ""
    if data.data_source == SYNTHETIC_SOURCE:
        synthetic = '<div class="banner bad">Served from the SYNTHETIC SAMPLE: these prices are made up.</div>'
    subtitle = (
        f"run {esc(data.run_id)}, finished {esc(data.finished_at or '-')}, "
        f"{esc(data.data_source)} data"
    )
    body = (
        f"{header(data.service, subtitle)}{synthetic}{drift_notice(data.metrics)}"
        f"{forecast_section(data)}"
        f"{track_record_section(data)}{metrics_section(data.metrics)}"
        f"{history_section(data.history, data.publications)}"
    )
    return document(data.service, body)


def render_no_run(
    service: str,
    message: str,
    history: Sequence[RunLine] = (),
    publications: Sequence[Mapping[str, Any]] = (),
) -> bytes:
    """The page while no run is served: why, and the runs there are."""
    body = (
        f"{header(service, 'no run served')}"
        f'<div class="banner bad" id="no-run">{esc(message)}</div>'
        f"{history_section(history, publications)}"
    )
    return document(service, body)
