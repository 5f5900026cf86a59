"""Publishing: a run that completed, and ``--publish RUN_ID`` (an earlier run, checked as the
service checks it)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
from pathlib import Path

import pytest
import run_factory as factory
from fake_runs import started_run
from pipeline_cli import signal_while_writing
from run_factory import build_rows, predictions_document

from milk_forecast.run_folder.layout import (
    LATEST,
    METRICS_FILE,
    OUTPUT_FILES,
    PREDICTIONS_JSON,
    PUBLICATIONS_FILE,
    REPORT_FILE,
    RUN_JSON,
)
from milk_forecast.run_folder.publication import (
    PUBLISHED_BY_OPERATOR,
    PUBLISHED_BY_PIPELINE,
    read_latest,
    read_publications,
)
from milk_forecast.run_folder.record import (
    FAILED,
    NOT_PUBLISHED_REASON,
    OUTPUTS,
    PUBLISHED,
    SUCCEEDED,
    read_run_record,
)
from milk_forecast.run_folder.servable import changed_outputs
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner import publish, state
from milk_forecast.runner.publish import (
    PublicationError,
    PublishError,
    complete_run,
    publish_existing,
)
from milk_forecast.runner.signals import Interrupts, RunInterrupted
from milk_forecast.runner.state import RunRecordError


def test_publish_existing_serves_an_earlier_run_and_logs_it(tmp_path: Path) -> None:
    factory.make_run(tmp_path, "20261127T120301Z")
    factory.make_run(tmp_path, "20261127T120302Z")
    entry = publish_existing(tmp_path, "20261127T120301Z")
    assert (tmp_path / LATEST).read_text().strip() == "20261127T120301Z"
    assert entry["by"] == PUBLISHED_BY_OPERATOR
    entries, _ = read_publications(tmp_path)
    assert entries[-1] == entry


@pytest.mark.parametrize(
    ("prepare", "run_id", "message"),
    [
        (lambda d: None, "20261127T999999Z", "there is no run"),
        (lambda d: None, "../etc", "is not a run id"),
        (
            lambda d: factory.make_run(d, "20261127T120303Z", status="failed", publish=False),
            "20261127T120303Z",
            "'status' is 'failed', not 'succeeded'",
        ),
        (
            lambda d: (
                factory.make_run(d, "20261127T120303Z", publish=False),
                (d / "20261127T120303Z" / PREDICTIONS_JSON).write_text("{}"),
            ),
            "20261127T120303Z",
            "predictions.json",
        ),
    ],
)
def test_a_run_that_cannot_be_served_is_refused_and_latest_stays(
    tmp_path: Path, prepare, run_id: str, message: str
) -> None:
    factory.make_run(tmp_path, "20261127T120301Z")
    prepare(tmp_path)
    with pytest.raises(PublishError, match=message):
        publish_existing(tmp_path, run_id)
    assert (tmp_path / LATEST).read_text().strip() == "20261127T120301Z"
    assert read_publications(tmp_path)[0] == []


# --- completing and publishing a run (no notebook runs: the products are written here) ---


def served_run(tmp_path: Path, synthetic: bool) -> str:
    """A succeeded run, published as LATEST."""
    context = started_run(tmp_path, synthetic)
    complete_run(context)
    assert read_latest(context.plan.runs_dir) == context.run_id
    return context.run_id


def signal_once_run_json_says(status: str, signum: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: ``signum`` arrives right after run.json is written with ``status``."""
    write = write_run_record

    def write_then_signal(run_dir: Path, record: dict) -> None:
        write(run_dir, record)
        if record["status"] == status:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(state, "write_run_record", write_then_signal)


def test_a_completed_run_is_published_and_logged(tmp_path: Path) -> None:
    context = started_run(tmp_path)
    outcome = complete_run(context)
    record = read_run_record(context.run_dir)
    assert outcome.status == record["status"] == SUCCEEDED and outcome.ok
    assert record[PUBLISHED] is True and record["headline"]["rmse_clp_per_l"] == 2.6
    assert read_latest(context.plan.runs_dir) == context.run_id
    entries, _ = read_publications(context.plan.runs_dir)
    assert [(e["run_id"], e["by"]) for e in entries] == [(context.run_id, PUBLISHED_BY_PIPELINE)]
    assert "succeeded" in (context.run_dir / REPORT_FILE).read_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_between_run_json_and_latest_cannot_split_publishing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    context = started_run(tmp_path)
    signal_once_run_json_says(SUCCEEDED, signum, monkeypatch)
    with Interrupts(), pytest.raises(KeyboardInterrupt):
        complete_run(context)
    # the signal took effect after the step: run.json and LATEST agree
    assert read_run_record(context.run_dir)["status"] == SUCCEEDED
    assert read_latest(context.plan.runs_dir) == context.run_id


