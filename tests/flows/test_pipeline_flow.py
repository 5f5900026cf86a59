"""The pipeline flow against a temporary local Prefect server (no network), on the sample data.

One server for the module (``prefect_test_harness`` takes seconds to start). The CLI
(``run_pipeline.py``) and the flow's own command line run as subprocesses talking to it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from optional_prefect import REASON

pytest.importorskip("prefect", reason=REASON)

from pipeline_cli import (
    STAGE_PRODUCTS,
    STAGES,
    cli,
    notebooks_with,
    run_folders,
    wait_for_stage,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterTaskRunId,
)
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from run_factory import make_run

from milk_forecast.flows.artifacts import SUMMARY_KEY
from milk_forecast.flows.pipeline_flow import fail_abandoned_runs, milk_forecast_pipeline
from milk_forecast.model.outputs import read_predictions
from milk_forecast.run_folder.latest import read_latest
from milk_forecast.run_folder.layout import (
    METRICS_FILE,
    NOTEBOOKS_DIR,
    PREDICTIONS_FILE,
    REPORT_FILE,
)
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.record import FAILED, RUNNING, SUCCEEDED, read_run_record
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner.options import EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NO_TELEMETRY = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server and database for the whole module."""
    previous = {key: os.environ.get(key) for key in NO_TELEMETRY}
    os.environ.update(NO_TELEMETRY)
    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run_flow(data_dir: Path, runs_dir: Path, **parameters: Any) -> Any:
    """One flow run in this process; its final state."""
    return milk_forecast_pipeline(
        data_dir=str(data_dir), runs_dir=str(runs_dir), return_state=True, **parameters
    )


def run_flow_retrying_once(data_dir: Path, runs_dir: Path, notebooks: Path) -> Any:
    """A flow run of the notebooks in ``notebooks``, each stage retried once, at once."""
    return run_flow(
        data_dir, runs_dir, notebooks_dir=str(notebooks), stage_retries=1, stage_retry_delay=0
    )


def start_flow_cli(api_url: str, *args: str | Path) -> subprocess.Popen[str]:
    """``python -m milk_forecast.flows run ...`` against the module's server."""
    return subprocess.Popen(
        [sys.executable, "-m", "milk_forecast.flows", "run", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PREFECT_API_URL": api_url},
    )


def flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


def task_runs(state: Any) -> dict[str, Any]:
    """The flow run's task runs by task name (``plan``, the stages, ``publish``)."""
    runs_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id(state)]))
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=runs_filter)
    return {run.name.rsplit("-", 1)[0]: run for run in runs}


def states_of(task_run: Any) -> list[Any]:
    """The task run's states in time order (Prefect 3: a retry is one task run)."""
    with get_client(sync_client=True) as client:
        states = client.read_task_run_states(task_run.id)
    return sorted(states, key=lambda s: s.timestamp)


def task_log(task_run: Any) -> list[str]:
    """The task run's log messages, as the UI shows them."""
    APILogWorker.drain_all()
    log_filter = LogFilter(task_run_id=LogFilterTaskRunId(any_=[task_run.id]))
    with get_client(sync_client=True) as client:
        return [log.message for log in client.read_logs(log_filter=log_filter)]


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory, sample_data_dir: Path):
    """The flow run once on the sample data: (final state, runs folder)."""
    runs_dir = tmp_path_factory.mktemp("flow") / "runs"
    return run_flow(sample_data_dir, runs_dir), runs_dir


def test_the_flow_runs_the_sample_end_to_end_and_publishes_latest(flow_run) -> None:
    state, runs_dir = flow_run
    assert state.is_completed(), state.message
    result = state.result()
    assert result["status"] == SUCCEEDED
    (run_dir,) = run_folders(runs_dir)
    assert result["run_id"] == run_dir.name == read_latest(runs_dir)
    record = read_run_record(run_dir)
    assert record["status"] == SUCCEEDED and record["synthetic_sample"] is True
    assert [(s["name"], s["status"]) for s in record["stages"]] == [
        (name, SUCCEEDED) for name in STAGES
    ]
    assert (
        result["headline"] == record["headline"] == read_metrics(run_dir / METRICS_FILE)["headline"]
    )
    read_predictions(run_dir / PREDICTIONS_FILE)
    for name in STAGE_PRODUCTS:
        assert (run_dir / name).is_file(), name
    for stage in STAGES:
        assert (run_dir / NOTEBOOKS_DIR / f"{stage}.ipynb").is_file()
    assert set(task_runs(state)) == {"plan", *STAGES, "publish"}


