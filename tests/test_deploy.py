"""Static checks of Dockerfile and compose.yaml (no Docker engine is needed or used).

compose.yaml is read with PyYAML, which papermill requires (so it is always in the env).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from optional_prefect import needs_prefect

from milk_forecast.runner.schedule import parse_cron

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "run_pipeline.py"
README = ROOT / "README.md"
PREFECT_YAML = ROOT / "prefect.yaml"


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


def services_of(profile: str | None) -> dict[str, dict]:
    """The services started by ``docker compose up`` (None) or only with ``--profile``."""
    services = compose()["services"]
    if profile is None:
        return {name: s for name, s in services.items() if not s.get("profiles")}
    return {name: s for name, s in services.items() if profile in s.get("profiles", [])}


def test_two_services_share_one_runs_folder() -> None:
    services = services_of(None)
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


TEST_TOOLS = (
    "pytest",
    "pytest-xdist",
    "httpx",
    "openapi-spec-validator",
    "ruff",
    "vulture",
    "playwright",
)


def requirement_names(name: str) -> set[str]:
    """The distributions a requirements file pins (``name==version`` lines)."""
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return {line.split("==")[0].split("[")[0].lower() for line in lines if "==" in line}


def test_the_image_installs_no_test_tool() -> None:
    installs = [args for keyword, args in dockerfile_instructions() if "pip install" in args]
    named = {name for args in installs for name in re.findall(r"-r\s+([\w.-]+\.txt)", args)}
    assert named == {"requirements.txt", "requirements-prefect.txt"}
    assert not requirement_names("requirements.txt") & set(TEST_TOOLS)
    assert not requirement_names("requirements-prefect.txt") & set(TEST_TOOLS)
    assert set(TEST_TOOLS) <= requirement_names("requirements-dev.txt")


def test_make_test_installs_the_test_tools_and_ci_runs_it() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "test", "PREFECT=1", "VENV=/nonexistent/venv"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    install = next(line for line in dry_run.stdout.splitlines() if "pip install --quiet -r" in line)
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-prefect.txt"):
        assert f"-r {name}" in install
    assert "-m pytest" in dry_run.stdout
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "rm -rf .venv" in ci and "make test PREFECT=1" in ci


def test_dockerignore_keeps_runs_and_environments_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for entry in (".venv", ".git", "runs", "data/*.csv"):
        assert entry in ignored


@pytest.mark.parametrize("service", ["pipeline", "api"])
def test_the_docs_document_the_same_commands(service: str) -> None:
    command = service_command(service)
    documented = []
    docs = [README, *sorted((ROOT / "docs").glob("*.md"))]
    for line in "\n".join(path.read_text(encoding="utf-8") for path in docs).splitlines():
        try:
            documented.append(shlex.split(line.replace("`", " ").strip().removeprefix("$ ")))
        except ValueError:
            continue
    assert any(
        words[i : i + len(command)] == command for words in documented for i in range(len(words))
    )


HARDENING = ("--http", "--timeout-keep-alive", "--limit-concurrency", "--ws", "--no-access-log")


def serve_options(command: list[str]) -> dict[str, str]:
    """The options after ``uvicorn app:app`` (``--flag value``, or ``--flag`` alone: ""),
    host and port left out."""
    options: dict[str, str] = {}
    for word in command[2:]:
        if word.startswith("--"):
            flag, options[word] = word, ""
        else:
            options[flag] = word
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
    assert compose_options["--http"] == "httptools"  # uvicorn's own; h11 answers a third as fast


def test_the_serve_flags_are_uvicorns_own() -> None:
    """Documented uvicorn options only: no protocol class of ours (nor anyone's) to import."""
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--help"], capture_output=True, text=True, check=True
    )
    options = serve_options(service_command("api"))
    for flag in options:
        assert re.search(rf"{re.escape(flag)}\b", result.stdout), f"{flag} not in uvicorn --help"
    assert options["--http"] in re.search(r"--http \[([a-z0-9|]+)\]", result.stdout)[1].split("|")


# --- the optional prefect profile, prefect.yaml -------------------------------------------


def worker_commands() -> list[list[str]]:
    """The commands the worker's ``sh -c`` runs, in order."""
    command = service_command("prefect-worker")
    assert command[:2] == ["sh", "-c"]
    return [shlex.split(part) for part in command[2].split("&&")]


def prefect_deployments() -> list[dict]:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]


def test_prefect_profile_adds_a_server_and_a_worker_sharing_runs_with_the_api() -> None:
    services = services_of("prefect")
    assert set(services) == {"prefect-server", "prefect-worker"}
    server, worker = services["prefect-server"], services["prefect-worker"]
    assert runs_mount(worker) == runs_mount(compose()["services"]["api"])
    # The flow's default runs folder is runs/ under the checkout, the image's WORKDIR.
    assert runs_mount(worker)[1] == workdir().rstrip("/") + "/runs"
    for service in (server, worker):
        assert service["build"]["args"]["WITH_PREFECT"] == "1"
    port = service_command("prefect-server")[service_command("prefect-server").index("--port") + 1]
    assert worker["environment"]["PREFECT_API_URL"] == f"http://prefect-server:{port}/api"
    assert worker["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert f":{port}/api/health" in " ".join(server["healthcheck"]["test"])
    assert "prefect-db" in compose()["volumes"]


def test_the_image_installs_prefect_only_when_asked() -> None:
    instructions = dockerfile_instructions()
    assert ("ARG", "WITH_PREFECT=0") in instructions
    (install,) = [args for keyword, args in instructions if "requirements-prefect.txt" in args
                  and keyword == "RUN"]  # fmt: skip
    assert '"$WITH_PREFECT" = "1"' in install
    assert (ROOT / "requirements-prefect.txt").is_file()


def test_the_worker_deploys_prefect_yaml_to_its_pool() -> None:
    create, deploy, start = worker_commands()
    assert create[:3] == ["prefect", "work-pool", "create"] and "--type" in create
    assert deploy == ["prefect", "--no-prompt", "deploy", "--all"]
    assert start[:3] == ["prefect", "worker", "start"]
    pool = start[start.index("--pool") + 1]
    assert create[3] == pool
    for deployment in prefect_deployments():
        assert deployment["work_pool"]["name"] == pool
        for entry in deployment["schedules"]:
            parse_cron(entry["cron"])
            assert entry["timezone"] == "UTC"


def test_prefect_yaml_names_the_flow_and_its_parameters() -> None:
    for deployment in prefect_deployments():
        path, name = deployment["entrypoint"].split(":")
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        (function,) = [
            node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name
        ]
        assert any("flow" in ast.unparse(decorator) for decorator in function.decorator_list)
        accepted = {arg.arg for arg in function.args.args}
        assert set(deployment["parameters"]) <= accepted


@needs_prefect
def test_worker_commands_and_flags_exist() -> None:
    prefect = str(Path(sys.executable).parent / "prefect")
    for words in worker_commands():
        command = [w for w in words[1:] if not w.startswith("-")][:2]
        result = subprocess.run(
            [prefect, *command, "--help"], capture_output=True, text=True, check=True, cwd=ROOT
        )
        for flag in (w for w in words if w.startswith("--") and w != "--no-prompt"):
            assert re.search(rf"{re.escape(flag)}\b", result.stdout), f"{flag} not in {command}"
