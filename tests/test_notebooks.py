"""The committed notebooks follow the conventions the runner and the readers rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill
import pytest

from milk_forecast import stages

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
