"""What a flow run shows in Prefect's UI: links to the run's files (``file://`` URIs of the
shared runs folder), its figures as markdown. Failing to create one is only a warning.
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


def link_file(run_dir: Path, name: str, description: str) -> None:
    """A link artifact to the run's file ``name`` (if any) on the current flow or task run."""
    path = run_dir / name
    if path.is_file():
        link = path.resolve().as_uri()
        text = f"{run_dir.name}/{name}"
        _create(create_link_artifact, link=link, link_text=text, description=description)


def publish_summary(run_dir: Path, record: Mapping[str, Any]) -> None:
    """The run's headline metrics and forecast as a markdown artifact, and its report's link."""
    _create(
        create_markdown_artifact,
        markdown=summary_markdown(run_dir, record),
        key=SUMMARY_KEY,
        description=f"run {record.get('run_id')}: headline metrics and forecast",
    )
    link_file(run_dir, REPORT_FILE, "the run's report")


def summary_markdown(run_dir: Path, record: Mapping[str, Any]) -> str:
    """A heading naming the run and its data, then the headline and the forecast as
    two-column tables (numbers with two decimals)."""
    lines = [
        f"### Run `{record.get('run_id')}`: {record.get('status')} "
        f"on {data_label(record.get('synthetic_sample'))}",
        "",
        f"Folder: `{run_dir}`",
    ]
    for title in ("headline", "forecast"):
        if not record.get(title):
            continue
        lines += ["", f"| {title} | value |", "| --- | --- |"]
        for key, value in record[title].items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            lines.append(f"| {key} | {shown.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def _create(create: Any, **arguments: Any) -> None:
    try:
        create(**arguments)
    except Exception as exc:  # the API is unreachable: the run's files are what count
        get_run_logger().warning(f"artifact not created: {type(exc).__name__}: {exc}")
