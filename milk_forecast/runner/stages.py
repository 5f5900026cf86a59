"""The four stages: their notebooks, the parameters those declare, and ``-p`` overrides.

A notebook's parameters are the literal assignments of its cell tagged ``parameters``
(papermill's inspection). An override takes the type of the notebook's default, then the
stage's parameter class checks every value against its rule, before any kernel starts.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import papermill

from milk_forecast.data.params import PreprocessParams
from milk_forecast.model.params import TrainParams
from milk_forecast.parameters import ParameterError, Parameters
from milk_forecast.run_folder.files import excerpt

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
RUNS_DIR = PROJECT_ROOT / "runs"  # the default runs folder
# Set by the runner for every run; a user cannot override them with -p.
RUNNER_PARAMETERS = ("run_dir", "data_dir")
STAGE_NAMES = ("01_extract", "02_clean", "03_preprocess", "04_train")
# The class that declares and checks a stage's knobs (stages without one have none).
PARAMETER_CLASSES: dict[str, type[Parameters]] = {
    "03_preprocess": PreprocessParams,
    "04_train": TrainParams,
}


class PipelineError(Exception):
    """Bad input to the runner itself: unknown parameter, bad value, missing notebook."""


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: Path
    parameters: Mapping[str, dict[str, Any]]  # papermill's inspection: name -> {default, ...}


def load_stages(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Stage]:
    stages = []
    for name in STAGE_NAMES:
        path = notebooks_dir / f"{name}.ipynb"
        if not path.is_file():
            raise PipelineError(f"notebook {path} is missing")
        try:
            parameters = papermill.inspect_notebook(path)
        except Exception as exc:  # not JSON, not a notebook, unreadable...
            message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise PipelineError(
                f"notebook {path} is unreadable: {type(exc).__name__}: {message}"
            ) from None
        stages.append(Stage(name, path, parameters))
    return stages


BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def coerce_value(name: str, text: str, default: Any) -> Any:
    """A ``-p NAME VALUE`` string as the type of the notebook's (literal) default.

    Numbers follow Python (``nan`` and ``inf`` are floats, which the rules then
    refuse); a boolean is one of ``BOOLEAN_WORDS``; lists and None are literals.
    """
    kind = type(default)
    if kind is bool:
        if text.strip().lower() not in BOOLEAN_WORDS:
            raise PipelineError(
                f"parameter {name!r}: {excerpt(text, 60)} is not true or false "
                f"(one of {', '.join(BOOLEAN_WORDS)})"
            )
        return BOOLEAN_WORDS[text.strip().lower()]
    try:
        if kind in (int, float, str):
            return kind(text)
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if default is None:  # no type to follow: the string as given
            return text
        raise PipelineError(
            f"parameter {name!r}: {excerpt(text, 60)} is not a valid {kind.__name__} "
            f"(the notebook's default is {default!r})"
        ) from None
    if default is not None and value is not None and not isinstance(value, kind):
        raise PipelineError(
            f"parameter {name!r}: {excerpt(text, 60)} is of type {type(value).__name__}, "
            f"but the notebook's default is a {kind.__name__} ({default!r})"
        )
    return value


def resolve_parameters(
    stages: list[Stage], overrides: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Per stage, every declared knob: the notebook's default unless ``-p`` overrides it."""
    valid = sorted({name for stage in stages for name in stage.parameters} - {*RUNNER_PARAMETERS})
    for name in overrides:
        if name in RUNNER_PARAMETERS:
            raise PipelineError(
                f"parameter {name!r} is set by the runner; use --runs-dir / --data-dir instead"
            )
        if name not in valid:
            raise PipelineError(
                f"no notebook declares a parameter {name!r}; valid names: {', '.join(valid)}"
            )
    resolved: dict[str, dict[str, Any]] = {}
    for stage in stages:
        values = {}
        for name, info in stage.parameters.items():
            if name in RUNNER_PARAMETERS:
                continue
            default = _literal_default(stage, name, info["default"])
            values[name] = (
                coerce_value(name, overrides[name], default) if name in overrides else default
            )
        try:
            if stage.name in PARAMETER_CLASSES:
                PARAMETER_CLASSES[stage.name].from_values(values)  # each value against its rule
        except ParameterError as exc:
            raise PipelineError(str(exc)) from None
        resolved[stage.name] = values
    return resolved


def _literal_default(stage: Stage, name: str, source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        raise PipelineError(
            f"notebook {stage.notebook}: the default of parameter {name!r} ({source}) "
            "is not a literal"
        ) from None
