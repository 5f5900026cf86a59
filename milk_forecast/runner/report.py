"""``report.html``: a run on one page, rendered by nbconvert. At the top a link back to the
page, a contents list and the forecast summary (the path table and the fan chart); then the
executed notebooks, outputs only, in name order, so a failed run shows the stages that ran.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

from milk_forecast.data.raw import data_label
from milk_forecast.run_folder.layout import (
    FAN_CHART_FILE,
    FIGURES_DIR,
    NOTEBOOKS_DIR,
    REPORT_FILE,
    UNIT,
)
from milk_forecast.run_folder.metrics import FORECAST_PATH, MAE, MAPE, RMSE
from milk_forecast.run_folder.predictions import PREDICTED
from milk_forecast.run_folder.record import NOT_PUBLISHED_REASON, PUBLISHED, effective_status
from milk_forecast.run_folder.write import write_text_atomic

PAGE_LINK = "/dashboard"  # the service's page, where the report is linked from
SUMMARY_ID = "forecast-summary"
# A wide table or chart scrolls in its own box; a chart starts at its right end (the forecast).
SCROLL = 'style="overflow-x:auto"'
STYLE = "<style>table.path td, table.path th { white-space: nowrap; }</style>"
CHART = '<div style="overflow-x:auto;direction:rtl"><img style="width:100%;min-width:640px" alt="{}" src="data:image/svg+xml;base64,{}"></div>'  # fmt: skip


def build_report(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``<run_dir>/report.html`` from the executed notebooks present and the run's
    record (as it is about to be saved); return its path."""
    paths = sorted((run_dir / NOTEBOOKS_DIR).glob("*.ipynb"))
    notebooks, names = (
        [nbformat.read(path, as_version=4) for path in paths],
        [p.stem for p in paths],
    )
    stages = {stage.get("name"): stage for stage in record.get("stages", [])}
    merged = nbformat.v4.new_notebook()
    top = [header_markdown(run_dir.name, record), contents(names, notebooks, stages)]
    merged.cells.append(nbformat.v4.new_markdown_cell("\n\n".join(top)))
    merged.cells.append(nbformat.v4.new_markdown_cell(forecast_summary(run_dir, record)))
    for name, notebook in zip(names, notebooks, strict=True):
        if not merged.metadata and notebook.metadata.get("language_info"):
            merged.metadata["language_info"] = notebook.metadata["language_info"]
        merged.cells.append(nbformat.v4.new_markdown_cell(stage_heading(name, stages)))
        # Markdown cells, and code cells with outputs (their inputs are hidden).
        shown = [c for c in notebook.cells if c.cell_type == "markdown" or c.get("outputs")]
        merged.cells.extend(shown)
    if not notebooks:
        merged.cells.append(nbformat.v4.new_markdown_cell("*No executed notebook in this run.*"))
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(
        merged, resources={"metadata": {"name": f"Run {run_dir.name}"}}
    )
    target = run_dir / REPORT_FILE
    write_text_atomic(target, body)
    return target


def header_markdown(run_id: str, record: dict[str, Any]) -> str:
    """The report's first lines: the way back to the page, status, data, times, error."""
    lines = [
        f"# Milk price forecast: run {run_id}",
        "",
        f"[← Back to the forecast page]({PAGE_LINK})",
        "",
        f"- **Status**: {effective_status(record)}",
        f"- **Data**: {data_label(record.get('synthetic_sample'))} from {record.get('data_dir', '?')}",
        f"- **Started**: {record.get('started_at') or '-'}; "
        f"**finished**: {record.get('finished_at') or '-'}",
    ]
    if record.get(PUBLISHED) is False and record.get(NOT_PUBLISHED_REASON):
        lines.append(f"- **Not published**: {record[NOT_PUBLISHED_REASON]}")
    error = record.get("error")
    if error:
        lines.append(
            f"- **Error** in {error.get('stage', '?')}, code cell {error.get('cell', '?')}: "
            f"`{error.get('exception', '?')}`: {error.get('message', '')}"
        )
    return "\n".join(lines)


