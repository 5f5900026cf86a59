from __future__ import annotations

import base64
import re
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


FORECAST_PATH = [
    {"month": "2020-05", "horizon": 1, "predicted_clp_per_l": 301.25, "lower_80_clp_per_l": 290.04,
     "upper_80_clp_per_l": 310.96, "model": "seasonal <b>regression</b>", "reason": "it did best"},
    {"month": "2020-06", "horizon": 2, "predicted_clp_per_l": 305.5, "lower_80_clp_per_l": 295.0,
     "upper_80_clp_per_l": 316.0, "model": "weighted mix of 27 models", "reason": "weights"},
]  # fmt: skip
HEADLINE = {"model": "m", "rmse_clp_per_l": 6.73, "mae_clp_per_l": 4.65, "mape_pct": 1.77}


def test_report_shows_outputs_and_headings_but_no_code(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    record = {
        "run_id": run_dir.name,
        "status": "succeeded",
        "synthetic_sample": True,
        "stages": [{"name": "01_extract", "status": "succeeded", "seconds": 1.5}],
        "headline": HEADLINE,
        "forecast_path": FORECAST_PATH,
    }
    path = build_report(run_dir, record)
    assert path == run_dir / "report.html"
    html = path.read_text(encoding="utf-8")
    assert "extract_out" in html and "clean_out" in html
    assert f"data:image/png;base64,{PNG}" in html
    assert "Stage 01_extract (succeeded, 1.5 s)" in html
    assert "Stage 02_clean (not recorded)" in html
    assert html.index("Stage 01_extract") < html.index("Stage 02_clean")
    assert "Notebook 01_extract" in html  # markdown cells are kept
    assert run_dir.name in html and "succeeded" in html and "SYNTHETIC SAMPLE" in html
    for source in ("print(", "'extract'", "silent_cell_source"):
        assert source not in html


def test_the_top_links_back_to_the_page_lists_the_stages_and_summarises_the_forecast(
    tmp_path: Path,
) -> None:
    run_dir = make_run(tmp_path)
    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "forecast_fan.svg").write_bytes(b"<svg></svg>")
    record = {"status": "succeeded", "headline": HEADLINE, "forecast_path": FORECAST_PATH}
    html = build_report(run_dir, record).read_text(encoding="utf-8")
    assert 'href="/dashboard"' in html
    links = re.findall(
        r'href="#((?:forecast|stage)-[^"]+)"', html
    )  # (nbconvert links headings too)
    assert links == ["forecast-summary", "stage-01_extract", "stage-02_clean"]
    assert all(f'id="{target}"' in html for target in links)
    assert ">Notebook 01_extract</a>" in html  # a stage by its notebook's title
    top = [html.index(text) for text in ('href="/dashboard"', 'href="#stage-01_extract"')]
    summary = html.index('id="forecast-summary"')
    assert top[0] < top[1] < summary < html.index('id="stage-01_extract"')
    assert "<b>301.2 CLP/L; 80% likely between 290.0 and 311.0</b>" in html
    assert "missed by 6.7 CLP/L typically" in html and "about 2% of the price" in html
    cells = re.sub(r">\s+<", "><", html)
    assert "<td>2020-06</td><td>305.5</td><td>295.0 – 316.0</td><td>weighted mix" in cells
    assert "seasonal &lt;b&gt;regression&lt;/b&gt;" in html  # texts are escaped
    assert "data:image/svg+xml;base64," + base64.b64encode(b"<svg></svg>").decode() in html


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
    assert "extract_out" in html and "This run made no forecast." in html
    assert "Stage 02_clean" not in html and "#stage-02_clean" not in html
