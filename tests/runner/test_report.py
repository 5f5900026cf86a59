from __future__ import annotations

from pathlib import Path

import nbformat

from milk_forecast.runner.report import build_report

# A 1x1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def write_executed_notebook(path: Path, code: str, printed: str, with_image: bool) -> None:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(code, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    if with_image:
        cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": PNG}))
    silent = nbformat.v4.new_code_cell("silent_cell_source = 3", execution_count=2)
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# Notebook {path.stem}"), cell, silent]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def make_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "20261127T120301Z"
    notebooks = run_dir / "notebooks"
    write_executed_notebook(
        notebooks / "01_extract.ipynb", "print('extract' + '_out')", "extract_out\n", True
    )
    write_executed_notebook(
        notebooks / "02_clean.ipynb", "print('clean' + '_out')", "clean_out\n", False
    )
    return run_dir


def test_report_shows_outputs_and_headings_but_no_code(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    record = {
        "run_id": run_dir.name,
        "status": "succeeded",
        "synthetic_sample": True,
        "stages": [{"name": "01_extract", "status": "succeeded", "seconds": 1.5}],
        "headline": {"model": "ridge", "evaluation": "walk_forward", "rmse_clp_per_l": 12.5},
        "forecast": {"month": "2020-05", "predicted_clp_per_l": 301.25, "model": "ridge"},
    }
    path = build_report(run_dir, record)
    assert path == run_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    assert "extract_out" in html and "clean_out" in html
    assert f"data:image/png;base64,{PNG}" in html
    assert "Stage 01_extract (succeeded, 1.5 s)" in html
    assert "Stage 02_clean" in html
    assert html.index("Stage 01_extract") < html.index("Stage 02_clean")
    assert "Notebook 01_extract" in html  # markdown cells are kept
    assert run_dir.name in html and "succeeded" in html and "SYNTHETIC SAMPLE" in html
    assert "12.500" in html and "301.250" in html
    for source in ("print(", "'extract'", "silent_cell_source"):
        assert source not in html


def test_failed_run_report_shows_the_error_and_the_stages_that_ran(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    (run_dir / "notebooks" / "02_clean.ipynb").unlink()
    record = {
        "status": "failed",
        "synthetic_sample": False,
        "data_dir": "/data/real",
        "error": {"stage": "02_clean", "cell": 3, "exception": "KeyError", "message": "'Mes'"},
    }
    html = build_report(run_dir, record).read_text(encoding="utf-8")
    assert "failed" in html and "real data from /data/real" in html
    assert "KeyError" in html and "code cell 3" in html
    assert "extract_out" in html
    assert "Stage 02_clean" not in html
