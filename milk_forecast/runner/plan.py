"""What a run will do, decided before anything is written (so a run folder is only made for
a run that can start): stages, parameters, inputs, fingerprint; and the served run, which a
run made from the same fingerprint would repeat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milk_forecast.data import raw
from milk_forecast.data.cleaning import parse_price_table
from milk_forecast.data.columns import PRICE_FILE, RAW_FILES
from milk_forecast.model.params import TrainParams
from milk_forecast.model.windows import WindowError, resolve
from milk_forecast.run_folder.layout import MONTH, RunFolderError, run_dir_for
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

TRAIN_STAGE = "04_train"  # whose windows must fit the data


@dataclass(frozen=True)
class RunPlan:
    data_dir: Path
    runs_dir: Path
    stages: list[Stage]
    parameters: dict[str, dict[str, Any]]
    inputs: dict[str, dict[str, Any]]
    fingerprint: str


def plan_run(
    data_dir: Path, runs_dir: Path, overrides: Mapping[str, str], notebooks_dir: Path
) -> RunPlan:
    data_dir, runs_dir = data_dir.resolve(), runs_dir.resolve()
    stages, parameters = check_request(data_dir, overrides, notebooks_dir)
    inputs = describe_inputs(data_dir)
    code = code_digest(stage.notebook for stage in stages)
    return RunPlan(
        data_dir, runs_dir, stages, parameters, inputs, fingerprint(inputs, code, parameters)
    )


def check_request(
    data_dir: Path, overrides: Mapping[str, str], notebooks_dir: Path = NOTEBOOKS_DIR
) -> tuple[list[Stage], dict[str, dict[str, Any]]]:
    """The stages and their resolved parameters, or a ``PipelineError`` (exit code 2) for
    what no kernel needs to find: a data folder without the three raw files, a ``-p`` value
    breaking its rule, 04_train's windows outside the priced months (resolved as it does)."""
    missing = [name for name in RAW_FILES if not (data_dir / name).is_file()]
    if missing:
        raise PipelineError(
            f"data folder {data_dir} lacks {', '.join(missing)} "
            f"(it must hold {', '.join(RAW_FILES)})"
        )
    stages = load_stages(notebooks_dir)
    parameters = resolve_parameters(stages, overrides)
    try:
        prices, _ = parse_price_table(raw.read_raw_csv(data_dir / PRICE_FILE))
        resolve(TrainParams.from_values(parameters[TRAIN_STAGE]), prices)
    except WindowError as exc:
        span = f"{prices[MONTH].min():%Y-%m}..{prices[MONTH].max():%Y-%m}"
        path = data_dir / PRICE_FILE
        raise PipelineError(
            f"the parameters do not fit the prices of {path} ({span}): {exc}"
        ) from None
    except (OSError, ValueError):  # a price file that cannot be read: 01_extract says why
        pass
    return stages, parameters


def describe_inputs(data_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of each raw input; one that cannot be read is a ``PipelineError``."""
    try:
        return {name: raw.file_digest(data_dir / name) for name in RAW_FILES}
    except OSError as exc:
        raise PipelineError(
            f"input {exc.filename} cannot be read ({describe_os_error(exc)})"
        ) from None


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
