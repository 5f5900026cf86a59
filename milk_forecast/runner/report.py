"""``report.html``: a run's executed notebooks as one page, outputs only, rendered by
nbconvert; in name order, so a failed run shows the stages that ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

from milk_forecast.data.raw import data_label
from milk_forecast.run_folder.layout import NOTEBOOKS_DIR, REPORT_FILE, UNIT
from milk_forecast.run_folder.metrics import MAE, MAPE, R2, RMSE
from milk_forecast.run_folder.predictions import PREDICTED
from milk_forecast.run_folder.record import NOT_PUBLISHED_REASON, PUBLISHED, effective_status
from milk_forecast.run_folder.write import write_text_atomic

_HEADLINE_KEYS = ((RMSE, f"RMSE ({UNIT})"), (MAE, f"MAE ({UNIT})"), (MAPE, "MAPE (%)"), (R2, "R²"))


def build_report(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``<run_dir>/report.html`` from the executed notebooks present and the run's
    record (as it is about to be saved); return its path."""
    merged = nbformat.v4.new_notebook()
    merged.cells.append(nbformat.v4.new_markdown_cell(header_markdown(run_dir.name, record)))
    notebooks = sorted((run_dir / NOTEBOOKS_DIR).glob("*.ipynb"))
    stages = {stage.get("name"): stage for stage in record.get("stages", [])}
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        if not merged.metadata and notebook.metadata.get("language_info"):
            merged.metadata["language_info"] = notebook.metadata["language_info"]
        merged.cells.append(nbformat.v4.new_markdown_cell(stage_heading(path, stages)))
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
    """The report's first cell: run id, status, data, times, headline, forecast, error."""
    lines = [
        f"# Milk price pipeline: run {run_id}",
        "",
        f"- **Status**: {effective_status(record)}",
        f"- **Data**: {data_label(record.get('synthetic_sample'))} from {record.get('data_dir', '?')}",
        f"- **Started**: {record.get('started_at') or '-'}; "
        f"**finished**: {record.get('finished_at') or '-'}",
    ]
    headline = record.get("headline") or {}
    if headline:
        metrics = ", ".join(
            f"{label} {_number(headline[key])}" for key, label in _HEADLINE_KEYS if key in headline
        )
        lines.append(
            f"- **Headline** ({headline.get('model', '?')}, "
            f"{headline.get('evaluation', '?')}): {metrics}"
        )
    forecast = record.get("forecast") or {}
    if PREDICTED in forecast:
        lines.append(
            f"- **Forecast** for {forecast.get('month', '?')}: "
            f"{_number(forecast[PREDICTED])} {UNIT} ({forecast.get('model', '?')})"
        )
    if record.get(PUBLISHED) is False and record.get(NOT_PUBLISHED_REASON):
        lines.append(f"- **Not published**: {record[NOT_PUBLISHED_REASON]}")
    error = record.get("error")
    if error:
        lines.append(
            f"- **Error** in {error.get('stage', '?')}, code cell {error.get('cell', '?')}: "
            f"`{error.get('exception', '?')}`: {error.get('message', '')}"
        )
    return "\n".join(lines)


def stage_heading(path: Path, stages: dict[str, dict[str, Any]]) -> str:
    """``## 01_extract`` plus the stage's status and seconds from ``run.json`` when known."""
    stage = stages.get(path.stem, {})
    details = [str(stage["status"])] if "status" in stage else []
    if isinstance(stage.get("seconds"), int | float):
        details.append(f"{stage['seconds']:.1f} s")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"## Stage {path.stem}{suffix}"


def _number(value: Any) -> str:
    return f"{value:,.3f}" if isinstance(value, int | float) else str(value)
