"""``python -m milk_forecast.flows``: its command line, checked before Prefect is involved.

These tests run with or without Prefect installed: a bad command line is refused before
Prefect is imported, and a missing Prefect is said in one line.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from optional_prefect import needs_prefect
from run_factory import make_run

import milk_forecast.flows
from milk_forecast.flows import cli
from milk_forecast.run_folder.record import SUCCEEDED, read_run_record
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner.options import EXIT_NOT_PUBLISHED, EXIT_OK, EXIT_USAGE

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", ["run", "serve"])
def test_each_command_has_help_naming_the_flow_parameters(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "milk_forecast.flows", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
    )
    for flag in ("--data-dir", "--runs-dir", "--parameter", "--force", "--stage-retries"):
        assert flag in result.stdout
    assert ("--cron" in result.stdout) == (command == "serve")


def test_a_bad_parameter_is_refused_before_prefect_starts(
    sample_data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--data-dir", str(sample_data_dir), "--runs-dir", str(tmp_path)]
    assert cli.main([*argv, "-p", "no_such_parameter", "1"]) == EXIT_USAGE
    assert "no_such_parameter" in capsys.readouterr().err
    assert cli.main([*argv, "-p", "test_fraction", "7"]) == EXIT_USAGE
    assert "test_fraction" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_missing_data_folder_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--data-dir", str(tmp_path / "nowhere")]) == EXIT_USAGE
    assert str(tmp_path / "nowhere") in capsys.readouterr().err


def test_serve_checks_the_cron_expression(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve", "--cron", "0 25 * * *"])
    assert info.value.code == EXIT_USAGE
    assert "--cron" in capsys.readouterr().err


def test_without_prefect_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, sample_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(sys.modules):
        if name == "prefect" or name.startswith(("prefect.", "milk_forecast.flows.")):
            monkeypatch.delitem(sys.modules, name)
    for submodule in ("pipeline_flow", "artifacts"):  # `from package import module` reads these
        monkeypatch.delattr(milk_forecast.flows, submodule, raising=False)
    monkeypatch.setitem(sys.modules, "prefect", None)  # makes `import prefect` fail
    monkeypatch.setitem(sys.modules, "milk_forecast.flows.cli", cli)
    assert cli.main(["run", "--data-dir", str(sample_data_dir)]) == EXIT_USAGE
    assert "requirements-prefect.txt" in capsys.readouterr().err


@needs_prefect
def test_serve_without_a_prefect_server_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert cli.main(["serve", "--cron", "0 0 * * 0"]) == EXIT_USAGE
    assert "prefect server start" in capsys.readouterr().err


def test_flow_parameters_are_absolute_paths_and_strings(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(
        ["run", "--runs-dir", "runs", "-p", "ridge_alpha", "0.5", "--stage-retries", "2"]
    )
    parameters = cli.flow_parameters(args)
    assert parameters["runs_dir"] == str(Path("runs").resolve())
    assert parameters["data_dir"] is None and parameters["notebooks_dir"] is None
    assert parameters["parameters"] == {"ridge_alpha": "0.5"}
    assert parameters["stage_retries"] == 2


def test_the_documented_commands_parse() -> None:
    docs = (PROJECT_ROOT / "docs" / "prefect.md").read_text(encoding="utf-8")
    commands = re.findall(r"python -m milk_forecast\.flows [^`\n]+", docs)
    assert any(" run " in c for c in commands) and any(" serve " in c for c in commands)
    parser = cli.build_parser()
    for command in commands:
        words = shlex.split(command.split("#")[0])[3:]
        if "--help" not in words:
            parser.parse_args(words)


def test_a_completed_flow_run_ends_with_run_pipelines_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = make_run(tmp_path / "runs", publish=False)
    reason = "it ran on the synthetic sample, and the served run was made from real data"
    record = read_run_record(run_dir) | {"published": False, "not_published_reason": reason}
    write_run_record(run_dir, record)
    summary = {"status": SUCCEEDED, "run_id": run_dir.name, "run_dir": str(run_dir)}
    state = SimpleNamespace(is_completed=lambda: True, result=lambda: summary)
    assert cli.report(state) == EXIT_NOT_PUBLISHED
    out, err = capsys.readouterr()
    assert out.splitlines()[:2] == [
        f"run {run_dir.name} succeeded in 0.0 s on SYNTHETIC SAMPLE (generated, not real prices)",
        f"  folder: {run_dir}",
    ]
    assert f"NOT published (LATEST unchanged): {reason}" in err
    assert "--allow-synthetic-over-real" in err

    summary["status"] = "skipped"
    assert cli.report(state) == EXIT_OK
    assert capsys.readouterr().out.startswith(f"nothing to do: the served run {run_dir.name} ")
