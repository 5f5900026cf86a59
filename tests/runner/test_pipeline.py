from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import nbformat
import pytest
from run_factory import LEVELS, build_metrics, build_rows, predictions_document

from milk_forecast.data.columns import PRICE_FILE, SYNTHETIC_MARKER
from milk_forecast.run_folder.latest import read_latest
from milk_forecast.run_folder.layout import LATEST, REPORT_FILE, RUN_JSON, RunFolderError
from milk_forecast.run_folder.record import (
    FAILED,
    NOT_PUBLISHED_REASON,
    PUBLISHED,
    SUCCEEDED,
    read_run_record,
)
from milk_forecast.run_folder.write import publish_latest, write_run_record
from milk_forecast.runner import pipeline
from milk_forecast.runner.signals import Interrupts, RunInterrupted
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
    (package / "parameters.py").write_text("A = 1\n")
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
    assert (pipeline.PACKAGE_DIR / "parameters.py").is_file()  # the root, not runner/


def test_only_the_served_run_with_the_same_fingerprint_is_reused(tmp_path: Path) -> None:
    run_id = "20261127T120301Z"
    (tmp_path / run_id).mkdir()
    write_run_record(tmp_path / run_id, {"status": "succeeded", "fingerprint": "abc"})
    assert pipeline.served_run_with(tmp_path, "abc") is None  # not served yet
    publish_latest(tmp_path, run_id)
    assert pipeline.served_run_with(tmp_path, "abc") == run_id
    assert pipeline.served_run_with(tmp_path, "other") is None


def write_products(run_dir: Path) -> None:
    """The products of a complete train stage that the service reads."""
    (run_dir / "metrics.json").write_text(json.dumps(build_metrics(build_rows())))
    document = predictions_document(build_rows(), LEVELS)
    (run_dir / "predictions.json").write_text(json.dumps(document))


def test_verify_products_accepts_a_complete_run(tmp_path: Path) -> None:
    write_products(tmp_path)
    assert pipeline.verify_products(tmp_path)["headline"]["rmse_clp_per_l"] == 2.6


def test_verify_products_refuses_predictions_json_that_disagree_with_the_metrics(
    tmp_path: Path,
) -> None:
    write_products(tmp_path)
    document = predictions_document(build_rows(levels=(0.5,)), (0.5,))
    (tmp_path / "predictions.json").write_text(json.dumps(document))
    with pytest.raises(RunFolderError, match=r"predictions.json: interval_levels"):
        pipeline.verify_products(tmp_path)


def test_verify_products_refuses_a_missing_predictions_json(tmp_path: Path) -> None:
    write_products(tmp_path)
    (tmp_path / "predictions.json").unlink()
    with pytest.raises(RunFolderError, match=r"predictions.json: missing"):
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


# --- completing and publishing a run (no notebook runs: the products are written here) ---


def data_folder(tmp_path: Path, synthetic: bool) -> Path:
    data_dir = tmp_path / ("sample" if synthetic else "real")
    data_dir.mkdir(exist_ok=True)
    if synthetic:
        (data_dir / SYNTHETIC_MARKER).write_text("")
    return data_dir


def started_run(tmp_path: Path, synthetic: bool = False, stages: list[Stage] | None = None):
    """A run started on an empty plan, its products written as the last stage would."""
    stages = stages or []
    parameters = {stage.name: {} for stage in stages}
    plan = pipeline.RunPlan(
        data_folder(tmp_path, synthetic), tmp_path / "runs", stages, parameters, {}, "fp"
    )
    context = pipeline.start_run(plan, log=lambda message: None)
    write_products(context.run_dir)
    return context


def served_run(tmp_path: Path, synthetic: bool) -> str:
    """A succeeded run, published as LATEST."""
    context = started_run(tmp_path, synthetic)
    assert pipeline.complete_run(context).published
    return context.run_id


