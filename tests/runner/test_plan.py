from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from run_factory import publish_latest

from milk_forecast.data.columns import PRICE_FILE
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner import plan
from milk_forecast.runner.stages import PipelineError


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
    planned = plan.plan_run(sample_data_dir, tmp_path, {"ridge_alpha": "0.5"})
    assert planned.stages[0].name == "01_extract"
    assert planned.parameters["04_train"]["ridge_alpha"] == 0.5
    assert set(planned.inputs) == {path.name for path in sample_data_dir.glob("*.csv")}
    other = plan.plan_run(sample_data_dir, tmp_path, {"ridge_alpha": "0.6"})
    assert other.fingerprint != planned.fingerprint
    with pytest.raises(PipelineError, match="no_such_knob"):
        plan.plan_run(sample_data_dir, tmp_path, {"no_such_knob": "1"})
