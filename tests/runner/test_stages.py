from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from milk_forecast.runner import stages


def stage(name: str, **defaults: tuple[str, str]) -> stages.Stage:
    parameters = {"run_dir": {"default": '"../runs/manual"', "inferred_type_name": "str"}}
    for key, (default, type_name) in defaults.items():
        parameters[key] = {"default": default, "inferred_type_name": type_name}
    return stages.Stage(name, Path(f"{name}.ipynb"), parameters)


STAGES = [
    stage("01_extract", data_dir=('"../data/sample"', "str")),
    stage(
        "04_train",
        alpha=("1.0", "None"),  # papermill infers types only from annotations
        folds=("3", "None"),
        fit_prototype=("True", "None"),
        half_lives=("[2.0, None]", "None"),
        start=('"2018-05"', "None"),
    ),
]


def test_defaults_are_resolved_per_stage_without_runner_parameters() -> None:
    resolved = stages.resolve_parameters(STAGES, {})
    assert resolved == {
        "01_extract": {},
        "04_train": {
            "alpha": 1.0,
            "folds": 3,
            "fit_prototype": True,
            "half_lives": [2.0, None],
            "start": "2018-05",
        },
    }


def test_overrides_take_the_type_of_the_default() -> None:
    overrides = {
        "alpha": "2",
        "folds": "5",
        "fit_prototype": "false",
        "half_lives": "[3.0]",
        "start": "2019-01",
    }
    resolved = stages.resolve_parameters(STAGES, overrides)
    assert resolved["04_train"] == {
        "alpha": 2.0,
        "folds": 5,
        "fit_prototype": False,
        "half_lives": [3.0],
        "start": "2019-01",
    }
    assert isinstance(resolved["04_train"]["alpha"], float)


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(
        stages.PipelineError, match=r"'alhpa'.*valid names: alpha, fit_prototype, folds"
    ):
        stages.resolve_parameters(STAGES, {"alhpa": "1"})


def test_runner_parameters_cannot_be_overridden() -> None:
    with pytest.raises(stages.PipelineError, match="'run_dir' is set by the runner"):
        stages.resolve_parameters(STAGES, {"run_dir": "/tmp/x"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("folds", "three"),
        ("folds", "2.5"),
        ("alpha", "x"),
        ("fit_prototype", "maybe"),
        ("half_lives", "3"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_parameter(name: str, value: str) -> None:
    with pytest.raises(
        stages.PipelineError,
        match=f"parameter '{name}': '{value}' is (not a valid|of type|not true or false)",
    ):
        stages.resolve_parameters(STAGES, {name: value})


def test_a_value_breaking_its_rule_is_refused_before_any_kernel_starts() -> None:
    train = stage("04_train", ridge_alpha=("1.0", "None"))
    with pytest.raises(stages.PipelineError, match=r"'ridge_alpha': -1.0 is not a finite number"):
        stages.resolve_parameters([train], {"ridge_alpha": "-1"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("half_lives", "-" * 100_000 + "1"), ("half_lives", "[" * 100_000), ("folds", "1" * 100_000)],
)
def test_a_monstrous_value_is_refused_in_one_short_line(name: str, value: str) -> None:
    with pytest.raises(stages.PipelineError) as refused:
        stages.resolve_parameters(STAGES, {name: value})
    message = str(refused.value)
    assert f"parameter '{name}'" in message and "\n" not in message and len(message) < 300


def test_a_value_breaking_its_rule_is_quoted_short() -> None:
    train = stage("04_train", interval_levels=("[0.8]", "None"))
    with pytest.raises(stages.PipelineError) as refused:
        stages.resolve_parameters([train], {"interval_levels": str([0.5] * 50_000)})
    assert "'interval_levels'" in str(refused.value) and len(str(refused.value)) < 300


@pytest.mark.parametrize(("text", "value"), [("true", True), ("No", False), ("1", True)])
def test_a_boolean_is_one_of_the_usual_words(text: str, value: bool) -> None:
    resolved = stages.resolve_parameters(STAGES, {"fit_prototype": text})
    assert resolved["04_train"]["fit_prototype"] is value


def test_an_unreadable_notebook_is_named(tmp_path: Path) -> None:
    for name in stages.STAGE_NAMES:
        shutil.copy(stages.NOTEBOOKS_DIR / f"{name}.ipynb", tmp_path)
    (tmp_path / "02_clean.ipynb").write_text("garbage")
    with pytest.raises(stages.PipelineError, match=r"02_clean\.ipynb is unreadable"):
        stages.load_stages(tmp_path)