def signal_once_run_json_says(status: str, signum: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: ``signum`` arrives right after run.json is written with ``status``."""
    write = write_run_record

    def write_then_signal(run_dir: Path, record: dict) -> None:
        write(run_dir, record)
        if record["status"] == status:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(pipeline, "write_run_record", write_then_signal)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_between_run_json_and_latest_cannot_split_publishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    context = started_run(tmp_path)
    signal_once_run_json_says(SUCCEEDED, signum, monkeypatch)
    with Interrupts() as interrupts, pytest.raises(KeyboardInterrupt):
        context.interrupts = interrupts
        pipeline.complete_run(context)
    # the signal took effect after the step: run.json and LATEST agree
    assert read_run_record(context.run_dir)["status"] == SUCCEEDED
    assert read_latest(context.plan.runs_dir) == context.run_id


def test_a_signal_is_held_back_without_the_runners_handlers_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)  # Python's own SIGINT handler: KeyboardInterrupt
    signal_once_run_json_says(SUCCEEDED, signal.SIGINT, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        pipeline.complete_run(context)
    assert read_latest(context.plan.runs_dir) == context.run_id


def test_a_signal_while_completing_fails_the_run_before_it_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)

    def interrupted_report(run_dir: Path, record: dict | None = None) -> None:
        raise RunInterrupted("stopped by SIGTERM")

    monkeypatch.setattr("milk_forecast.runner.report.build_report", interrupted_report)
    with pytest.raises(RunInterrupted):
        pipeline.complete_run(context)
    record = read_run_record(context.run_dir)
    assert record["status"] == FAILED and record["error"]["exception"] == "interrupted"
    assert read_latest(context.plan.runs_dir) is None


def test_a_synthetic_run_is_kept_but_not_published_over_a_real_served_run(
    tmp_path: Path,
) -> None:
    real = served_run(tmp_path, synthetic=False)
    context = started_run(tmp_path, synthetic=True)
    outcome = pipeline.complete_run(context)
    assert outcome.status == SUCCEEDED and outcome.ok and not outcome.published
    assert read_latest(context.plan.runs_dir) == real
    record = read_run_record(context.run_dir)
    assert record[PUBLISHED] is False
    assert real in record[NOT_PUBLISHED_REASON]
    assert "synthetic" in record[NOT_PUBLISHED_REASON]
    report = (context.run_dir / REPORT_FILE).read_text()
    assert "Not published" in report and "succeeded" in report


def test_allow_synthetic_over_real_publishes_it(tmp_path: Path) -> None:
    served_run(tmp_path, synthetic=False)
    context = started_run(tmp_path, synthetic=True)
    outcome = pipeline.complete_run(context, allow_synthetic_over_real=True)
    assert outcome.published
    assert read_latest(context.plan.runs_dir) == context.run_id
    assert read_run_record(context.run_dir)[PUBLISHED] is True


@pytest.mark.parametrize(("served", "new"), [(True, True), (True, False), (False, False)])
def test_other_combinations_are_published(tmp_path: Path, served: bool, new: bool) -> None:
    served_run(tmp_path, synthetic=served)
    context = started_run(tmp_path, synthetic=new)
    assert pipeline.complete_run(context).published
    assert read_latest(context.plan.runs_dir) == context.run_id


def disk_full(path: Path | str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_in_a_stage_fails_the_run_naming_stage_file_and_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = tmp_path / "02_clean.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    stage = Stage("02_clean", notebook, {})
    context = started_run(tmp_path, stages=[stage])
    product = context.run_dir / "clean_monthly.parquet"

    def full(*args: object, **kwargs: object) -> None:
        raise disk_full(product)

    monkeypatch.setattr(pipeline.papermill, "execute_notebook", full)
    with pytest.raises(pipeline.StageFailure) as failure:
        pipeline.run_stage(context, stage)
    outcome = pipeline.fail_run(context, failure.value)
    error = read_run_record(context.run_dir)["error"]
    assert outcome.status == FAILED
    assert error["stage"] == "02_clean" and error["exception"] == "OSError"
    assert "No space left on device" in error["message"] and str(product) in error["message"]
    assert read_latest(context.plan.runs_dir) is None


def test_a_full_disk_when_writing_latest_fails_the_run_and_keeps_the_served_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = served_run(tmp_path, synthetic=False)
    context = started_run(tmp_path)
    latest = context.plan.runs_dir / LATEST

    def full(*args: object, **kwargs: object) -> None:
        raise disk_full(latest)

    monkeypatch.setattr(pipeline, "staged_latest", full)
    outcome = pipeline.complete_run(context)
    record = read_run_record(context.run_dir)
    assert outcome.status == record["status"] == FAILED
    assert record["error"]["stage"] == "publish"
    assert "No space left on device" in record["error"]["message"]
    assert str(latest) in record["error"]["message"]
    assert read_latest(context.plan.runs_dir) == served


def test_latest_that_cannot_be_renamed_puts_run_json_back_to_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)
    replace = os.replace

    def failing_replace(source: object, target: object) -> None:
        if Path(str(target)).name == LATEST:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    outcome = pipeline.complete_run(context)
    assert outcome.status == FAILED
    assert read_run_record(context.run_dir)["status"] == FAILED
    assert read_latest(context.plan.runs_dir) is None
    assert [p.name for p in context.plan.runs_dir.iterdir() if p.name.startswith(".")] == []


def test_a_report_that_cannot_be_written_is_a_warning_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)
    messages: list[str] = []
    context.log = messages.append
    report_path = context.run_dir / REPORT_FILE

    def full(path: Path, text: str) -> None:
        raise disk_full(path)

    monkeypatch.setattr("milk_forecast.runner.report.write_text_atomic", full)
    assert pipeline.complete_run(context).published
    assert any(str(report_path) in m and "No space left on device" in m for m in messages)


def test_run_json_that_cannot_be_written_raises_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)

    def full(run_dir: Path, record: dict) -> None:
        raise disk_full(run_dir / RUN_JSON)

    monkeypatch.setattr(pipeline, "write_run_record", full)
    with pytest.raises(pipeline.RunRecordError, match=r"run\.json.*No space left on device"):
        pipeline.complete_run(context)
    assert read_latest(context.plan.runs_dir) is None


def test_a_run_folder_that_cannot_be_created_raises_naming_the_runs_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "runs").write_text("a file, not a folder")
    plan = pipeline.RunPlan(data_folder(tmp_path, False), tmp_path / "runs", [], {}, {}, "fp")
    with pytest.raises(pipeline.RunRecordError, match=r"cannot create a run folder in .*runs"):
        pipeline.start_run(plan, log=lambda message: None)


def test_an_input_that_cannot_be_read_is_named_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = data_folder(tmp_path, synthetic=False)
    (data_dir / PRICE_FILE).write_text("Anio,Mes,Precio_leche\n")

    def unreadable(path: Path) -> dict:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))

    monkeypatch.setattr(pipeline.raw, "file_digest", unreadable)
    with pytest.raises(pipeline.PipelineError, match=r"precio_leche\.csv cannot be read"):
        pipeline.describe_inputs(data_dir)
