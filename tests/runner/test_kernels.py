from __future__ import annotations

import os
from pathlib import Path

import nbformat
import papermill
from fake_runs import dead_pid
from jupyter_core.utils import run_sync

from milk_forecast.runner import kernels
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


def start(tmp_path: Path, warmup: str = "", env: dict[str, str] | None = None):
    return kernels.start_kernel(tmp_path, warmup, None, env or kernels.kernel_environment())


def execute_on(kernel: kernels.StageKernel, code: str, tmp_path: Path) -> str:
    """Run a one-cell notebook on ``kernel`` with papermill's own engine; what it printed."""
    executed = papermill.execute_notebook(
        notebook(nbformat.v4.new_code_cell(code)),
        str(tmp_path / "out.ipynb"),
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


def test_a_started_kernel_has_run_its_warmup_before_the_notebook(tmp_path: Path) -> None:
    kernel = start(tmp_path, "import sys\nsys.modules['warm_marker'] = sys")
    (warmer,) = kernel.clients
    reply = run_sync(warmer.get_shell_msg)(timeout=60)  # the warm-up has run
    assert reply["content"]["status"] == "ok"
    try:
        printed = execute_on(kernel, "import sys\nprint('warm_marker' in sys.modules)", tmp_path)
        assert len(kernel.clients) == 2  # papermill's client is remembered too
    finally:
        kernel.stop()
    assert printed == "True"
    assert not kernel.has_kernel and kernel.clients == []


def test_kernels_use_unix_sockets_in_a_private_folder_removed_when_stopped(
    tmp_path: Path,
) -> None:
    """No TCP port a kernel could lose to another connection before binding it."""
    kernel = start(tmp_path)
    folder = Path(kernel.connection_file).parent
    try:
        assert kernel.get_connection_info()["transport"] == "ipc"
        assert folder.stat().st_mode & 0o777 == 0o700
        assert execute_on(kernel, "print(6 * 7)", tmp_path) == "42"
    finally:
        kernel.stop()
    assert not folder.exists()


def test_the_socket_folders_of_a_runner_that_is_gone_are_removed_by_the_next(
    tmp_path: Path,
) -> None:
    """A runner killed (kill -9) cannot remove its kernels' folders: the next one does."""
    prefix = kernels.SOCKETS_PREFIX
    gone = tmp_path / f"{prefix}{dead_pid()}-abc123"
    alive = tmp_path / f"{prefix}{os.getppid()}-abc123"
    unnamed = tmp_path / f"{prefix}abc123"  # not named for its runner: whose it is is unknown
    for folder in (gone, alive, unnamed):
        folder.mkdir()
        (folder / "kernel.json").write_text("{}")
    made = kernels.sockets_folder(tmp_path)
    assert made.name.startswith(f"{prefix}{os.getpid()}-") and made.stat().st_mode & 0o777 == 0o700
    assert sorted(tmp_path.iterdir()) == sorted([alive, unnamed, made])


def run_one_notebook(tmp_path: Path) -> None:
    kernel = start(tmp_path, "import json")
    try:
        assert execute_on(kernel, "print(json.dumps(1))", tmp_path) == "1"
    finally:
        kernel.stop()


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
    env = kernels.kernel_environment({**os.environ, "PYTHONPATH": str(decoy.parent)})
    kernel = start(tmp_path, env=env)
    try:
        printed = execute_on(
            kernel, "import milk_forecast\nprint(milk_forecast.__file__)", tmp_path
        )
    finally:
        kernel.stop()
    assert Path(printed) == PROJECT_ROOT / "milk_forecast" / "__init__.py"


def test_stage_kernels_start_two_ahead_and_give_a_retried_stage_a_fresh_kernel(
    tmp_path: Path,
) -> None:
    stages = load_stages()[:3]
    (tmp_path / "notebooks").mkdir()  # a run folder: its kernels run in notebooks/
    with kernels.StageKernels(stages, tmp_path) as stage_kernels:
        first = stage_kernels.take(stages[0])
        ahead = dict(stage_kernels._ready)
        assert set(ahead) == {stages[1].name, stages[2].name}
        first.stop()  # the attempt failed; an orchestrator retries it
        again = stage_kernels.take(stages[0])
        try:
            assert again is not first and again.has_kernel
            assert not first.has_kernel
            assert stage_kernels._ready == ahead  # nothing started twice
        finally:
            again.stop()
    assert not any(kernel.has_kernel for kernel in ahead.values())  # stopped with the block