def test_notebooks_report_and_figures_are_flow_run_artifacts(flow_run) -> None:
    state, runs_dir = flow_run
    run_dir = run_folders(runs_dir)[0]
    artifact_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)]))
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=artifact_filter)
    (summary,) = [a for a in artifacts if a.key == SUMMARY_KEY]
    # Links (Prefect stores them as markdown): one per stage on its task run, the report's.
    links = {
        re.fullmatch(r"\[(.+)\]\((.+)\)", str(a.data)).groups(): a
        for a in artifacts
        if a is not summary
    }
    stage_files = [f"{NOTEBOOKS_DIR}/{stage}.ipynb" for stage in STAGES]
    assert sorted(links) == sorted(
        (f"{run_dir.name}/{name}", (run_dir / name).as_uri())
        for name in [*stage_files, REPORT_FILE]
    )
    on_tasks = {text for (text, _), artifact in links.items() if artifact.task_run_id}
    assert on_tasks == {f"{run_dir.name}/{name}" for name in stage_files}
    record = read_run_record(run_dir)
    assert run_dir.name in summary.data
    assert f"| rmse_clp_per_l | {record['headline']['rmse_clp_per_l']:.2f} |" in summary.data
    assert f"| month | {record['forecast']['month']} |" in summary.data


def test_the_cli_after_the_flow_with_the_same_inputs_does_nothing(
    flow_run, sample_data_dir: Path
) -> None:
    _, runs_dir = flow_run
    before = run_folders(runs_dir)
    result = cli("--data-dir", sample_data_dir, "--runs-dir", runs_dir)
    assert result.returncode == EXIT_OK, result.stderr
    assert "nothing to do" in result.stdout and before[0].name in result.stdout
    assert run_folders(runs_dir) == before


def test_the_flow_after_the_cli_does_nothing_and_both_write_the_same_folders(
    flow_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(flow_run[1], runs_dir)
    (by_flow,) = run_folders(runs_dir)
    forced = cli("--data-dir", sample_data_dir, "--runs-dir", runs_dir, "--force")
    assert forced.returncode == EXIT_OK, forced.stdout + forced.stderr
    by_cli = run_folders(runs_dir)[-1]
    assert read_latest(runs_dir) == by_cli.name != by_flow.name

    def contents(run_dir: Path) -> list[str]:
        return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))

    assert contents(by_cli) == contents(by_flow)
    flow_record, cli_record = (read_run_record(d) for d in (by_flow, by_cli))
    assert sorted(flow_record) == sorted(cli_record)
    assert flow_record["fingerprint"] == cli_record["fingerprint"]

    state = run_flow(sample_data_dir, runs_dir)
    assert state.is_completed(), state.message
    assert state.result()["status"] == "skipped" and state.result()["run_id"] == by_cli.name
    assert run_folders(runs_dir) == [by_flow, by_cli]
    assert set(task_runs(state)) == {"plan"}


