"""What a flow run shows in Prefect's UI: links to the run's files, its figures as markdown.

The links are ``file://`` URIs of the shared runs folder (see the README, "The shared
runs store"): open them on a machine that mounts it. Creating an artifact never fails
a run whose products are written: a failure to create one is logged as a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.logging import get_run_logger

from milk_forecast.data.raw import data_label
from milk_forecast.run_folder.layout import REPORT_FILE

# The run summary's key: the Artifacts page keeps one entry with a version per flow run.
SUMMARY_KEY = "milk-forecast-run"


def link_file(path: Path, text: str, description: str) -> None:
    """A link artifact to ``path`` on the current flow or task run."""
    _create(
        create_link_artifact, link=path.resolve().as_uri(), link_text=text, description=description
    )


def link_notebook(run_dir: Path, notebook: str, status: str) -> None:
    """The executed notebook of a stage (``notebook`` relative to the run folder)."""
    path = run_dir / notebook
    if path.is_file():
        link_file(path, f"{run_dir.name}/{notebook}", f"executed notebook ({status})")


def publish_summary(run_dir: Path, record: Mapping[str, Any]) -> None:
    """The run's headline metrics and forecast as a markdown artifact, and its report's link."""
    _create(
        create_markdown_artifact,
        markdown=summary_markdown(run_dir, record),
        key=SUMMARY_KEY,
        description=f"run {record.get('run_id')}: headline metrics and forecast",
    )
    if (run_dir / REPORT_FILE).is_file():
        link_file(run_dir / REPORT_FILE, f"{run_dir.name}/{REPORT_FILE}", "the run's report")


def summary_markdown(run_dir: Path, record: Mapping[str, Any]) -> str:
    """A heading naming the run and its data, then the headline and the forecast as tables."""
    lines = [
        f"### Run `{record.get('run_id')}`: {record.get('status')} "
        f"on {data_label(record.get('synthetic_sample'))}",
        "",
        f"Folder: `{run_dir}`",
    ]
    for title in ("headline", "forecast"):
        if record.get(title):
            lines += ["", *key_value_table(title, record[title])]
    return "\n".join(lines) + "\n"


def key_value_table(title: str, values: Mapping[str, Any]) -> list[str]:
    """A two-column markdown table; numbers with two decimals."""
    rows = [f"| {title} | value |", "| --- | --- |"]
    for key, value in values.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        rows.append(f"| {key} | {shown.replace('|', '/')} |")
    return rows


def _create(create: Any, **arguments: Any) -> None:
    try:
        create(**arguments)
    except Exception as exc:  # the API is unreachable: the run's files are what count
        get_run_logger().warning(f"artifact not created: {type(exc).__name__}: {exc}")
