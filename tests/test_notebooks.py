"""The committed notebooks follow the conventions the runner and the readers rely on."""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from milk_forecast.data.raw import SAMPLE_DIR
from milk_forecast.model.outputs import read_predictions
from milk_forecast.parameters import frozen
from milk_forecast.run_folder.layout import (
    CLEAN_FILE,
    FEATURES_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    SERIES_FILE,
)
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.predictions import FORECAST, KIND
from milk_forecast.runner import stages
from milk_forecast.runner.kernels import kernel_environment
from milk_forecast.runner.stages import RUNNER_PARAMETERS

NOTEBOOKS = [stages.NOTEBOOKS_DIR / f"{name}.ipynb" for name in stages.STAGE_NAMES]


@pytest.fixture(params=NOTEBOOKS, ids=lambda path: path.stem)
def notebook(request: pytest.FixtureRequest) -> tuple[Path, nbformat.NotebookNode]:
    return request.param, nbformat.read(request.param, as_version=4)


def test_committed_with_outputs_cleared(notebook) -> None:
    path, nb = notebook
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


def test_opens_with_a_title_then_imports_then_parameters(notebook) -> None:
    path, nb = notebook
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert "import" in code[0].source
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one cell tagged 'parameters'"
    assert code[1] is tagged[0], f"{path.name}: the parameters cell must follow the imports"


def test_every_parameter_has_a_literal_default_and_a_comment(notebook) -> None:
    path, _ = notebook
    parameters = papermill.inspect_notebook(path)
    assert "run_dir" in parameters
    for name, info in parameters.items():
        ast.literal_eval(info["default"])  # raises for anything but a literal
        assert info["help"], f"{path.name}: parameter {name!r} has no comment"


def test_ends_with_checks_on_what_it_wrote(notebook) -> None:
    path, nb = notebook
    last = [cell for cell in nb.cells if cell.cell_type == "code"][-1]
    assert "check" in last.source, f"{path.name}: the last code cell should check the outputs"


@pytest.mark.parametrize("stage_name", sorted(stages.PARAMETER_CLASSES))
def test_parameter_defaults_are_the_parameter_class_defaults(stage_name: str) -> None:
    # The class declares each knob's default and rule; the notebook repeats the default
    # as a literal (so it works when opened by hand): the two must agree.
    declared = papermill.inspect_notebook(stages.NOTEBOOKS_DIR / f"{stage_name}.ipynb")
    literals = {
        name: frozen(ast.literal_eval(info["default"]))
        for name, info in declared.items()
        if name not in RUNNER_PARAMETERS
    }
    assert literals == dataclasses.asdict(stages.PARAMETER_CLASSES[stage_name]())


@pytest.mark.slow
def test_the_committed_notebooks_run_by_hand_in_order_and_04_reads_only_03s_outputs(
    tmp_path: Path,
) -> None:
    """As a person pressing "Run all" in Jupyter (started by `make lab`), 01 to 04; before
    04, everything 01 and 02 wrote is deleted: 04 learns from 03's outputs only."""
    project = tmp_path / "project"
    shutil.copytree(stages.NOTEBOOKS_DIR, project / "notebooks")
    (project / "data").mkdir()
    (project / "data" / "sample").symlink_to(SAMPLE_DIR)
    manual = project / "runs" / "manual"
    env = kernel_environment()  # what `make lab` sets: this checkout first on PYTHONPATH
    written: dict[str, set[Path]] = {}
    for name in stages.STAGE_NAMES:
        if name == "04_train":
            for path in written["01_extract"] | written["02_clean"]:
                path.unlink()
        before = set(manual.rglob("*")) if manual.exists() else set()
        nb = nbformat.read(project / "notebooks" / f"{name}.ipynb", as_version=4)
        client = NotebookClient(nb, timeout=300, kernel_name="python3")
        client.execute(cwd=str(project / "notebooks"), env=env)
        written[name] = {path for path in set(manual.rglob("*")) - before if path.is_file()}
    assert {path.name for path in written["03_preprocess"]} == {SERIES_FILE, FEATURES_FILE}
    assert CLEAN_FILE in {path.name for path in written["02_clean"]}
    read_metrics(manual / METRICS_FILE)
    predictions = read_predictions(manual / PREDICTIONS_FILE)
    assert predictions[KIND].iloc[-1] == FORECAST


def test_a_run_folder_holds_no_absolute_path(sample_run) -> None:
    """run.json, inputs.json, the executed notebooks (parameters, banner, outputs, papermill's
    metadata), the report: no path of the runs folder or of the data as it was on this
    machine, so the run folder can be moved. Relative paths (``../../data/sample``) are fine."""
    absolute = re.compile(
        rb"(?<![.\w])("
        + rb"|".join(re.escape(str(p).encode()) for p in (sample_run.runs_dir, SAMPLE_DIR))
        + rb")"
    )
    files = [path for path in sample_run.run_dir.rglob("*") if path.is_file()]
    assert len(files) > 20
    found = {path.name: absolute.search(path.read_bytes()) for path in files}
    assert not {name: match[0] for name, match in found.items() if match}


def snapshot(folder: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file of ``folder``: when it was last written and what it holds."""
    files = (path for path in folder.rglob("*") if path.is_file())
    return {
        path.relative_to(folder): (path.stat().st_mtime_ns, path.read_bytes()) for path in files
    }


@pytest.mark.slow
def test_an_executed_notebook_rerun_by_hand_from_a_moved_run_folder_changes_nothing(
    sample_run, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere" / sample_run.run_dir.name
    shutil.copytree(sample_run.run_dir, moved)
    before = snapshot(moved), snapshot(sample_run.run_dir)
    for name in ("01_extract", "04_train"):  # the stage that reads the data, the last one
        nb = nbformat.read(moved / "notebooks" / f"{name}.ipynb", as_version=4)
        client = NotebookClient(nb, timeout=300, kernel_name="python3")
        with pytest.raises(CellExecutionError) as refused:  # as "Run all" in Jupyter does
            client.execute(cwd=str(moved / "notebooks"), env=kernel_environment())
        assert refused.value.ename == "ParameterError"
        assert f"'run_dir': '../../{moved.name}' is the folder of run" in refused.value.evalue
    assert (snapshot(moved), snapshot(sample_run.run_dir)) == before  # nothing written anywhere
