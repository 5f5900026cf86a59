"""Kernels started, and their notebook's imports cell run, while the stage before runs.

A kernel and its imports cost about two seconds per notebook, more than most stages take
(the real-data pipeline: 13 s without this, 8.5 s with it). papermill takes the kernel as
``km=``; nbclient leaves open the client it made, so ``StageKernel`` closes its clients.
Kernels use Unix sockets in a private folder, not TCP: a port chosen for a kernel could be
taken by one of the runner's own connections first ("Address already in use"). A kernel
ends with the runner, however it ends (ipykernel watches its parent); a runner killed
leaves its kernels' socket folders, which the next runner on the machine removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.session import Session
from jupyter_core.utils import run_sync

from milk_forecast.run_folder.layout import KERNEL_LOG, NOTEBOOKS_DIR
from milk_forecast.run_folder.record import pid_alive
from milk_forecast.runner.stages import PROJECT_ROOT, Stage

SOCKETS_PREFIX = "milk-kernel-"  # + the runner's pid: <tmp>/milk-kernel-4242-x1y2z3


class StageKernel(AsyncKernelManager):
    """A kernel for one stage: jupyter_client's manager, remembering the clients it makes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clients: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        client = super().client(**kwargs)
        self.clients.append(client)
        return client

    def stop(self) -> None:
        """Close every client, stop the kernel (a dead one is fine), remove its sockets."""
        for client in self.clients:
            client.stop_channels()
        self.clients.clear()
        with contextlib.suppress(RuntimeError):
            run_sync(self.shutdown_kernel)(now=True)
        shutil.rmtree(Path(self.connection_file).parent, ignore_errors=True)


def start_kernel(
    cwd: Path, warmup_code: str, output: IO[str] | None, env: Mapping[str, str]
) -> StageKernel:
    """A kernel started in ``cwd`` with ``warmup_code`` queued; returns at once. ``output``
    takes the kernel process's own stdout and stderr (not cell output)."""
    sockets = sockets_folder()
    manager = StageKernel(transport="ipc", connection_file=str(sockets / "kernel.json"))
    streams = {"stdout": output, "stderr": output} if output else {}
    run_sync(manager.start_kernel)(cwd=str(cwd), env=dict(env), **streams)
    # A session of its own, or papermill's client would share its socket identity and be
    # ignored. It stays connected: closing it could drop the warm-up before the kernel reads it.
    session = Session(key=manager.session.key, signature_scheme=manager.session.signature_scheme)
    warmer = manager.client(session=session)
    warmer.start_channels(iopub=False, stdin=False, hb=False, control=False)
    if warmup_code.strip():
        warmer.execute(warmup_code, silent=True, store_history=False)
    return manager


def sockets_folder(temp: Path | None = None) -> Path:
    """A new private folder (mode 0700) for a kernel's sockets, short enough for their
    107-byte limit and named for this process; the folders of processes that are gone
    (killed before they could remove them) are removed first."""
    temp = Path(temp or tempfile.gettempdir())
    for folder in temp.glob(f"{SOCKETS_PREFIX}*-*"):
        pid = folder.name.removeprefix(SOCKETS_PREFIX).split("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{SOCKETS_PREFIX}{os.getpid()}-", dir=temp))


def imports_cell(notebook: nbformat.NotebookNode) -> str:
    """The source of the first code cell that is not the parameters cell (the imports)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            return cell.source
    return ""


def kernel_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` with this checkout first on ``PYTHONPATH``: the kernels import this
    ``milk_forecast``, never another copy installed (an editable install of another clone)."""
    env = dict(environ)
    paths = [str(PROJECT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class StageKernels(contextlib.AbstractContextManager):
    """Kernels for a run's stages, each started (and warmed up) two stages ahead, in a
    ``with`` block that stops those left. Each runs in the run's ``notebooks/`` folder, as
    Jupyter runs a notebook in its own (the paths the stages get are relative to it); what
    the kernel processes print goes to the run's ``kernels.log``."""

    def __init__(self, stages: Sequence[Stage], run_dir: Path) -> None:
        self.stages = list(stages)
        self._folder = run_dir / NOTEBOOKS_DIR
        self._log = (run_dir / KERNEL_LOG).open("a", encoding="utf-8")
        self._ready: dict[str, StageKernel] = {}

    def __exit__(self, *exc_info: object) -> None:
        for kernel in self._ready.values():
            kernel.stop()
        self._ready.clear()
        self._log.close()

    def take(self, stage: Stage) -> StageKernel:
        """The kernel prepared for ``stage`` (a fresh one when it was taken before: an
        orchestrator retrying it); starts those of the next two stages."""
        index = self.stages.index(stage)
        for later in self.stages[index : index + 3]:
            if later.name not in self._ready:
                warmup = imports_cell(nbformat.read(later.notebook, as_version=4))
                self._ready[later.name] = start_kernel(
                    self._folder, warmup, self._log, kernel_environment()
                )
        return self._ready.pop(stage.name)
