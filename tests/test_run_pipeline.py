"""End-to-end: the CLI runs the real notebooks into run folders (sample data, real data when present).

Tests that only read a run share the session's ``sample_run``; a test runs the pipeline
itself only for a run of another kind, in this process (``main``) unless it signals or
kills it, and fails a run as early as its behaviour allows.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from fake_runs import fake_notebooks
from pipeline_cli import (
    SIGNAL_THE_RUNNER,
    STAGE_PRODUCTS,
    STAGES,
    cli,
    cli_with,
    copy_runs,
    injected_signal,
    main,
    notebooks_with,
    run_folders,
    start_cli,
)
from pipeline_cli import command as pipeline_command
from run_factory import make_history, make_run, publish_latest

import run_pipeline
from milk_forecast.data import sample as sample_data
from milk_forecast.run_folder.layout import LATEST, PUBLICATIONS_FILE
from milk_forecast.run_folder.publication import read_latest, read_publications
from milk_forecast.run_folder.record import FAILED, INCOMPLETE, effective_status, read_run_record
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner import options, state
from milk_forecast.runner.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_PUBLISHED,
    EXIT_OK,
    EXIT_USAGE,
)

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_sample_run_succeeds_and_says_it_is_synthetic(sample_run) -> None:
    stdout = sample_run.stdout
    assert f"run {sample_run.run_dir.name} succeeded" in stdout
    assert "SYNTHETIC SAMPLE" in stdout
    for stage in STAGES:
        assert f"{stage} done in" in stdout
    first = read_run_record(sample_run.run_dir)["forecast_path"][0]["month"]
    assert f"  next month, {first}: " in stdout and "% likely between " in stdout
    assert "    model: " in stdout and "    why: " in stdout
    assert "  backtest: on past data, one month ahead, it missed by " in stdout
    assert f"whose data include the price of {first}" in stdout  # a first run: nothing scored
    assert "rmse_clp_per_l" not in stdout  # figures in words, not the files' keys
    assert "IPKernelApp" not in stdout + sample_run.stderr  # kernel noise goes to kernels.log


def test_sample_run_fulfils_the_run_folder_contract(sample_run, sample_data_dir: Path) -> None:
    run_dir = sample_run.run_dir
    for name in STAGE_PRODUCTS:
        assert (run_dir / name).is_file(), name
    record = read_run_record(run_dir)
    assert record["status"] == "succeeded" and record["error"] is None
    assert record["synthetic_sample"] is True
    assert record["started_at"] <= record["finished_at"]
    assert [s["name"] for s in record["stages"]] == STAGES
    assert all(s["status"] == "succeeded" and s["seconds"] > 0 for s in record["stages"])
    for name, described in record["inputs"].items():
        digest = hashlib.sha256((sample_data_dir / name).read_bytes()).hexdigest()
        assert described["sha256"] == digest
    assert set(record["parameters"]) == set(STAGES)
    assert {"python", "pandas", "scikit-learn", "papermill"} <= set(record["versions"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert record["headline"] == metrics["headline"]
    assert record["published"] is True and record["not_published_reason"] is None
    rescaled = pd.read_parquet(run_dir / "rescaled_cells.parquet")
    assert len(rescaled) == len(sample_data.LOST_ZERO_CELLS)


def test_executed_notebooks_carry_the_injected_parameters_and_the_banner(sample_run) -> None:
    run_dir = sample_run.run_dir
    for stage in STAGES:
        notebook = nbformat.read(run_dir / "notebooks" / f"{stage}.ipynb", as_version=4)
        assert "SYNTHETIC SAMPLE" in notebook.cells[0].source
        assert notebook.metadata.papermill.parameters["run_dir"] == f"../../{run_dir.name}"
        errors = [
            o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"
        ]
        assert errors == []


def test_report_shows_the_outputs_of_all_stages_without_code(sample_run) -> None:
    html = (sample_run.run_dir / "report.html").read_text()
    for stage in STAGES:
        assert stage in html
    assert "data:image/png;base64" in html  # the plots
    assert "from milk_forecast import" not in html and "check_parquet(" not in html


def test_predictions_are_one_row_per_month(sample_run) -> None:
    predictions = pd.read_parquet(sample_run.run_dir / "predictions.parquet")
    assert predictions["month"].is_monotonic_increasing and predictions["month"].is_unique
    assert predictions["predicted_clp_per_l"].notna().all()
    assert {"in_sample", "backtest", "forecast"} <= set(predictions["kind"])


def test_list_marks_the_served_run(sample_run) -> None:
    result = main("--list", "--runs-dir", sample_run.runs_dir)
    assert result.returncode == 0
    served = [line for line in result.stdout.splitlines() if sample_run.run_dir.name in line]
    assert served and "*" in served[0] and "sample" in served[0]


def test_a_rerun_with_the_same_inputs_is_skipped(sample_run, sample_data_dir, tmp_path) -> None:
    runs_dir, served = copy_runs(sample_run.runs_dir, tmp_path)
    skipped = main("--data-dir", sample_data_dir, "--runs-dir", runs_dir)
    assert skipped.returncode == 0
    assert "nothing to do" in skipped.stdout and served in skipped.stdout
    assert len(run_folders(runs_dir)) == 1


@pytest.fixture
def forced_over_real(
    sample_run, sample_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``--force`` on the sample over a served run made from real data, the notebooks
    faked (the command's handling is under test): (runs folder, served run's id, result)."""
    runs_dir, served = copy_runs(sample_run.runs_dir, tmp_path)
    fake_notebooks(monkeypatch)
    record_path = runs_dir / served / "run.json"
    record = json.loads(record_path.read_text())
    record["synthetic_sample"] = False  # as if it had been made from the real data
    record_path.write_text(json.dumps(record))
    return runs_dir, served, main("--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--force")


