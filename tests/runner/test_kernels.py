from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill
import papermill.engines as papermill_engines_module
import pytest
from jupyter_core.utils import run_sync
from papermill.engines import NBClientEngine

from milk_forecast.runner import kernels, pipeline
from milk_forecast.runner.stages import load_stages

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def parameters_cell(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]})


def execute_on(kernel: object, code: str, tmp_path: Path) -> str:
    """Run a one-cell notebook on ``kernel`` with the runner's engine; what it printed."""
    executed = papermill.execute_notebook(
        notebook(nbformat.v4.new_code_cell(code)),
        str(tmp_path / "out.ipynb"),
        engine_name=kernels.ENGINE_NAME,
        progress_bar=False,
        km=kernel,
    )
    return executed.cells[0].outputs[0].text.strip()


def test_imports_cell_is_the_first_code_cell_that_is_not_the_parameters() -> None:
    nb = notebook(
        nbformat.v4.new_markdown_cell("# title"),
        parameters_cell("run_dir = 'x'"),
        nbformat.v4.new_code_cell("import json"),
        nbformat.v4.new_code_cell("print(1)"),
    )
    assert kernels.imports_cell(nb) == "import json"
    assert kernels.imports_cell(notebook(nbformat.v4.new_markdown_cell("# only text"))) == ""


def test_a_prepared_kernel_has_run_its_warmup_before_the_notebook(tmp_path: Path) -> None:
    pool = kernels.KernelPool()
    assert pool.take("nothing prepared") is None
    warmup = "import sys\nsys.modules['warm_marker'] = sys"
    pool.prepare("stage", tmp_path, warmup)
    kernel = pool.take("stage")
    warmer = pool._warmers[id(kernel)]
    reply = run_sync(warmer.get_shell_msg)(timeout=60)  # the warm-up has run
    assert reply["content"]["status"] == "ok"
    try:
        printed = execute_on(kernel, "import sys\nprint('warm_marker' in sys.modules)", tmp_path)
    finally:
        pool.release(kernel)
    assert printed == "True"
    assert not kernel.has_kernel


def test_shutdown_all_stops_kernels_nobody_took(tmp_path: Path) -> None:
    pool = kernels.KernelPool()
    pool.prepare("a", tmp_path, "")
    manager = pool._ready["a"]
    pool.shutdown_all()
    assert pool.take("a") is None
    assert not manager.has_kernel


def test_kernels_use_unix_sockets_in_a_private_folder_removed_on_release(
    tmp_path: Path,
) -> None:
    """No TCP port a kernel could lose to another connection before binding it."""
    pool = kernels.KernelPool()
    pool.prepare("stage", tmp_path, "")
    kernel = pool.take("stage")
    folder = Path(kernel.connection_file).parent
    try:
        assert kernel.get_connection_info()["transport"] == "ipc"
        assert folder.stat().st_mode & 0o777 == 0o700
        assert execute_on(kernel, "print(6 * 7)", tmp_path) == "42"
    finally:
        pool.release(kernel)
    assert not folder.exists()


def run_one_notebook(tmp_path: Path) -> None:
    pool = kernels.KernelPool()
    pool.prepare("stage", tmp_path, "import json")
    kernel = pool.take("stage")
    try:
        assert execute_on(kernel, "print(json.dumps(1))", tmp_path) == "1"
    finally:
        pool.release(kernel)


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_running_notebooks_leaves_no_sockets_open(tmp_path: Path) -> None:
    run_one_notebook(tmp_path)  # first use loads what stays loaded
    before = open_files()
    for _ in range(3):
        run_one_notebook(tmp_path)
    assert open_files() <= before  # a scheduler runs for months: nothing may pile up


def test_kernels_import_this_checkout_even_when_another_copy_comes_first(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy" / "milk_forecast"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("DECOY = True\n")
    env = {**os.environ, "PYTHONPATH": str(decoy.parent)}
    pool = kernels.KernelPool(env=pipeline.kernel_environment(env))
    pool.prepare("stage", tmp_path, "")
    kernel = pool.take("stage")
    try:
        printed = execute_on(
            kernel, "import milk_forecast\nprint(milk_forecast.__file__)", tmp_path
        )
    finally:
        pool.release(kernel)
    assert Path(printed) == PROJECT_ROOT / "milk_forecast" / "__init__.py"


def test_runner_engine_gives_the_client_what_papermills_engine_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RunnerEngine copies NBClientEngine.execute_managed_notebook: check the copy against
    # the installed (pinned) papermill, adding only the kernel shutdown and before_cells.
    requirements = (PROJECT_ROOT / "requirements.txt").read_text()
    assert f"papermill=={papermill.__version__}" in requirements
    seen: dict[str, dict] = {}

    def recording_client(name: str):
        class Client:
            def __init__(self, nb_man: object, **kwargs: object) -> None:
                seen[name] = kwargs

            def execute(self, **kwargs: object) -> None:
                return None

        return Client

    monkeypatch.setattr(papermill_engines_module, "PapermillNotebookClient", recording_client("pm"))
    monkeypatch.setattr(kernels, "_RunnerClient", recording_client("ours"))
    arguments = {
        "kernel_name": "python3",
        "log_output": True,
        "start_timeout": 7,
        "execution_timeout": 9,
        "input_path": "in.ipynb",
        "cwd": "/tmp",
    }
    NBClientEngine.execute_managed_notebook(object(), **arguments)
    kernels.RunnerEngine.execute_managed_notebook(object(), **arguments)
    ours = dict(seen["ours"])
    assert ours.pop("shutdown_kernel") == "immediate"
    assert ours.pop("before_cells") is None
    assert ours == seen["pm"]


def test_stage_kernels_give_a_retried_stage_a_fresh_kernel(tmp_path: Path) -> None:
    stages = load_stages()[:3]
    plan = pipeline.RunPlan(tmp_path, tmp_path, stages, {}, {}, "")
    context = pipeline.RunContext(plan, "run", tmp_path, {}, print)
    with pipeline.StageKernels(context) as stage_kernels:
        first = stage_kernels.take(stages[0])
        ahead = dict(stage_kernels._pool._ready)  # stages 1 and 2, started ahead
        stage_kernels.release(first)  # the attempt failed; an orchestrator retries it
        again = stage_kernels.take(stages[0])
        try:
            assert again is not None and again is not first and again.has_kernel
            assert not first.has_kernel
            assert stage_kernels._pool._ready == ahead  # nothing started twice
        finally:
            stage_kernels.release(again)
