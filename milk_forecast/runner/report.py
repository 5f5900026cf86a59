"""``report.html``: a run on one page, rendered by nbconvert: templates/report_top.html (link
back, contents, the forecast in words, fan chart and table), then the executed notebooks,
outputs only, in name order, so a failed run shows the stages that ran.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from nbconvert import HTMLExporter

from milk_forecast.data.raw import data_label
from milk_forecast.run_folder import layout
from milk_forecast.run_folder.metrics import FORECAST_PATH, MAE, MAPE, RMSE
from milk_forecast.run_folder.predictions import PREDICTED
from milk_forecast.run_folder.record import effective_status
from milk_forecast.run_folder.write import write_text_atomic

PAGE_LINK = "/dashboard"  # the service's page, where the report is linked from
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def build_report(run_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``<run_dir>/report.html`` from the executed notebooks present and the run's
    record (as it is about to be saved); return its path."""
    paths = sorted((run_dir / layout.NOTEBOOKS_DIR).glob("*.ipynb"))
    notebooks = {path.stem: nbformat.read(path, as_version=4) for path in paths}
    stages = {stage.get("name"): stage for stage in record.get("stages", [])}
    merged = nbformat.v4.new_notebook()
    merged.cells.append(nbformat.v4.new_markdown_cell(top(run_dir, record, notebooks, stages)))
    for name, notebook in notebooks.items():
        if not merged.metadata and notebook.metadata.get("language_info"):
            merged.metadata["language_info"] = notebook.metadata["language_info"]
        heading = f'<h2 id="stage-{name}">Stage {name} ({details(stages.get(name))})</h2>'
        merged.cells.append(nbformat.v4.new_markdown_cell(heading))
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
    target = run_dir / layout.REPORT_FILE
    write_text_atomic(target, body)
    return target


def top(
    run_dir: Path, record: dict[str, Any], notebooks: dict[str, Any], stages: dict[str, Any]
) -> str:
    """templates/report_top.html for this run, without blank lines (they would end the
    markdown cell's HTML block)."""
    chart = run_dir / layout.FIGURES_DIR / layout.FAN_CHART_FILE
    html = TEMPLATES.get_template("report_top.html").render(
        run_id=run_dir.name,
        record=record,
        status=effective_status(record),
        data=data_label(record.get("synthetic_sample")),
        page=PAGE_LINK,
        stages=[
            {"name": name, "title": title(notebook, name), "details": details(stages.get(name))}
            for name, notebook in notebooks.items()
        ],
        path=record.get(FORECAST_PATH) or [],
        backtest=backtest_words(record.get("headline") or {}),
        chart=base64.b64encode(chart.read_bytes()).decode() if chart.is_file() else None,
        unit=layout.UNIT,
        words=forecast_words,
        bounds=bounds,
    )
    return "\n".join(line for line in html.splitlines() if line.strip())


def title(notebook: Any, name: str) -> str:
    """A notebook's first ``# title``, else ``name``."""
    markdown = (c.source for c in notebook.cells if c.cell_type == "markdown")
    lines = (line for text in markdown for line in text.splitlines())
    return next((line[2:].strip() for line in lines if line.startswith("# ")), name)


def details(stage: dict[str, Any] | None) -> str:
    """``succeeded, 1.5 s``: a stage's status and seconds from ``run.json``, when known."""
    stage = stage or {}
    seconds = stage.get("seconds")
    status = str(stage.get("status", "not recorded"))
    return f"{status}, {seconds:.1f} s" if isinstance(seconds, int | float) else status


def forecast_words(row: dict[str, Any]) -> str:
    """``330.2 CLP/L; 80% likely between 321.8 and 338.8``: a forecast row in words."""
    ranges = [f"{level}% likely between {low:.1f} and {high:.1f}" for level, low, high in bounds(row)]  # fmt: skip
    return "; ".join([f"{row[PREDICTED]:.1f} {layout.UNIT}", *ranges])


def backtest_words(headline: dict[str, Any]) -> str | None:
    """How the served model did on past data one month ahead, in words; None without figures."""
    if not all(isinstance(headline.get(key), int | float) for key in (RMSE, MAE, MAPE)):
        return None
    return (
        f"on past data, one month ahead, it missed by {headline[RMSE]:.1f} {layout.UNIT} typically "
        f"(root mean squared error), {headline[MAE]:.1f} {layout.UNIT} on average, about "
        f"{headline[MAPE]:.0f}% of the price"
    )


def bounds(row: dict[str, Any]) -> list[tuple[str, float, float]]:
    """``[("80", lower, upper), ...]`` of a forecast row (``lower_80_clp_per_l``, ...)."""
    return [
        (key.split("_")[1], lower, row.get(key.replace("lower_", "upper_"), float("nan")))
        for key, lower in row.items()
        if key.startswith("lower_")
    ]