def contents(names: list[str], notebooks: list[Any], stages: dict[str, Any]) -> str:
    """A list linking the forecast summary and each stage (its notebook's first title, its
    status and seconds)."""
    lines = ["**Contents**", "", f"1. [Forecast summary](#{SUMMARY_ID})"]
    for name, notebook in zip(names, notebooks, strict=True):
        markdown = (c.source for c in notebook.cells if c.cell_type == "markdown")
        titles = (
            line[2:] for text in markdown for line in text.splitlines() if line.startswith("# ")
        )
        title = escape(next(titles, name).strip())
        lines.append(f"1. [{title}](#stage-{name}) ({stage_details(stages.get(name))})")
    return "\n".join(lines)


def forecast_summary(run_dir: Path, record: dict[str, Any]) -> str:
    """Next month in words, the backtest's errors, the fan chart and the path table (HTML)."""
    parts = [f'{STYLE}<h2 id="{SUMMARY_ID}">Forecast summary</h2>']
    path = record.get(FORECAST_PATH) or []
    if not path:
        return parts[0] + "\n\n<p>This run made no forecast.</p>"
    first, backtest = path[0], backtest_words(record.get("headline") or {})
    parts.append(
        f"<p>Next month, {escape(str(first.get('month')))}: <b>{escape(forecast_words(first))}</b>."
        f"<br><b>Model:</b> {escape(str(first.get('model')))}. "
        f"<b>Why:</b> {escape(str(first.get('reason')))}</p>"
    )
    if backtest:
        parts.append(f"<p>{backtest[0].upper()}{backtest[1:]}.</p>")
    chart = run_dir / FIGURES_DIR / FAN_CHART_FILE
    if chart.is_file():
        encoded = base64.b64encode(chart.read_bytes()).decode("ascii")
        parts.append(CHART.format("The forecast fan chart", encoded))
    head = "".join(f"<th>{label}% range</th>" for label, _, _ in bounds(first))
    rows = "".join(
        f"<tr><td>{escape(str(row.get('month')))}</td><td>{row[PREDICTED]:.1f}</td>"
        + "".join(f"<td>{low:.1f} – {high:.1f}</td>" for _, low, high in bounds(row))
        + f"<td>{escape(str(row.get('model')))}</td></tr>"
        for row in path
    )
    parts.append(
        f'<div {SCROLL}><table class="path"><thead><tr><th>month</th><th>forecast ({UNIT})</th>'
        f"{head}<th>model</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    return "\n\n".join(parts)


def forecast_words(row: dict[str, Any]) -> str:
    """``330.2 CLP/L; 80% likely between 321.8 and 338.8``: a forecast row in words."""
    ranges = [f"{label}% likely between {low:.1f} and {high:.1f}" for label, low, high in bounds(row)]  # fmt: skip
    return "; ".join([f"{row[PREDICTED]:.1f} {UNIT}", *ranges])


def backtest_words(headline: dict[str, Any]) -> str | None:
    """How the served model did on past data one month ahead, in words; None without figures."""
    if not all(isinstance(headline.get(key), int | float) for key in (RMSE, MAE, MAPE)):
        return None
    return (
        f"on past data, one month ahead, it missed by {headline[RMSE]:.1f} {UNIT} typically "
        f"(root mean squared error), {headline[MAE]:.1f} {UNIT} on average, about "
        f"{headline[MAPE]:.0f}% of the price"
    )


def bounds(row: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``[("80", lower, upper), ...]`` of a forecast row (``lower_80_clp_per_l``, ...)."""
    return [
        (key.split("_")[1], lower, row.get(key.replace("lower_", "upper_"), float("nan")))
        for key, lower in row.items()
        if key.startswith("lower_")
    ]


def stage_heading(name: str, stages: dict[str, dict[str, Any]]) -> str:
    """``Stage 01_extract (succeeded, 1.5 s)``, the contents' target."""
    return f'<h2 id="stage-{name}">Stage {name} ({stage_details(stages.get(name))})</h2>'


def stage_details(stage: dict[str, Any] | None) -> str:
    """The stage's status and seconds from ``run.json``, when known."""
    stage = stage or {}
    details = [str(stage.get("status", "not recorded"))]
    if isinstance(stage.get("seconds"), int | float):
        details.append(f"{stage['seconds']:.1f} s")
    return ", ".join(details)
