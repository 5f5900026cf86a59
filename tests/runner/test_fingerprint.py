"""The fingerprint covers what a run's results depend on, and nothing else."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from milk_forecast.runner import fingerprint
from milk_forecast.runner.stages import PipelineError, load_stages


def test_fingerprint_changes_with_inputs_code_and_parameters() -> None:
    inputs = {"a.csv": {"sha256": "1"}}
    base = fingerprint.fingerprint(inputs, "code", {"s": {"k": 1}})
    assert base == fingerprint.fingerprint(dict(inputs), "code", {"s": {"k": 1}})
    assert base != fingerprint.fingerprint({"a.csv": {"sha256": "2"}}, "code", {"s": {"k": 1}})
    assert base != fingerprint.fingerprint(inputs, "code2", {"s": {"k": 1}})
    assert base != fingerprint.fingerprint(inputs, "code", {"s": {"k": 2}})


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def notebook_importing(path: Path, *sources: str) -> Path:
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A tiny milk_forecast: model code the notebook reaches in several ways, and a service."""
    root = tmp_path / "milk_forecast"
    write(root / "__init__.py", "")
    write(root / "model" / "__init__.py", "")
    write(root / "model" / "training.py", "from . import windows\nfrom ..data import cleaning\n")
    write(root / "model" / "windows.py", "def later():\n    import milk_forecast.data.late\n")
    write(root / "data" / "__init__.py", "")
    write(root / "data" / "cleaning.py", "import pandas\n")
    write(root / "data" / "late.py", "A = 1\n")
    write(root / "service" / "__init__.py", "")
    write(root / "service" / "page.py", "from milk_forecast.model import training\n")
    write(root / "runner" / "report.py", "B = 1\n")
    return root


def test_the_code_is_the_closure_of_what_the_notebooks_import(
    package: Path, tmp_path: Path
) -> None:
    notebook = notebook_importing(
        tmp_path / "04_train.ipynb", "%matplotlib inline\nfrom milk_forecast.model import training"
    )
    files = {p.relative_to(package).as_posix() for p in fingerprint.code_files([notebook], package)}
    assert files == {
        "__init__.py",
        "model/__init__.py",
        "model/training.py",
        "model/windows.py",  # a relative import
        "data/__init__.py",
        "data/cleaning.py",  # a relative import one package up
        "data/late.py",  # an import inside a function
    }


@pytest.mark.parametrize(
    ("edited", "changes"),
    [
        ("service/page.py", False),
        ("runner/report.py", False),
        ("model/windows.py", True),
        ("data/late.py", True),
    ],
)
def test_editing_model_code_changes_the_digest_and_editing_the_service_does_not(
    package: Path, tmp_path: Path, edited: str, changes: bool
) -> None:
    notebook = notebook_importing(
        tmp_path / "04_train.ipynb", "import milk_forecast.model.training"
    )
    before = fingerprint.code_digest([notebook], package)
    with (package / edited).open("a") as source:
        source.write("# edited\n")
    assert (fingerprint.code_digest([notebook], package) != before) is changes


def test_editing_a_notebook_changes_the_digest(package: Path, tmp_path: Path) -> None:
    notebook = notebook_importing(tmp_path / "01_extract.ipynb", "x = 1")
    before = fingerprint.code_digest([notebook], package)
    notebook_importing(notebook, "x = 2")
    assert fingerprint.code_digest([notebook], package) != before


def test_a_notebook_cell_that_is_not_python_is_named(tmp_path: Path) -> None:
    notebook = notebook_importing(tmp_path / "02_clean.ipynb", "def broken(:")
    with pytest.raises(PipelineError, match=r"02_clean\.ipynb: line 1 is not valid Python"):
        fingerprint.code_digest([notebook])


def test_the_real_notebooks_run_data_and_model_code_not_the_service_or_the_runner() -> None:
    notebooks = [stage.notebook for stage in load_stages()]
    files = {
        p.relative_to(fingerprint.PACKAGE_DIR).parts for p in fingerprint.code_files(notebooks)
    }
    assert ("model", "training.py") in files and ("data", "cleaning.py") in files
    assert {parts[0] for parts in files} >= {"data", "model", "run_folder"}
    assert not {parts[0] for parts in files} & {"service", "runner", "flows"}
