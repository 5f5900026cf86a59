"""Static checks of Dockerfile and compose.yaml (no Docker engine is needed or used).

compose.yaml is read with PyYAML, which papermill requires (so it is always in the env).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from milk_forecast.runner.schedule import parse_cron

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "run_pipeline.py"
README = ROOT / "README.md"


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, comments dropped and continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def service_command(name: str) -> list[str]:
    command = compose()["services"][name]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def runs_mount(service: dict) -> tuple[str, str]:
    """``(host path, container path)`` of the volume holding the runs folder."""
    mounts = [v.split(":") for v in service.get("volumes", []) if v.split(":")[0].endswith("runs")]
    assert len(mounts) == 1, f"expected one runs volume in {service.get('volumes')}"
    return mounts[0][0], mounts[0][1]


def workdir() -> str:
    return [args for keyword, args in dockerfile_instructions() if keyword == "WORKDIR"][-1]


def test_two_services_share_one_runs_folder() -> None:
    services = compose()["services"]
    assert set(services) == {"pipeline", "api"}
    pipeline_mount, api_mount = runs_mount(services["pipeline"]), runs_mount(services["api"])
    assert pipeline_mount == api_mount
    # The API reads RUNS_DIR; the pipeline writes to its default runs/ under the WORKDIR.
    assert services["api"]["environment"]["RUNS_DIR"] == api_mount[1]
    assert "--runs-dir" not in service_command("pipeline")
    assert api_mount[1] == workdir().rstrip("/") + "/runs"


def test_commands_name_files_of_the_repo() -> None:
    pipeline, api = service_command("pipeline"), service_command("api")
    assert pipeline[:2] == ["python", "run_pipeline.py"]
    assert CLI.is_file()
    assert api[0] == "uvicorn"
    module = api[1].split(":")[0]
    assert (ROOT / f"{module}.py").is_file()


def test_pipeline_schedule_and_retries_are_valid() -> None:
    command = service_command("pipeline")
    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert options["--schedule"] == "0 0 * * 0"
    parse_cron(options["--schedule"])
    assert int(options["--retries"]) >= 0 and float(options["--retry-delay"]) >= 0


def test_api_healthcheck_hits_health_on_the_served_port() -> None:
    api = compose()["services"]["api"]
    command = service_command("api")
    port = command[command.index("--port") + 1]
    check = " ".join(api["healthcheck"]["test"])
    assert f":{port}/health" in check
    assert any(mapping.endswith(f":{port}") for mapping in api["ports"])


@pytest.mark.skipif(not CLI.is_file(), reason="run_pipeline.py is not written yet")
def test_pipeline_flags_are_accepted_by_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, str(CLI), "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    flags = [part for part in service_command("pipeline") if part.startswith("--")]
    assert flags
    for flag in flags:
        assert re.search(rf"{re.escape(flag)}\b", result.stdout), f"{flag} not in --help"


def test_dockerfile_installs_requirements_and_runs_existing_files() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    install = keywords.index("RUN")
    assert "pip install -r requirements.txt" in instructions[install][1]
    copied_before = " ".join(args for keyword, args in instructions[:install] if keyword == "COPY")
    assert "requirements.txt" in copied_before
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    if "-e ." in requirements:  # the editable install needs the project metadata and package
        assert "pyproject.toml" in copied_before and "milk_forecast" in copied_before
    assert ("COPY", ". .") in instructions[install:]
    (cmd,) = [args for keyword, args in instructions if keyword in ("CMD", "ENTRYPOINT")]
    argv = json.loads(cmd)
    assert argv[:2] == ["uvicorn", "app:app"]
    assert (ROOT / "app.py").is_file()


def test_dockerignore_keeps_runs_and_environments_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for entry in (".venv", ".git", "runs", "data/*.csv"):
        assert entry in ignored


@pytest.mark.skipif(not README.is_file(), reason="README.md is not written yet")
@pytest.mark.parametrize("service", ["pipeline", "api"])
def test_readme_documents_the_same_commands(service: str) -> None:
    command = service_command(service)
    documented = []
    for line in README.read_text(encoding="utf-8").splitlines():
        try:
            documented.append(shlex.split(line.replace("`", " ").strip().removeprefix("$ ")))
        except ValueError:
            continue
    assert any(
        words[i : i + len(command)] == command for words in documented for i in range(len(words))
    )


HARDENING = ("--http", "--timeout-keep-alive", "--limit-concurrency", "--ws")


def serve_options(command: list[str]) -> dict[str, str]:
    """The ``--flag value`` pairs after ``uvicorn app:app``, host and port left out."""
    options = dict(zip(command[2::2], command[3::2], strict=True))
    return {flag: value for flag, value in options.items() if flag not in ("--host", "--port")}


def makefile_serve_command() -> list[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    flags = re.search(r"^SERVE_FLAGS\s*:?=\s*(.+)$", text, re.MULTILINE)
    recipe = re.search(r"^serve:.*\n\t(.+)$", text, re.MULTILINE)
    assert flags and recipe
    words = shlex.split(recipe[1].replace("$(SERVE_FLAGS)", flags[1]))
    return [Path(words[0]).name, *words[1:]]


def test_every_entry_point_serves_with_the_same_bounded_http_surface() -> None:
    compose_options = serve_options(service_command("api"))
    (cmd,) = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert serve_options(json.loads(cmd)) == compose_options
    assert serve_options(makefile_serve_command()) == compose_options
    for flag in HARDENING:
        assert flag in compose_options
    assert 0 < float(compose_options["--timeout-keep-alive"]) <= 30
    assert 0 < int(compose_options["--limit-concurrency"]) <= 10_000
    assert compose_options["--ws"] == "none"  # no websocket route: upgrades are plain requests


def test_the_serve_flags_exist_and_the_protocol_bounds_the_request_head() -> None:
    from uvicorn.importer import import_from_string
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from milk_forecast.service import http

    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--help"], capture_output=True, text=True, check=True
    )
    options = serve_options(service_command("api"))
    for flag in options:
        assert re.search(rf"{re.escape(flag)}\b", result.stdout), f"{flag} not in uvicorn --help"
    assert import_from_string(options["--http"]) is http.Protocol
    assert issubclass(http.Protocol, HttpToolsProtocol) and 0 < http.MAX_HEAD_BYTES <= 64 * 1024
