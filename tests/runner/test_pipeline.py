from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_factory import build_metrics, build_rows, write_parquet

from milk_forecast import contracts
from milk_forecast.runner import pipeline, run_folder
from milk_forecast.runner.stages import Stage


def test_fingerprint_changes_with_inputs_code_and_parameters() -> None:
    inputs = {"a.csv": {"sha256": "1"}}
    base = pipeline.fingerprint(inputs, "code", {"s": {"k": 1}})
    assert base == pipeline.fingerprint(dict(inputs), "code", {"s": {"k": 1}})
    assert base != pipeline.fingerprint({"a.csv": {"sha256": "2"}}, "code", {"s": {"k": 1}})
    assert base != pipeline.fingerprint(inputs, "code2", {"s": {"k": 1}})
    assert base != pipeline.fingerprint(inputs, "code", {"s": {"k": 2}})


def test_code_digest_covers_every_source_file_of_every_subpackage(tmp_path: Path) -> None:
    package = tmp_path / "milk_forecast"
    (package / "model").mkdir(parents=True)
    (package / "contracts.py").write_text("A = 1\n")
    (package / "model" / "training.py").write_text("B = 1\n")
    notebook = tmp_path / "01_extract.ipynb"
    notebook.write_text("{}")
    stages = [Stage("01_extract", notebook, {})]
    before = pipeline.code_digest(stages, package)
    (package / "model" / "training.py").write_text("B = 2\n")
    changed = pipeline.code_digest(stages, package)
    assert changed != before
    (package / "model" / "training.py").rename(package / "model" / "models.py")
    assert pipeline.code_digest(stages, package) != changed  # a moved file counts too


def test_the_digested_package_is_the_whole_package() -> None:
    assert (pipeline.PACKAGE_DIR / "contracts.py").is_file()  # the root, not runner/


def test_only_the_served_run_with_the_same_fingerprint_is_reused(tmp_path: Path) -> None:
    run_id = "20261127T120301Z"
    (tmp_path / run_id).mkdir()
    run_folder.write_run_record(tmp_path / run_id, {"status": "succeeded", "fingerprint": "abc"})
    assert pipeline.served_run_with(tmp_path, "abc") is None  # not served yet
    run_folder.publish_latest(tmp_path, run_id)
    assert pipeline.served_run_with(tmp_path, "abc") == run_id
    assert pipeline.served_run_with(tmp_path, "other") is None


def write_products(run_dir: Path, nan_at: int | None = None) -> None:
    """The products of a complete train stage (a NaN prediction at row ``nan_at``)."""
    rows = build_rows()
    if nan_at is not None:
        rows[nan_at]["predicted_clp_per_l"] = float("nan")
    write_parquet(rows, run_dir / "predictions.parquet")
    (run_dir / "model.joblib").write_bytes(b"model")
    (run_dir / "metrics.json").write_text(json.dumps(build_metrics(build_rows())))


def test_verify_products_accepts_a_complete_run(tmp_path: Path) -> None:
    write_products(tmp_path)
    assert pipeline.verify_products(tmp_path)["headline"]["rmse_clp_per_l"] == 2.6


def test_verify_products_refuses_nan_predictions_naming_the_file(tmp_path: Path) -> None:
    write_products(tmp_path, nan_at=3)
    with pytest.raises(
        contracts.StageOutputError, match=r"predictions.parquet.*predicted_clp_per_l"
    ):
        pipeline.verify_products(tmp_path)


def test_verify_products_refuses_a_missing_model(tmp_path: Path) -> None:
    write_products(tmp_path)
    (tmp_path / "model.joblib").unlink()
    with pytest.raises(contracts.StageOutputError, match=r"model.joblib: was not written"):
        pipeline.verify_products(tmp_path)


def test_stage_failure_description_names_notebook_cell_and_exception() -> None:
    failure = pipeline.StageFailure(
        "02_clean", "runs/x/notebooks/02_clean.ipynb", "ValueError", "bad month 'Foo'", 4, "clean()"
    )
    text = failure.describe()
    assert "02_clean.ipynb" in text and "In [4]" in text and "ValueError: bad month 'Foo'" in text


def test_a_failure_outside_any_notebook_names_the_check() -> None:
    failure = pipeline.StageFailure(
        "verify products", "", "StageOutputError", "predictions.parquet: has no rows"
    )
    assert failure.describe() == (
        "stage verify products failed: StageOutputError: predictions.parquet: has no rows"
    )
