"""Kernels started ahead of their stage, and the papermill engine that runs a notebook on one.

Starting a kernel and importing pandas, matplotlib and scikit-learn costs about two
seconds per notebook, more than most stages take to run. ``KernelPool`` starts the
kernel of a later stage while the current one runs, and has it execute the
notebook's own imports cell silently, so both happen on the other core.

Kernels talk to the runner over Unix sockets in a private folder of their own (``ipc``
transport), not TCP: a TCP port chosen for a kernel could be taken, before the kernel
binds it, as the local port of one of the runner's own connections, and the kernel died
("Address already in use"), failing the stage.

papermill's nbclient replaces the process's SIGINT and SIGTERM handlers while it
executes (it shuts the kernel down and carries on). ``RunnerEngine`` calls the
``before_cells`` callable it is given right before the cells run, which puts the
runner's handlers back (``signals.Interrupts.reinstall``), so a signal interrupts the
run and the runner marks it failed. ``RunnerEngine.execute_managed_notebook`` follows
papermill's ``NBClientEngine`` of the pinned papermill version (tests compare them).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.session import Session
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.engines import logger as papermill_logger
from papermill.utils import merge_kwargs, remove_args

ENGINE_NAME = "milk_forecast"


def imports_cell(notebook: nbformat.NotebookNode) -> str:
    """The source of the first code cell that is not the parameters cell (the imports)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            return cell.source
    return ""


class KernelPool:
    """Kernels keyed by stage name, started and warmed up before they are needed.

    The client that queued a kernel's warm-up stays connected until the kernel is
    released: closing it earlier could drop the warm-up before a booting kernel reads it.
    """

    def __init__(
        self,
        output: IO[str] | None = None,
        kernel_name: str = "python3",
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``output``: where the kernel processes' own stdout and stderr go (not cell output);
        ``env``: the kernels' environment (default: this process's)."""
        self.output = output
        self.kernel_name = kernel_name
        self.env = dict(env) if env is not None else None
        self._ready: dict[str, AsyncKernelManager] = {}
        self._warmers: dict[int, Any] = {}  # id(manager) -> the client that sent the warm-up
        self._socket_dirs: dict[int, Path] = {}  # id(manager) -> its connection file's folder

    def prepare(self, key: str, cwd: Path, warmup_code: str) -> None:
        """Start a kernel in ``cwd`` and queue ``warmup_code``; returns at once."""
        # A short private folder (mode 0700): socket paths stay under the 107-byte limit.
        sockets = Path(tempfile.mkdtemp(prefix="milk-kernel-"))
        manager = AsyncKernelManager(
            kernel_name=self.kernel_name,
            transport="ipc",
            connection_file=str(sockets / "kernel.json"),
        )
        self._socket_dirs[id(manager)] = sockets
        streams = {"stdout": self.output, "stderr": self.output} if self.output else {}
        extra = {"env": self.env} if self.env is not None else {}
        run_sync(manager.start_kernel)(cwd=str(cwd), **streams, **extra)
        # A session of its own: clients sharing one session share a socket identity, and
        # the kernel would ignore the papermill client while this one is connected.
        session = Session(
            key=manager.session.key, signature_scheme=manager.session.signature_scheme
        )
        client = manager.client(session=session)
        client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        if warmup_code.strip():
            client.execute(warmup_code, silent=True, store_history=False)
        self._ready[key] = manager
        self._warmers[id(manager)] = client

    def take(self, key: str) -> AsyncKernelManager | None:
        """The kernel prepared for ``key`` (None if none was); give it back with ``release``."""
        return self._ready.pop(key, None)

    def release(self, manager: AsyncKernelManager | None) -> None:
        """Stop a kernel now (one that already died is fine) and its warm-up client."""
        if manager is None:
            return
        client = self._warmers.pop(id(manager), None)
        if client is not None:
            client.stop_channels()
        with contextlib.suppress(RuntimeError):
            run_sync(manager.shutdown_kernel)(now=True)
        sockets = self._socket_dirs.pop(id(manager), None)
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)

    def shutdown_all(self) -> None:
        for key in list(self._ready):
            self.release(self.take(key))


class _RunnerClient(PapermillNotebookClient):
    """papermill's client, calling ``before_cells`` once the kernel is set up."""

    def __init__(self, *args: Any, before_cells: Callable[[], None] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.before_cells = before_cells

    def papermill_execute_cells(self) -> None:
        if self.before_cells is not None:
            self.before_cells()
        super().papermill_execute_cells()


class RunnerEngine(NBClientEngine):
    """NBClientEngine with ``_RunnerClient``; accepts a started kernel as ``km`` and a
    ``before_cells`` callable."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        **kwargs: Any,
    ) -> Any:
        before_cells = kwargs.pop("before_cells", None)
        # From here to the client, as papermill's NBClientEngine.execute_managed_notebook.
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        final_kwargs["shutdown_kernel"] = "immediate"
        client = _RunnerClient(nb_man, before_cells=before_cells, **final_kwargs)
        # cleanup_kc: close this client's sockets (and stop the kernel) even though the
        # kernel was started outside; nbclient leaves both open for a kernel it does not own.
        return client.execute(cleanup_kc=True)


papermill_engines.register(ENGINE_NAME, RunnerEngine)