def test_a_stage_failing_once_is_retried_and_the_flow_succeeds(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "failed-once"
    code = (
        "from pathlib import Path\n"
        f"marker = Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    raise RuntimeError('fails the first time')"
    )
    notebooks = notebooks_with(tmp_path, "02_clean", code)
    runs_dir = tmp_path / "runs"
    state = run_flow_retrying_once(sample_data_dir, runs_dir, notebooks)
    assert state.is_completed(), state.message
    (run_dir,) = run_folders(runs_dir)
    assert read_latest(runs_dir) == run_dir.name
    record = read_run_record(run_dir)
    assert record["status"] == SUCCEEDED
    assert [(s["name"], s["status"]) for s in record["stages"]] == [
        ("01_extract", SUCCEEDED),
        ("02_clean", FAILED),
        ("02_clean", SUCCEEDED),
        ("03_preprocess", SUCCEEDED),
        ("04_train", SUCCEEDED),
    ]
    clean = task_runs(state)["02_clean"]
    assert clean.run_count == 2
    names = [state.name for state in states_of(clean)]
    # the failed attempt ends in Retrying, the second one in Completed; the log says why
    assert "Retrying" in names and names[-1] == "Completed"
    (failure,) = [line for line in task_log(clean) if "failed with exception" in line]
    assert "02_clean.ipynb" in failure and "RuntimeError: fails the first time" in failure


def test_a_stage_that_always_fails_fails_the_flow_naming_notebook_and_cell(
    flow_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(flow_run[1], runs_dir)
    served = read_latest(runs_dir)
    notebooks = notebooks_with(tmp_path, "02_clean", "raise ValueError('broken on purpose')")
    state = run_flow_retrying_once(sample_data_dir, runs_dir, notebooks)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    failed_run = run_folders(runs_dir)[-1]
    for part in (
        "stage 02_clean failed",
        str(failed_run / "notebooks" / "02_clean.ipynb"),
        "cell In [",
        "ValueError: broken on purpose",
    ):
        assert part in str(error)
    assert read_latest(runs_dir) == served
    record = read_run_record(failed_run)
    assert record["status"] == FAILED and record["error"]["stage"] == "02_clean"
    assert [s["status"] for s in record["stages"]][-2:] == [FAILED] * 2
    tasks = task_runs(state)
    assert tasks["02_clean"].state.is_failed() and "broken on purpose" in (
        tasks["02_clean"].state.message or ""
    )
    assert "03_preprocess" not in tasks


def slow_notebooks(tmp_path: Path) -> Path:
    return notebooks_with(tmp_path, "02_clean", "import time\ntime.sleep(60)")


def test_the_flow_is_refused_while_the_cli_holds_the_runs_folder(
    prefect_api: str, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    holder = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--data-dir", str(sample_data_dir),
         "--runs-dir", str(runs_dir), "--notebooks-dir", str(slow_notebooks(tmp_path))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    try:
        wait_for_stage(runs_dir, "02_clean")
        state = run_flow(sample_data_dir, runs_dir)
        assert state.is_failed()
        message = str(state.result(raise_on_failure=False))
        assert f"locked by pid {holder.pid}" in message and "run_pipeline.py" in message
        refused = start_flow_cli(prefect_api, "--data-dir", sample_data_dir, "--runs-dir", runs_dir)
        _, stderr = refused.communicate(timeout=120)
        assert refused.returncode == EXIT_LOCKED, stderr
        assert f"locked by pid {holder.pid}" in stderr
        assert len(run_folders(runs_dir)) == 1
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.communicate(timeout=60)


def test_the_cli_is_refused_while_the_flow_holds_it_and_a_stopped_flow_run_is_failed(
    prefect_api: str, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir = tmp_path / "runs"
    flow_process = start_flow_cli(
        prefect_api, "--data-dir", sample_data_dir, "--runs-dir", runs_dir,
        "--notebooks-dir", slow_notebooks(tmp_path),
    )  # fmt: skip
    try:
        run_dir = wait_for_stage(runs_dir, "02_clean")
        refused = cli("--data-dir", sample_data_dir, "--runs-dir", runs_dir)
        assert refused.returncode == EXIT_LOCKED, refused.stdout + refused.stderr
        assert f"locked by pid {flow_process.pid}" in refused.stderr
        assert "prefect flow run" in refused.stderr
        time.sleep(1.0)  # inside the sleeping cell
    finally:
        flow_process.send_signal(signal.SIGTERM)
        _, stderr = flow_process.communicate(timeout=60)
    assert flow_process.returncode == EXIT_INTERRUPTED, stderr
    record = read_run_record(run_dir)
    assert record["status"] == FAILED
    assert record["error"]["exception"] == "interrupted" and "SIGTERM" in record["error"]["message"]
    assert record["stages"][-1]["name"] == "02_clean"
    assert record["stages"][-1]["status"] == FAILED
    assert read_latest(runs_dir) is None


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_hook_of_a_killed_flow_run_fails_its_run_only(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    served = make_run(runs_dir, "20261101T000000Z")
    older = make_run(runs_dir, "20261102T000000Z", status=RUNNING, publish=False)
    killed = make_run(runs_dir, "20261103T000000Z", status=RUNNING, publish=False)
    pid = dead_pid()
    for run_dir in (older, killed):
        record = read_run_record(run_dir)
        record["pid"] = pid
        record["stages"] = [{"name": "02_clean", "notebook": "notebooks/02_clean.ipynb",
                             "status": RUNNING, "seconds": None}]  # fmt: skip
        write_run_record(run_dir, record)
    flow_run = SimpleNamespace(
        start_time=datetime(2026, 11, 2, 12, tzinfo=UTC),
        expected_start_time=None,
        parameters={"runs_dir": str(runs_dir)},
    )
    fail_abandoned_runs(None, flow_run, SimpleNamespace(name="Cancelled", message="by the UI"))
    record = read_run_record(killed)
    assert record["status"] == FAILED
    assert record["stages"][-1]["status"] == FAILED
    assert record["error"]["exception"] == "interrupted"
    assert record["error"]["message"] == "flow run cancelled: by the UI"
    assert read_run_record(older)["status"] == RUNNING  # not this flow run's
    assert read_latest(runs_dir) == served.name
    assert record["finished_at"] is not None


def test_prefect_yaml_deploys_the_flow_to_its_pool(prefect_api: str) -> None:
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    prefect = [sys.executable, "-m", "prefect"]
    for command in (
        ["work-pool", "create", "milk-forecast", "--type", "process", "--overwrite"],
        ["--no-prompt", "deploy", "--all"],
    ):
        result = subprocess.run(
            [*prefect, *command], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env
        )
        assert result.returncode == 0, result.stdout + result.stderr
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("milk-forecast-pipeline/weekly")
    assert deployment.work_pool_name == "milk-forecast"
    assert deployment.entrypoint == "milk_forecast/flows/pipeline_flow.py:milk_forecast_pipeline"
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 0 * * 0" and schedule.schedule.timezone == "UTC"
    assert deployment.parameters["stage_retries"] == 1
    # the flow's parameters as Prefect sees them: the UI's form for a manual run
    assert set(deployment.parameter_openapi_schema["properties"]) == {
        "data_dir", "runs_dir", "parameters", "force", "wait",
        "stage_retries", "stage_retry_delay", "notebooks_dir", "allow_synthetic_over_real",
    }  # fmt: skip