def test_force_reruns_a_run_with_the_same_inputs(forced_over_real) -> None:
    runs_dir, served, result = forced_over_real
    (rerun,) = [p for p in run_folders(runs_dir) if p.name != served]
    assert f"run {rerun.name} succeeded" in result.stdout, result.stdout + result.stderr
    assert (
        read_run_record(rerun)["fingerprint"] == read_run_record(runs_dir / served)["fingerprint"]
    )


def test_a_synthetic_run_is_kept_but_not_published_over_a_real_one(forced_over_real) -> None:
    runs_dir, served, result = forced_over_real
    assert result.returncode == EXIT_NOT_PUBLISHED, result.stdout + result.stderr
    assert read_latest(runs_dir) == served
    (kept,) = [p for p in run_folders(runs_dir) if p.name != served]
    record = read_run_record(kept)
    assert record["status"] == "succeeded" and record["published"] is False
    assert served in record["not_published_reason"]
    assert "NOT published" in result.stderr and "--allow-synthetic-over-real" in result.stderr
    listing = main("--list", "--runs-dir", runs_dir).stdout
    assert "not published" in next(line for line in listing.splitlines() if kept.name in line)


def test_a_failing_notebook_fails_the_run_and_keeps_the_served_model(
    sample_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir, served = copy_runs(sample_run.runs_dir, tmp_path)
    notebooks = notebooks_with(tmp_path, "01_extract", "raise ValueError('broken on purpose')")
    result = main(
        "--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--notebooks-dir", notebooks
    )
    assert result.returncode == 1
    assert "01_extract.ipynb" in result.stdout and "In [" in result.stdout
    assert "ValueError: broken on purpose" in result.stdout
    assert read_latest(runs_dir) == served
    failed = run_folders(runs_dir)[-1]
    record = read_run_record(failed)
    assert record["status"] == "failed"
    assert record["error"]["stage"] == "01_extract" and record["error"]["exception"] == "ValueError"
    assert isinstance(record["error"]["cell"], int)
    assert record["error"]["notebook"] == "notebooks/01_extract.ipynb"  # the folder can move
    assert (failed / "notebooks" / "01_extract.ipynb").is_file()
    assert not (failed / "notebooks" / "02_clean.ipynb").exists()


def test_retries_start_a_new_run_folder_per_attempt(
    sample_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[Path] = []

    def flaky_source(run_dir: Path) -> None:
        attempts.append(run_dir)
        if len(attempts) == 1:
            raise RuntimeError("flaky source")

    fake_notebooks(monkeypatch, {"01_extract": flaky_source})
    runs_dir = tmp_path / "runs"
    result = main(
        "--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--retries", "2", "--retry-delay", "0"
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert attempts == run_folders(runs_dir)
    statuses = [read_run_record(p)["status"] for p in run_folders(runs_dir)]
    assert statuses == ["failed", "succeeded"]
    assert "attempt 1/3 failed; retrying in 0 s" in result.stdout


def test_unknown_parameter_is_refused_before_any_run(sample_data_dir: Path, tmp_path: Path) -> None:
    result = main("--data-dir", sample_data_dir, "--runs-dir", tmp_path, "-p", "no_such_knob", "1")
    assert result.returncode == 2
    assert "no_such_knob" in result.stderr and "valid names:" in result.stderr
    assert run_folders(tmp_path) == []


def test_missing_data_dir_is_named(tmp_path: Path) -> None:
    result = main("--data-dir", tmp_path / "nowhere", "--runs-dir", tmp_path)
    assert result.returncode == 2 and "nowhere" in result.stderr


def test_sigterm_marks_the_run_in_progress_failed(sample_data_dir: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    notebooks = notebooks_with(tmp_path, "01_extract", SIGNAL_THE_RUNNER.format("SIGTERM"))
    process = start_cli(
        "--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--notebooks-dir", notebooks
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, stderr
    (run_dir,) = run_folders(runs_dir)
    record = read_run_record(run_dir)
    assert record["status"] == "failed"
    assert record["error"]["exception"] == "interrupted" and "SIGTERM" in record["error"]["message"]
    assert record["stages"][-1]["name"] == "01_extract"
    assert record["stages"][-1]["status"] == "failed"
    assert read_latest(runs_dir) is None


def test_the_runs_folder_is_locked_while_a_run_is_in_progress(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    code = (
        "from pathlib import Path\n"
        "from milk_forecast.runner.lock import RunsLock\n"
        "with RunsLock(Path(run_dir).parent):\n"
        "    pass"
    )
    notebooks = notebooks_with(tmp_path, "01_extract", code)
    result = main(
        "--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--notebooks-dir", notebooks
    )
    assert result.returncode == EXIT_FAILED
    error = read_run_record(run_folders(runs_dir)[0])["error"]
    assert error["exception"] == "LockHeldError"
    assert f"locked by pid {os.getpid()}" in error["message"]  # this process: main() ran here


def test_a_run_killed_hard_is_settled_by_list_and_does_not_block_the_next(
    sample_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir, served = copy_runs(sample_run.runs_dir, tmp_path)
    notebooks = notebooks_with(tmp_path, "01_extract", SIGNAL_THE_RUNNER.format("SIGKILL"))
    process = start_cli(
        "--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--notebooks-dir", notebooks
    )
    process.communicate(timeout=60)
    assert process.returncode == -9
    killed = run_folders(runs_dir)[-1]
    assert effective_status(read_run_record(killed)) == INCOMPLETE
    assert read_latest(runs_dir) == served
    listing = main("--list", "--runs-dir", runs_dir)
    row = next(line for line in listing.stdout.splitlines() if killed.name in line)
    assert re.search(r"\sfailed\s.*01_extract: abandoned: its process \(pid", row), row
    record = read_run_record(killed)  # settled once, in the run's own record
    assert record["status"] == FAILED and record["error"]["exception"] == "abandoned"
    # the dead process's lock does not block the next pipeline command
    kept = main("--keep", "5", "--runs-dir", runs_dir)
    assert kept.returncode == 0, kept.stdout + kept.stderr


def test_real_data_run_succeeds(real_data_dir: Path, tmp_path: Path) -> None:
    result = main("--data-dir", real_data_dir, "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SYNTHETIC" not in result.stdout
    run_dir = tmp_path / read_latest(tmp_path)
    record = read_run_record(run_dir)
    assert record["synthetic_sample"] is False
    features = pd.read_parquet(run_dir / "features_monthly.parquet")
    assert len(features) == 74
    assert record["headline"]["rmse_clp_per_l"] <= 7.0


def test_a_corrupt_input_fails_in_extract_naming_file_and_column(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(sample_data_dir, data)
    prices = (data / "precio_leche.csv").read_text().splitlines()
    year, month, _ = prices[5].split(",")
    prices[5] = f"{year},{month},n/a"
    (data / "precio_leche.csv").write_text("\n".join(prices) + "\n")
    result = main("--data-dir", data, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 1
    assert "stage 01_extract failed" in result.stdout
    assert "precio_leche.csv" in result.stdout and "Precio_leche" in result.stdout
    assert read_latest(tmp_path / "runs") is None


def test_the_summary_says_the_forecast_its_ranges_why_and_how_it_did_in_words(capsys) -> None:
    row = {"month": "2020-05", "horizon": 1, "predicted_clp_per_l": 330.18, "model": "m"}
    row |= {"lower_80_clp_per_l": 321.44, "upper_80_clp_per_l": 339.16, "reason": "Why so."}
    headline = {"rmse_clp_per_l": 6.734, "mae_clp_per_l": 4.65, "mape_pct": 1.77, "r2": 0.9}
    record = {"stages": [], "forecast_path": [row], "headline": headline}
    scored = {"horizons": {"1": {"count": 6, "rmse_clp_per_l": 7.1, "inside": {"80": 0.83}}}}
    for track, said in [
        ({"runs": 0, "horizons": {}}, "nothing scored yet; the first score comes with the first "
         "run whose data include the price of 2020-05"),
        (scored, "published 1-month forecasts so far: 6"),
    ]:  # fmt: skip
        outcome = state.RunOutcome(
            "succeeded", "R", Path("runs/R"), record | {"track_record": track}
        )
        options.summarize(outcome)
        lines = capsys.readouterr().out.splitlines()
        assert lines[2:6] == [
            "  next month, 2020-05: 330.2 CLP/L; 80% likely between 321.4 and 339.2",
            "    model: m",
            "    why: Why so.",
            "  backtest: on past data, one month ahead, it missed by 6.7 CLP/L typically (root "
            "mean squared error), 4.7 CLP/L on average, about 2% of the price",
        ]
        assert lines[6:8] == [
            "  forecast path, months ahead:",
            "     1: 2020-05: 330.2 CLP/L; 80% likely between 321.4 and 339.2",
        ]
        assert lines[8].startswith(f"  track record: {said}")


def test_the_flag_to_publish_a_synthetic_run_anyway_is_documented() -> None:
    help_text = main("--help").stdout
    assert "--allow-synthetic-over-real" in help_text and "4 the run succeeded" in help_text
    assert "--allow-synthetic-over-real" in (PROJECT_ROOT / "docs" / "pipeline.md").read_text()


# --- OS errors during a run --------------------------------------------------------------


def test_a_full_disk_in_a_stage_fails_the_run_naming_stage_file_and_message(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    code = (
        "import errno, os\n"
        "raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), run_dir + '/inputs.json')"
    )
    notebooks = notebooks_with(tmp_path, "01_extract", code)
    result = main(
        "--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--notebooks-dir", notebooks
    )
    assert result.returncode == 1
    (run_dir,) = run_folders(runs_dir)
    error = read_run_record(run_dir)["error"]
    assert error["stage"] == "01_extract" and error["exception"] == "OSError"
    assert "No space left on device" in error["message"]
    assert "inputs.json" in error["message"]
    assert "stage 01_extract failed" in result.stdout and "No space left" in result.stdout


def test_run_json_that_cannot_be_written_is_said_on_stderr_and_exits_1(
    sample_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    write = write_run_record

    def full_after_start(run_dir: Path, record: dict) -> None:
        if record["stages"] or record["status"] != "running":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(run_dir / "run.json"))
        write(run_dir, record)

    monkeypatch.setattr(state, "write_run_record", full_after_start)
    fake_notebooks(monkeypatch)
    code = run_pipeline.main(["--data-dir", str(sample_data_dir), "--runs-dir", str(tmp_path)])
    stderr = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert "cannot write" in stderr and "run.json" in stderr and "No space left" in stderr
    assert read_latest(tmp_path) is None


# --- misuse: one line on stderr, exit 2, nothing started ----------------------------------


def misuse(capsys, *args: str | Path) -> str:
    """The one line ``run_pipeline.main(args)`` writes on stderr; it must exit 2."""
    try:
        code = run_pipeline.main([str(arg) for arg in args])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE, out + err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.fixture
def served_runs(tmp_path: Path) -> Path:
    """A runs folder serving a (fake) succeeded run."""
    runs_dir = tmp_path / "runs"
    run_dir = runs_dir / "20261101T000000Z"
    run_dir.mkdir(parents=True)
    write_run_record(run_dir, {"run_id": run_dir.name, "status": "succeeded"})
    publish_latest(runs_dir, run_dir.name)
    return runs_dir


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("ridge_alpha", "-1", "a finite number in (0, inf)"),
        ("ridge_alpha", "inf", "a finite number in (0, inf)"),
        ("ridge_alpha", "nan", "a finite number in (0, inf)"),
        ("half_lives_years", "[0.0]", "each a finite number in (0, inf)"),
        ("interval_levels", "[0.8, 1.5]", "each a finite number in (0, 1)"),
        ("backtest_end", "2020-13", "YYYY-MM"),
        ("test_fraction", "1", "a finite number in (0, 1)"),
        ("split_random_state", "-3", "an integer in [0,"),
        ("fit_prototype", "maybe", "true or false"),
    ],
)
def test_a_parameter_breaking_its_rule_is_one_line_and_exit_2(
    capsys, sample_data_dir: Path, served_runs: Path, name: str, value: str, rule: str
) -> None:
    args = ["--data-dir", sample_data_dir, "--runs-dir", served_runs, "-p", name, value]
    line = misuse(capsys, *args)
    assert f"parameter '{name}'" in line and rule in line
    assert value.strip("[]").split(", ")[-1] in line  # the value
    assert read_latest(served_runs) == "20261101T000000Z"
    assert len(run_folders(served_runs)) == 1


def test_a_parameter_given_twice_is_refused(capsys, sample_data_dir: Path, tmp_path: Path) -> None:
    line = misuse(
        capsys, "--data-dir", sample_data_dir, "--runs-dir", tmp_path,
        "-p", "ridge_alpha", "1", "-p", "ridge_alpha", "2",
    )  # fmt: skip
    assert "'ridge_alpha' is given twice" in line


def test_a_data_dir_symlink_loop(capsys, tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    line = misuse(capsys, "--data-dir", tmp_path / "a", "--runs-dir", tmp_path / "runs")
    assert "--data-dir" in line and "loop" in line.lower()


def test_a_data_dir_that_is_a_file(capsys, tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("x")
    line = misuse(capsys, "--data-dir", tmp_path / "data.csv", "--runs-dir", tmp_path / "runs")
    assert "is not a folder" in line


@pytest.mark.parametrize("command", [["--data-dir", "data/sample"], ["--list"], ["--keep", "3"]])
def test_a_runs_dir_that_is_a_file(capsys, tmp_path: Path, command) -> None:
    (tmp_path / "runs").write_text("x")
    line = misuse(capsys, "--runs-dir", tmp_path / "runs", *command)
    assert "--runs-dir" in line and "is not a folder" in line


def test_a_read_only_runs_folder(sample_data_dir: Path, tmp_path: Path) -> None:
    """A read-only bind mount (root ignores permission bits, not a read-only mount)."""
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a read-only folder")
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind -o ro {runs_dir} {runs_dir}"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip("this machine does not allow a private read-only bind mount")
    command = " ".join(
        [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"),
         "--data-dir", str(sample_data_dir), "--runs-dir", str(runs_dir)]
    )  # fmt: skip
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind -o ro {runs_dir} {runs_dir} && {command}"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --runs-dir {runs_dir} is not writable (Read-only file system: "
        + result.stderr.split("(Read-only file system: ")[1].strip()
    ]
    assert list(runs_dir.iterdir()) == []


@pytest.mark.parametrize("delay", ["-5", "nan", "inf", "1e9", "soon"])
def test_a_retry_delay_that_makes_no_sense(capsys, delay: str) -> None:
    assert "--retry-delay" in misuse(capsys, "--retry-delay", delay)


@pytest.mark.parametrize("retries", ["-1", "two"])
def test_retries_that_make_no_sense(capsys, retries: str) -> None:
    assert "--retries" in misuse(capsys, "--retries", retries)


@pytest.mark.parametrize("keep", ["0", "-1", "all"])
def test_keep_that_makes_no_sense(capsys, keep: str) -> None:
    assert "--keep" in misuse(capsys, "--keep", keep)


def test_list_parameters_of_missing_notebooks(capsys) -> None:
    line = misuse(capsys, "--list-parameters", "--notebooks-dir", "/nonexistent")
    assert "--notebooks-dir /nonexistent does not exist" in line


def test_an_unreadable_notebook(capsys, tmp_path: Path, sample_data_dir: Path) -> None:
    notebooks = tmp_path / "notebooks"
    shutil.copytree(PROJECT_ROOT / "notebooks", notebooks)
    (notebooks / "03_preprocess.ipynb").write_text("not a notebook")
    for command in (["--list-parameters"], ["--data-dir", sample_data_dir, "--runs-dir", tmp_path]):
        line = misuse(capsys, "--notebooks-dir", notebooks, *command)
        assert "03_preprocess.ipynb is unreadable" in line


@pytest.mark.parametrize("cron", ["", "   ", "* * *", "61 * * * *"])
def test_a_schedule_that_is_empty_or_malformed(capsys, sample_data_dir, tmp_path, cron) -> None:
    line = misuse(capsys, "--schedule", cron, "--data-dir", sample_data_dir, "--runs-dir", tmp_path)
    assert line.startswith("error: --schedule: cron expression")
    assert run_folders(tmp_path) == []


@pytest.mark.parametrize("option", ["--data-dir", "--runs-dir", "--notebooks-dir"])
def test_an_empty_path(capsys, option: str) -> None:
    assert f"{option}: is empty" in misuse(capsys, option, "")


def test_commands_that_exclude_each_other(capsys) -> None:
    assert "not allowed with" in misuse(capsys, "--list", "--keep", "3")


def test_keep_with_a_broken_latest_removes_nothing(capsys, served_runs: Path) -> None:
    (served_runs / "LATEST").write_bytes(b"\xff" * 10)
    assert "not pruning" in misuse(capsys, "--keep", "1", "--runs-dir", served_runs)
    assert len(run_folders(served_runs)) == 1


def test_misuse_prints_no_traceback_from_a_real_process(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "a")
    result = cli("--data-dir", tmp_path / "a", "--runs-dir", tmp_path / "runs", timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_publish_rolls_back_to_an_earlier_run_and_list_shows_it(tmp_path: Path) -> None:
    make_run(tmp_path, "20261127T120301Z")
    make_run(tmp_path, "20261127T120302Z", status=FAILED, publish=False)
    make_run(tmp_path, "20261127T120303Z")
    result = main("--runs-dir", tmp_path, "--publish", "20261127T120301Z")
    assert result.returncode == EXIT_OK, result.stderr
    assert (tmp_path / LATEST).read_text().strip() == "20261127T120301Z"
    refused = main("--runs-dir", tmp_path, "--publish", "20261127T120302Z")
    assert refused.returncode == EXIT_USAGE
    assert "20261127T120302Z cannot be served" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert (tmp_path / LATEST).read_text().strip() == "20261127T120301Z"
    listing = main("--runs-dir", tmp_path, "--list").stdout
    assert "20261127T120301Z  by publish" in listing


# --- --publish under signals, with a broken log, and without surprises (issue 19) ----------


@pytest.mark.parametrize("target", [LATEST, PUBLICATIONS_FILE])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_publish_interrupted_ends_with_one_line_and_latest_and_the_log_agree(
    tmp_path: Path, target: str, signum: signal.Signals
) -> None:
    make_run(tmp_path, "20261127T120301Z")
    make_run(tmp_path, "20261127T120302Z", publish=False)
    prelude = injected_signal(target, signum)
    result = cli_with(prelude, "--runs-dir", tmp_path, "--publish", "20261127T120302Z")
    assert result.returncode == EXIT_INTERRUPTED
    assert result.stderr.splitlines() == [
        f"stopped: stopped by {signum.name}, after run 20261127T120302Z was published "
        "(LATEST and the log name it)"
    ]
    entries, _ = read_publications(tmp_path)
    assert read_latest(tmp_path) == entries[-1]["run_id"] == "20261127T120302Z"


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_publish_with_a_log_that_cannot_be_written_says_truly_latest_was_not_replaced(
    tmp_path: Path, kind: str
) -> None:
    make_run(tmp_path, "20261127T120301Z")
    make_run(tmp_path, "20261127T120302Z", publish=False)
    log = tmp_path / PUBLICATIONS_FILE
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jsonl"
    {"directory": Path.mkdir, "fifo": os.mkfifo, "symlink": lambda p: p.symlink_to(outside)}[kind](
        log
    )
    result = cli("--runs-dir", tmp_path, "--publish", "20261127T120302Z", timeout=60)
    assert result.returncode == EXIT_FAILED
    assert result.stderr.splitlines() == [
        f"error: LATEST not replaced: {result.stderr.split('LATEST not replaced: ')[1].strip()}"
    ]
    assert str(log) in result.stderr
    assert read_latest(tmp_path) == "20261127T120301Z" and not outside.exists()


def test_publish_says_the_served_run_is_already_served_and_logs_nothing(tmp_path: Path) -> None:
    make_run(tmp_path, "20261127T120301Z", publish=False)
    assert main("--runs-dir", tmp_path, "--publish", "20261127T120301Z").returncode == EXIT_OK
    log = (tmp_path / PUBLICATIONS_FILE).read_bytes()
    again = main("--runs-dir", tmp_path, "--publish", "20261127T120301Z")
    assert again.returncode == EXIT_OK
    assert again.stdout == "run 20261127T120301Z is already the served one: nothing to do\n"
    assert (tmp_path / PUBLICATIONS_FILE).read_bytes() == log


def test_publish_refuses_a_synthetic_run_over_a_real_one_unless_allowed(
    capsys, tmp_path: Path
) -> None:
    make_run(tmp_path, "20261127T120301Z", synthetic=False)
    make_run(tmp_path, "20261127T120302Z", synthetic=True, publish=False)
    line = misuse(capsys, "--runs-dir", tmp_path, "--publish", "20261127T120302Z")
    assert "synthetic sample" in line and "--allow-synthetic-over-real" in line
    assert read_latest(tmp_path) == "20261127T120301Z"
    allowed = main(
        "--runs-dir", tmp_path, "--publish", "20261127T120302Z", "--allow-synthetic-over-real"
    )
    assert allowed.returncode == EXIT_OK and read_latest(tmp_path) == "20261127T120302Z"


@pytest.mark.parametrize(
    ("command", "ignored"),
    [
        (["--publish", "20261101T000000Z", "-p", "ridge_alpha", "2", "--data-dir", "."],
         "--data-dir, -p"),
        (["--publish", "20261101T000000Z", "--force", "--retries", "2"], "--force, --retries"),
        (["--list", "--notebooks-dir", "."], "--notebooks-dir"),
        (["--list", "--wait"], "--wait"),
        (["--keep", "1", "--schedule", "0 0 * * 0"], "--schedule"),
        (["--list-parameters", "--allow-synthetic-over-real"],
         "--runs-dir, --allow-synthetic-over-real"),
    ],
)  # fmt: skip
def test_options_a_command_does_not_take_are_refused_by_name(
    capsys, served_runs: Path, command: list[str], ignored: str
) -> None:
    """An option is honoured or refused, never silently ignored."""
    line = misuse(capsys, "--runs-dir", served_runs, *command)
    assert line == f"error: {command[0]} does not take {ignored}: remove them"
    assert read_latest(served_runs) == "20261101T000000Z"
    assert not (served_runs / PUBLICATIONS_FILE).exists()
    assert len(run_folders(served_runs)) == 1


def test_list_piped_into_head_prints_no_traceback(tmp_path: Path) -> None:
    make_history(tmp_path, 2000)  # a listing larger than a pipe holds
    command = shlex.join(pipeline_command("--list", "--runs-dir", tmp_path))
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command} | head -1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert (result.returncode, result.stderr) == (EXIT_OK, "")
    assert result.stdout.split() == ["run_id", "status", "duration", "data", "model",
                                     "rmse_clp_per_l", "note"]  # fmt: skip
