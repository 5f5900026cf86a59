"""``make lab`` and ``make serve``, as a person starts them (as root too: containers, CI)."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

START_TIMEOUT_S = 90.0
T = TypeVar("T")


def make_command(project_root: Path, *arguments: str) -> list[str]:
    """``make ARGUMENTS`` with this interpreter's virtualenv, never reinstalled into (``-o``)."""
    venv = Path(sys.prefix)
    return [
        "make",
        "-C",
        str(project_root),
        "-o",
        str(venv / ".installed"),
        f"VENV={venv}",
        "PREFECT=",
        *arguments,
    ]


def quiet_environment(tmp_path: Path) -> dict[str, str]:
    """The environment without an enclosing make's flags (``make test PREFECT=1`` exports
    them) nor the variables under test, and a BROWSER that leaves a mark if it is opened."""
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\ntouch {tmp_path / 'browser-opened'}\n")
    browser.chmod(0o755)
    unset = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "JUPYTER_TOKEN", "PORT", "LAB_PORT", "LAB_IP")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    return {**env, "BROWSER": str(browser)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def watch(process: subprocess.Popen[bytes], done: Callable[[str], T | None], deadline: float) -> T:
    """Read what the process prints as it comes until ``done(printed so far)`` returns a
    value, asking again at least every 50 ms (the wait is on its output, not a sleep)."""
    text = ""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
        while time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=0.05):
                text += os.read(process.stdout.fileno(), 65536).decode(errors="replace")  # type: ignore[union-attr]
            value = done(text)
            if value is not None:
                return value
    pytest.fail(f"make lab did not get there in time; it printed:\n{text[-3000:]}")


def listening(port: int) -> bool | None:
    with socket.socket() as probe:
        return True if probe.connect_ex(("127.0.0.1", port)) == 0 else None


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop make and the server it started (one process group), and wait for them."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.mark.slow
def test_make_lab_serves_on_lab_port_prints_the_url_and_opens_no_browser(
    project_root: Path, tmp_path: Path
) -> None:
    port = free_port()
    command = make_command(project_root, "lab", f"LAB_PORT={port}")
    env = quiet_environment(tmp_path)
    planned = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, env=env)
    assert "pip" not in planned.stdout, "make lab would install into this test's virtualenv"
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: stopped whole
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        printed = rf"JupyterLab: open (http://127\.0\.0\.1:{port}/lab/tree/notebooks\?token=\w+)"
        url = watch(
            process, lambda text: (found := re.search(printed, text)) and found[1], deadline
        )
        watch(process, lambda text: listening(port), deadline)
        token = url.split("token=")[1]
        status = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
        )
        with urllib.request.urlopen(status, timeout=30) as answer:
            assert {"started", "kernels", "connections"} <= set(json.load(answer))
        contents = status.full_url.replace("/api/status", "/api/contents/notebooks")
        with urllib.request.urlopen(
            urllib.request.Request(contents, headers=status.headers)
        ) as listing:
            names = {item["name"] for item in json.load(listing)["content"]}
        assert "01_extract.ipynb" in names  # the lab is rooted at the project: runs/ is there too
        with urllib.request.urlopen(url, timeout=30) as page:  # the URL printed opens the lab
            assert page.status == 200 and b"JupyterLab" in page.read()
    finally:
        stop(process)
    assert not (tmp_path / "browser-opened").exists()
    assert not listening(port)  # nothing left behind


def test_make_lab_allows_root_only_as_root(project_root: Path, tmp_path: Path) -> None:
    dry_run = subprocess.run(
        make_command(project_root, "--dry-run", "lab"),
        capture_output=True, text=True, check=True, env=quiet_environment(tmp_path),
    )  # fmt: skip
    assert "--no-browser" in dry_run.stdout and "--port-retries=0" in dry_run.stdout
    assert ("--allow-root" in dry_run.stdout) == (os.geteuid() == 0)


def test_make_serve_takes_port(project_root: Path, tmp_path: Path) -> None:
    env = quiet_environment(tmp_path)
    cases = [((), {}, "8000"), (("PORT=8080",), {}, "8080"), ((), {"PORT": "8081"}, "8081")]
    for variables, environment, port in cases:
        dry_run = subprocess.run(
            make_command(project_root, "--dry-run", "serve", *variables),
            capture_output=True, text=True, check=True, env={**env, **environment},
        )  # fmt: skip
        assert re.search(rf"uvicorn app:app --host 127\.0\.0\.1 --port {port} ", dry_run.stdout)
