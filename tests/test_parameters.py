"""Declared parameters: each value is checked against its rule, with a message naming both."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from milk_forecast.data.params import PreprocessParams
from milk_forecast.model.params import TrainParams
from milk_forecast.parameters import ParameterError, stage_run_dir
from milk_forecast.run_folder.layout import RUN_JSON
from milk_forecast.run_folder.record import MAX_PID
from milk_forecast.run_folder.write import write_run_record


def test_defaults_pass_their_rules_and_lists_become_tuples() -> None:
    params = TrainParams.from_values({"input_sets": [["price"], ["price", "rain"]]})
    assert params.input_sets == (("price",), ("price", "rain"))
    assert TrainParams().ridge_alpha == 1.0
    assert PreprocessParams().test_fraction == 0.2


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"ridge_alpha": -1.0}, "'ridge_alpha': -1.0 is not a finite number in (0, inf)"),
        ({"ridge_alpha": float("inf")}, "'ridge_alpha': inf"),
        ({"half_lives_years": [0.0]}, "'half_lives_years': (0.0,)"),
        ({"half_lives_years": []}, "at least 1"),
        ({"interval_levels": [0.8, 1.5]}, "'interval_levels'"),
        ({"interval_levels": [0.8, 0.8]}, "distinct"),
        # the same column name, lower_80_clp_per_l: refused before any kernel
        ({"interval_levels": [0.8, 0.800000000001]}, "distinct value(s) (as percents"),
        ({"interval_levels": [k / 100 for k in range(1, 22)]}, "a list of 1 to 20"),
        ({"input_sets": [["wind"]]}, "one of 'price', 'rain'"),
        ({"history_start": "1990-13"}, "a month written YYYY-MM"),
        ({"fit_prototype": 1}, "true or false"),
        ({"mutual_info_random_state": -3}, "an integer in [0,"),
    ],
)
def test_a_value_breaking_its_rule_names_parameter_value_and_rule(
    values: dict[str, object], named: str
) -> None:
    with pytest.raises(ParameterError) as info:
        TrainParams.from_values(values)
    assert named in str(info.value)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2])
def test_the_test_fraction_is_strictly_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ParameterError, match="'test_fraction'"):
        PreprocessParams(test_fraction=fraction)


def test_from_values_ignores_names_that_are_not_parameters() -> None:
    assert TrainParams.from_values({"run_dir": "x", "ridge_alpha": 2.0}).ridge_alpha == 2.0


def test_nine_or_more_distinct_levels_are_fine() -> None:
    levels = tuple(k / 10 for k in range(1, 10))
    assert TrainParams(interval_levels=levels).interval_levels == levels


def run_folder(tmp_path: Path, **record: object) -> Path:
    folder = tmp_path / "runs" / "20261127T120301Z"
    folder.mkdir(parents=True)
    write_run_record(folder, {"run_id": folder.name, **record})
    return folder


def test_a_stage_writes_to_a_scratch_folder_or_to_the_run_in_progress(tmp_path: Path) -> None:
    assert stage_run_dir(str(tmp_path / "manual")) == tmp_path / "manual"
    live = {"status": "running", "pid": os.getpid(), "host": socket.gethostname()}
    assert stage_run_dir(run_folder(tmp_path, **live)) == tmp_path / "runs" / "20261127T120301Z"


@pytest.mark.parametrize(
    ("record", "said"),
    [
        ({"status": "succeeded"}, "(succeeded)"),
        ({"status": "failed"}, "(failed)"),
        # left running by a killed process: an executed notebook rerun by hand
        ({"status": "running", "pid": MAX_PID, "host": socket.gethostname()}, "(incomplete)"),
    ],
)
def test_a_finished_run_is_never_changed_by_a_notebook_run_by_hand(
    tmp_path: Path, record: dict[str, object], said: str
) -> None:
    folder = run_folder(tmp_path, **record)
    written = (folder / RUN_JSON).read_bytes()
    with pytest.raises(ParameterError) as refused:
        stage_run_dir(f"{folder}/../{folder.name}")
    message = str(refused.value)
    assert f"run 20261127T120301Z {said}" in message and "scratch folder" in message
    assert (folder / RUN_JSON).read_bytes() == written


def test_a_run_folder_with_an_unreadable_record_is_refused(tmp_path: Path) -> None:
    folder = run_folder(tmp_path, status="succeeded")
    (folder / RUN_JSON).write_text("{not json")
    with pytest.raises(ParameterError, match=r"run\.json is unreadable"):
        stage_run_dir(folder)
