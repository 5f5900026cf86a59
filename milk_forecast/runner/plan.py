"""What a run will do, decided before anything is written: stages, parameters, inputs,
fingerprint; and the served run, which a run made from the same fingerprint would repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milk_forecast.data import raw
from milk_forecast.data.columns import RAW_FILES
from milk_forecast.run_folder.layout import RunFolderError, run_dir_for
from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.record import SUCCEEDED, read_run_record
from milk_forecast.run_folder.write import describe_os_error
from milk_forecast.runner.fingerprint import code_digest, fingerprint
from milk_forecast.runner.stages import (
    NOTEBOOKS_DIR,
    PipelineError,
    Stage,
    load_stages,
    resolve_parameters,
)


@dataclass(frozen=True)
class RunPlan:
    """What a run will do: its folders, stages, resolved parameters, inputs, fingerprint."""

    data_dir: Path
    runs_dir: Path
    stages: list[Stage]
    parameters: dict[str, dict[str, Any]]
    inputs: dict[str, dict[str, Any]]
    fingerprint: str


def plan_run(
    data_dir: Path,
    runs_dir: Path,
    overrides: Mapping[str, str],
    notebooks_dir: Path = NOTEBOOKS_DIR,
) -> RunPlan:
    """The ``-p`` overrides checked (before any kernel starts), the inputs described."""
    data_dir, runs_dir = data_dir.resolve(), runs_dir.resolve()
    if not data_dir.is_dir():
        raise PipelineError(f"data directory {data_dir} does not exist")
    stages = load_stages(notebooks_dir)
    parameters = resolve_parameters(stages, overrides)
    inputs = describe_inputs(data_dir)
    code = code_digest(stage.notebook for stage in stages)
    return RunPlan(
        data_dir, runs_dir, stages, parameters, inputs, fingerprint(inputs, code, parameters)
    )


def describe_inputs(data_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of each raw input present (01_extract reports what is missing or
    bad); an input that cannot be read is a ``PipelineError`` naming it."""
    described = {}
    for name in RAW_FILES:
        path = data_dir / name
        if not path.is_file():
            continue
        try:
            described[name] = raw.file_digest(path)
        except OSError as exc:
            raise PipelineError(f"input {path} cannot be read ({describe_os_error(exc)})") from None
    return described


def served_run(runs_dir: Path) -> tuple[str | None, dict[str, Any]]:
    """The served run's id (``LATEST``) and record; ``(None, {})`` when none is readable."""
    try:
        run_id = read_latest(runs_dir)
        if run_id is not None:
            return run_id, read_run_record(run_dir_for(runs_dir, run_id))
    except RunFolderError:
        pass
    return None, {}


def served_run_with(runs_dir: Path, run_fingerprint: str) -> str | None:
    """The id of the served run when it was made from exactly this fingerprint."""
    run_id, record = served_run(runs_dir)
    if record.get("status") == SUCCEEDED and record.get("fingerprint") == run_fingerprint:
        return run_id
    return None
