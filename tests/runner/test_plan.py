from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from pipeline_cli import main, run_folders
from run_factory import publish_latest

from milk_forecast.data.columns import BANK_FILE, PRICE_FILE, RAIN_FILE
from milk_forecast.data.raw import SAMPLE_DIR
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner import plan
from milk_forecast.runner.stages import NOTEBOOKS_DIR, PipelineError


def test_only_the_served_run_with_the_same_fingerprint_is_reused(tmp_path: Path) -> None:
    run_id = "20261127T120301Z"
    (tmp_path / run_id).mkdir()
    write_run_record(tmp_path / run_id, {"status": "succeeded", "fingerprint": "abc"})
    assert plan.served_run_with(tmp_path, "abc") is None  # not served yet
    publish_latest(tmp_path, run_id)
    assert plan.served_run_with(tmp_path, "abc") == run_id
    assert plan.served_run_with(tmp_path, "other") is None


def test_an_input_that_cannot_be_read_is_named_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / PRICE_FILE).write_text("Anio,Mes,Precio_leche\n")

    def unreadable(path: Path) -> dict:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))

    monkeypatch.setattr(plan.raw, "file_digest", unreadable)
    with pytest.raises(PipelineError, match=r"precio_leche\.csv cannot be read"):
        plan.describe_inputs(tmp_path)


def test_a_plan_checks_parameters_and_fingerprints_inputs(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    planned = plan.plan_run(sample_data_dir, tmp_path, {"ridge_alpha": "0.5"}, NOTEBOOKS_DIR)
    assert planned.stages[0].name == "01_extract"
    assert planned.parameters["04_train"]["ridge_alpha"] == 0.5
    assert set(planned.inputs) == {path.name for path in sample_data_dir.glob("*.csv")}
    other = plan.plan_run(sample_data_dir, tmp_path, {"ridge_alpha": "0.6"}, NOTEBOOKS_DIR)
    assert other.fingerprint != planned.fingerprint
    with pytest.raises(PipelineError, match="no_such_knob"):
        plan.plan_run(sample_data_dir, tmp_path, {"no_such_knob": "1"}, NOTEBOOKS_DIR)


def test_a_data_folder_without_the_raw_files_is_named_before_anything(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SAMPLE_DIR / PRICE_FILE, data)
    with pytest.raises(PipelineError, match=rf"{data} lacks {RAIN_FILE}, {BANK_FILE}"):
        plan.check_request(data, {})


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("backtest_start", "2020-05", "backtest_start=2020-05 must come before backtest_end"),
        ("backtest_start", "2020-04", "backtest_start=2020-04 must come before backtest_end"),
        ("backtest_end", "2021-01", "before backtest_end=2021-01"),
        ("selection_end", "2020-04", "selection_end=2020-04 must come before backtest_start"),
        ("history_start", "1970-01", "after history_start=1970-01"),
        ("history_start", "2015-01", "leaves less than 36 months after history_start=2015-01"),
    ],
)
def test_windows_the_data_cannot_hold_are_refused_before_any_kernel(
    name: str, value: str, named: str
) -> None:
    # The sample's prices run 1979-01..2020-04; a one-month backtest has no R2.
    with pytest.raises(PipelineError) as refused:
        plan.check_request(SAMPLE_DIR, {name: value})
    assert named in str(refused.value)
    assert f"{PRICE_FILE} (1979-01..2020-04)" in str(refused.value)


def test_windows_inside_the_data_and_any_distinct_levels_pass() -> None:
    levels = str([round(0.1 * k, 1) for k in range(1, 10)])  # nine levels: a fan of nine bands
    _, parameters = plan.check_request(
        SAMPLE_DIR, {"backtest_start": "2020-03", "interval_levels": levels}
    )
    assert len(parameters["04_train"]["interval_levels"]) == 9


def test_a_price_file_that_cannot_be_read_is_left_to_01_extract(tmp_path: Path) -> None:
    for name in (PRICE_FILE, RAIN_FILE, BANK_FILE):
        shutil.copy(SAMPLE_DIR / name, tmp_path)
    (tmp_path / PRICE_FILE).write_text("Anio;Mes;Precio_leche\n2020;Ene;1\n")
    plan.check_request(tmp_path, {"backtest_start": "2030-01"})  # the stage names the file


@pytest.mark.parametrize(
    ("empty_data", "arguments", "named"),
    [
        (False, ["-p", "backtest_start", "2020-05"], "backtest_start=2020-05"),
        (False, ["-p", "interval_levels", "[0.8, 0.800000000001]"], "'interval_levels'"),
        (True, [], f"lacks {PRICE_FILE}, {RAIN_FILE}, {BANK_FILE}"),
    ],
)
def test_the_command_exits_2_naming_the_problem_and_makes_no_run_folder(
    tmp_path: Path, empty_data: bool, arguments: list[str], named: str
) -> None:
    data = tmp_path / "data" if empty_data else SAMPLE_DIR
    data.mkdir(exist_ok=True)
    result = main("--data-dir", data, "--runs-dir", tmp_path / "runs", *arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr and result.stderr.count("\n") == 1
    assert not run_folders(tmp_path / "runs")