def test_a_signal_is_held_back_without_the_runners_handlers_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)  # Python's own SIGINT handler: KeyboardInterrupt
    signal_once_run_json_says(SUCCEEDED, signal.SIGINT, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        complete_run(context)
    assert read_latest(context.plan.runs_dir) == context.run_id


def test_a_signal_while_completing_fails_the_run_before_it_is_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)

    def interrupted_report(run_dir: Path, record: dict | None = None) -> None:
        raise RunInterrupted("stopped by SIGTERM")

    monkeypatch.setattr("milk_forecast.runner.report.build_report", interrupted_report)
    with pytest.raises(RunInterrupted):
        complete_run(context)
    record = read_run_record(context.run_dir)
    assert record["status"] == FAILED and record["error"]["exception"] == "interrupted"
    assert read_latest(context.plan.runs_dir) is None


def test_a_synthetic_run_is_kept_but_not_published_over_a_real_served_run(
    tmp_path: Path,
) -> None:
    real = served_run(tmp_path, synthetic=False)
    context = started_run(tmp_path, synthetic=True)
    outcome = complete_run(context)
    assert outcome.status == SUCCEEDED and outcome.ok and outcome.unpublished
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
    assert not complete_run(context, allow_synthetic_over_real=True).unpublished
    assert read_latest(context.plan.runs_dir) == context.run_id
    assert read_run_record(context.run_dir)[PUBLISHED] is True


@pytest.mark.parametrize(("served", "new"), [(True, True), (True, False), (False, False)])
def test_other_combinations_are_published(tmp_path: Path, served: bool, new: bool) -> None:
    served_run(tmp_path, synthetic=served)
    context = started_run(tmp_path, synthetic=new)
    complete_run(context)
    assert read_latest(context.plan.runs_dir) == context.run_id


def disk_full(path: Path | str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_when_writing_latest_fails_the_run_and_keeps_the_served_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = served_run(tmp_path, synthetic=False)
    context = started_run(tmp_path)
    latest = context.plan.runs_dir / LATEST

    def full(*args: object, **kwargs: object) -> None:
        raise disk_full(latest)

    monkeypatch.setattr(publish, "staged_publication", full)
    outcome = complete_run(context)
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
    outcome = complete_run(context)
    assert outcome.status == FAILED
    record = read_run_record(context.run_dir)
    assert record["status"] == FAILED and "LATEST not replaced" in record["error"]["message"]
    assert read_latest(context.plan.runs_dir) is None
    assert read_publications(context.plan.runs_dir) == ([], [])  # its line was taken back
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
    complete_run(context)
    assert read_latest(context.plan.runs_dir) == context.run_id
    assert any(str(report_path) in m and "No space left on device" in m for m in messages)


def test_run_json_that_cannot_be_written_raises_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = started_run(tmp_path)

    def full(run_dir: Path, record: dict) -> None:
        raise disk_full(run_dir / RUN_JSON)

    monkeypatch.setattr(state, "write_run_record", full)
    with pytest.raises(RunRecordError, match=r"run\.json.*No space left on device"):
        complete_run(context)
    assert read_latest(context.plan.runs_dir) is None


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda run_dir: (run_dir / PREDICTIONS_JSON).unlink(), "predictions.json: missing"),
        (
            lambda run_dir: (run_dir / PREDICTIONS_JSON).write_text(
                json.dumps(predictions_document(build_rows(levels=(0.5,)), (0.5,)))
            ),
            "predictions.json: interval_levels",
        ),
    ],
)
def test_products_that_do_not_pass_their_check_fail_the_run(
    tmp_path: Path, spoil, message: str
) -> None:
    context = started_run(tmp_path)
    spoil(context.run_dir)
    outcome = complete_run(context)
    error = read_run_record(context.run_dir)["error"]
    assert outcome.status == FAILED and error["stage"] == "verify products"
    assert message in error["message"]
    assert read_latest(context.plan.runs_dir) is None


# --- LATEST and the publication log always agree (issue 19 items 1 and 6) -----------------


