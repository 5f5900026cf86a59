"""The pipeline flow against a temporary local Prefect server (no network), on the sample data.

One server for the module, the flow command line's own (``flows.server``), in a Prefect home
of its own: its database, which takes most of a first start, also serves the command line's
servers started here. One full flow run, whose 02_clean fails at its first attempt and is
retried; the session's ``sample_run`` is the CLI's run to compare it with. The CLI
(``run_pipeline.py``) and the flow's own command line run in this process, or as a
subprocess where a test signals it.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import papermill
import pytest
from optional_prefect import REASON

pytest.importorskip("prefect", reason=REASON)

from fake_runs import dead_pid
from pipeline_cli import (
    STAGE_PRODUCTS,
    STAGES,
    Handshake,
    copy_runs,
    main,
    notebooks_with,
    run_folders,
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
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from run_factory import make_run

from milk_forecast.flows import cli as flow_cli
from milk_forecast.flows.artifacts import SUMMARY_KEY
from milk_forecast.flows.pipeline_flow import fail_abandoned_runs, milk_forecast_pipeline
from milk_forecast.flows.server import temporary_server
from milk_forecast.model.outputs import read_predictions
from milk_forecast.run_folder.layout import (
    METRICS_FILE,
    NOTEBOOKS_DIR,
    PREDICTIONS_FILE,
    REPORT_FILE,
)
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.record import FAILED, RUNNING, SUCCEEDED, read_run_record
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner import execute, kernels
from milk_forecast.runner.options import EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A temporary Prefect server for the whole module, as this process's Prefect API: its
    URL. Its home (``PREFECT_HOME``, so its database) is the module's, for every server the
    flow's command line starts here."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
        patch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with temporary_server() as url:
            yield url
            APILogWorker.drain_all()  # what is still queued, before the server stops
            EventsWorker.drain_all()


def run_flow(data_dir: Path, runs_dir: Path, **parameters: Any) -> Any:
    """One flow run in this process; its final state."""
    return milk_forecast_pipeline(
        data_dir=str(data_dir), runs_dir=str(runs_dir), return_state=True, **parameters
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
    """The flow run once on the sample data, each stage retried once at once, 02_clean
    failing at its first attempt: (final state, runs folder). The notebooks are the
    committed ones (the failure comes before papermill), so the CLI's run has the same
    fingerprint."""
    runs_dir = tmp_path_factory.mktemp("flow") / "runs"
    execute_notebook = papermill.execute_notebook
    attempts: list[str] = []

    def first_attempt_fails(notebook: Any, output: str, **kwargs: Any) -> Any:
        if Path(output).stem == "02_clean" and "02_clean" not in attempts:
            attempts.append("02_clean")
            raise RuntimeError("fails the first time")
        return execute_notebook(notebook, output, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(execute.papermill, "execute_notebook", first_attempt_fails)
        state = run_flow(sample_data_dir, runs_dir, stage_retries=1, stage_retry_delay=0)
    return state, runs_dir


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
        ("01_extract", SUCCEEDED),
        ("02_clean", FAILED),
        ("02_clean", SUCCEEDED),
        ("03_preprocess", SUCCEEDED),
        ("04_train", SUCCEEDED),
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


def test_a_stage_failing_once_is_retried_as_one_task_run(flow_run) -> None:
    clean = task_runs(flow_run[0])["02_clean"]
    assert clean.run_count == 2
    names = [state.name for state in states_of(clean)]
    # the failed attempt ends in Retrying, the second one in Completed; the log says why
    assert "Retrying" in names and names[-1] == "Completed"
    (failure,) = [line for line in task_log(clean) if "failed with exception" in line]
    assert "02_clean.ipynb" in failure and "RuntimeError: fails the first time" in failure


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
    flow_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir, served = copy_runs(flow_run[1], tmp_path)
    result = main("--data-dir", sample_data_dir, "--runs-dir", runs_dir)
    assert result.returncode == EXIT_OK, result.stderr
    assert "nothing to do" in result.stdout and served in result.stdout
    assert [p.name for p in run_folders(runs_dir)] == [served]


def test_the_flow_after_the_cli_does_nothing_and_both_write_the_same_folders(
    flow_run, sample_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    by_flow, by_cli = run_folders(flow_run[1])[0], sample_run.run_dir

    def contents(run_dir: Path) -> list[str]:
        return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*"))

    assert contents(by_cli) == contents(by_flow)
    flow_record, cli_record = (read_run_record(d) for d in (by_flow, by_cli))
    assert sorted(flow_record) == sorted(cli_record)
    assert flow_record["fingerprint"] == cli_record["fingerprint"]

    runs_dir, served = copy_runs(sample_run.runs_dir, tmp_path)
    state = run_flow(sample_data_dir, runs_dir)
    assert state.is_completed(), state.message
    assert state.result()["status"] == "skipped" and state.result()["run_id"] == served
    assert [p.name for p in run_folders(runs_dir)] == [served]
    assert set(task_runs(state)) == {"plan"}


def test_a_stage_that_always_fails_fails_the_flow_naming_notebook_and_cell(
    flow_run, sample_data_dir: Path, tmp_path: Path
) -> None:
    runs_dir, served = copy_runs(flow_run[1], tmp_path)
    notebooks = notebooks_with(tmp_path, "01_extract", "raise ValueError('broken on purpose')")
    state = run_flow(
        sample_data_dir, runs_dir, notebooks_dir=str(notebooks), stage_retries=1,
        stage_retry_delay=0,
    )  # fmt: skip
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    failed_run = run_folders(runs_dir)[-1]
    for part in (
        "stage 01_extract failed",
        str(failed_run / "notebooks" / "01_extract.ipynb"),
        "cell In [",
        "ValueError: broken on purpose",
    ):
        assert part in str(error)
    assert read_latest(runs_dir) == served
    record = read_run_record(failed_run)
    assert record["status"] == FAILED and record["error"]["stage"] == "01_extract"
    assert [s["status"] for s in record["stages"]] == [FAILED] * 2
    tasks = task_runs(state)
    assert tasks["01_extract"].state.is_failed() and "broken on purpose" in (
        tasks["01_extract"].state.message or ""
    )
    assert "02_clean" not in tasks


def test_a_flow_run_holds_the_runs_folder_and_a_stopped_flow_run_is_failed(
    prefect_api: str, sample_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flow's command line, stopped by SIGTERM in a stage; meanwhile run_pipeline.py,
    another flow run and the flow's command line are refused the runs folder."""
    runs_dir = tmp_path / "runs"
    running = Handshake(tmp_path)
    flow_process = start_flow_cli(
        prefect_api, "--data-dir", sample_data_dir, "--runs-dir", runs_dir,
        "--notebooks-dir", notebooks_with(tmp_path, "01_extract", running.code),
    )  # fmt: skip
    try:
        running.wait()  # inside the waiting cell
        holder = f"locked by pid {flow_process.pid}"
        refused = main("--data-dir", sample_data_dir, "--runs-dir", runs_dir)
        assert refused.returncode == EXIT_LOCKED, refused.stdout + refused.stderr
        assert holder in refused.stderr and "prefect flow run" in refused.stderr
        state = run_flow(sample_data_dir, runs_dir)
        assert state.is_failed() and holder in str(state.result(raise_on_failure=False))
        capsys.readouterr()
        argv = ["run", "--data-dir", str(sample_data_dir), "--runs-dir", str(runs_dir)]
        assert flow_cli.main(argv) == EXIT_LOCKED
        assert holder in capsys.readouterr().err
    finally:
        flow_process.send_signal(signal.SIGTERM)
        _, stderr = flow_process.communicate(timeout=60)
    assert flow_process.returncode == EXIT_INTERRUPTED, stderr
    (run_dir,) = run_folders(runs_dir)
    record = read_run_record(run_dir)
    assert record["status"] == FAILED
    assert record["error"]["exception"] == "interrupted" and "SIGTERM" in record["error"]["message"]
    assert record["stages"][-1]["name"] == "01_extract"
    assert record["stages"][-1]["status"] == FAILED
    assert read_latest(runs_dir) is None