def publish_a_completed_run(tmp_path: Path) -> str:
    context = started_run(tmp_path)
    complete_run(context)
    return context.run_id


def publish_an_earlier_run(tmp_path: Path) -> str:
    factory.make_run(tmp_path / "runs", "20261127T120301Z", publish=False)
    publish_existing(tmp_path / "runs", "20261127T120301Z")
    return "20261127T120301Z"


@pytest.mark.parametrize("publish_one", [publish_a_completed_run, publish_an_earlier_run])
@pytest.mark.parametrize("target", [LATEST, PUBLICATIONS_FILE])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_publishing_leaves_latest_and_the_log_agreeing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, publish_one, target: str, signum: int
) -> None:
    replacing, flushing = signal_while_writing(target, signum)
    monkeypatch.setattr(os, "replace", replacing)
    monkeypatch.setattr(os, "fsync", flushing)
    with Interrupts(), pytest.raises(RunInterrupted) as stopped:
        publish_one(tmp_path)
    runs_dir = tmp_path / "runs"
    run_id = read_latest(runs_dir)
    assert run_id is not None
    assert [entry["run_id"] for entry in read_publications(runs_dir)[0]] == [run_id]
    name = signal.Signals(signum).name
    assert str(stopped.value) == (
        f"stopped by {name}, after run {run_id} was published (LATEST and the log name it)"
    )


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_log_that_cannot_be_written_leaves_latest_as_it_was_and_says_so(
    tmp_path: Path, kind: str
) -> None:
    runs_dir = tmp_path / "runs"
    served = factory.make_run(runs_dir, "20261127T120301Z").name
    factory.make_run(runs_dir, "20261127T120302Z", publish=False)
    log = runs_dir / PUBLICATIONS_FILE
    {"directory": Path.mkdir, "fifo": os.mkfifo, "symlink": lambda p: p.symlink_to(tmp_path)}[kind](
        log
    )
    with pytest.raises(PublicationError, match=rf"^LATEST not replaced: {log}: "):
        publish_existing(runs_dir, "20261127T120302Z")  # a FIFO does not block it
    assert read_latest(runs_dir) == served
    context = started_run(tmp_path)
    outcome = complete_run(context)
    assert outcome.status == FAILED and read_latest(runs_dir) == served
    error = read_run_record(context.run_dir)["error"]
    assert error["stage"] == "publish" and error["message"].startswith("LATEST not replaced: ")
    assert str(log) in error["message"]


# --- --publish: no surprises (issue 19 item 10) ------------------------------------------


def test_a_synthetic_run_is_not_published_over_a_real_one_unless_allowed(tmp_path: Path) -> None:
    factory.make_run(tmp_path, "20261127T120301Z", synthetic=False)
    factory.make_run(tmp_path, "20261127T120302Z", synthetic=True, publish=False)
    with pytest.raises(PublishError, match=r"synthetic.*--allow-synthetic-over-real"):
        publish_existing(tmp_path, "20261127T120302Z")
    assert read_latest(tmp_path) == "20261127T120301Z" and read_publications(tmp_path)[0] == []
    publish_existing(tmp_path, "20261127T120302Z", allow_synthetic_over_real=True)
    assert read_latest(tmp_path) == "20261127T120302Z"


def test_republishing_the_served_run_writes_nothing(tmp_path: Path) -> None:
    factory.make_run(tmp_path, "20261127T120301Z", publish=False)
    assert publish_existing(tmp_path, "20261127T120301Z") is not None
    log = (tmp_path / PUBLICATIONS_FILE).read_bytes()
    assert publish_existing(tmp_path, "20261127T120301Z") is None
    assert (tmp_path / PUBLICATIONS_FILE).read_bytes() == log


# --- outputs recorded at the end of a run (issue 19 item 11) -------------------------------


def test_a_succeeded_run_records_the_sha256_of_its_outputs(tmp_path: Path) -> None:
    context = started_run(tmp_path)
    complete_run(context)
    outputs = read_run_record(context.run_dir)[OUTPUTS]
    assert set(outputs) == {METRICS_FILE, PREDICTIONS_JSON}  # what the fake run made
    for name, recorded in outputs.items():
        assert recorded == hashlib.sha256((context.run_dir / name).read_bytes()).hexdigest()
    assert not changed_outputs(context.run_dir, read_run_record(context.run_dir), OUTPUT_FILES)