def descendants(pid: int) -> dict[int, str]:
    """The processes descended from ``pid``, by pid: their command lines."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):  # a process that has just ended
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
            parents[int(entry.name)] = (int(stat.rsplit(")", 1)[1].split()[1]), command)
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, command) in parents.items():
            if ppid == parent:
                found[child] = command.replace(b"\0", b" ").decode(errors="replace")
                frontier.append(child)
    return found


def ends_within(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` (not a child of this one) ends within ``seconds``."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], seconds)[0])
    finally:
        os.close(handle)


def test_a_flow_run_killed_hard_leaves_nothing_running_and_is_settled_by_the_next_command(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    """``kill -9`` of the flow's command line on its temporary Prefect server: the server
    and the kernels end with it, and ``--list`` marks the run it left running failed."""
    runs_dir = tmp_path / "runs"
    running = Handshake(tmp_path)
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "milk_forecast.flows", "run", "--data-dir", sample_data_dir,
         "--runs-dir", runs_dir, "--notebooks-dir",
         notebooks_with(tmp_path, "01_extract", running.code)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
        env=env,
    )  # fmt: skip
    try:
        running.wait()  # inside the waiting cell: the server and the kernels are up
        left = descendants(process.pid)
    finally:
        process.kill()
        process.wait()
    assert any("flows/server.py" in command for command in left.values()), left
    assert any("ipykernel" in command for command in left.values()), left
    assert [left[pid] for pid in left if not ends_within(pid, 30)] == []
    kernels.sockets_folder().rmdir()  # what the next run does first: the killed one's go
    assert list(Path(tempfile.gettempdir()).glob(f"{kernels.SOCKETS_PREFIX}{process.pid}-*")) == []
    (run_dir,) = run_folders(runs_dir)
    assert read_run_record(run_dir)["status"] == RUNNING
    listing = main("--list", "--runs-dir", runs_dir)
    assert "01_extract: abandoned" in listing.stdout, listing.stdout
    assert read_run_record(run_dir)["status"] == FAILED


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
