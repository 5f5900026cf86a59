"""The page's data: charts read through the guard, the page rendered once per state."""

from __future__ import annotations

from pathlib import Path

import pytest
from run_factory import CHART_SVG, add_page_files, make_run, make_unservable, write_publications

from milk_forecast.run_folder.layout import FAN_CHART_FILE, FIGURES_DIR, TRACK_RECORD_CHART_FILE
from milk_forecast.run_folder.record import FAILED
from milk_forecast.service import dashboard, page
from milk_forecast.service.dashboard import Dashboard, read_charts
from milk_forecast.service.guard import MAX_CHART_BYTES, RunsFolder
from milk_forecast.service.history import RunIndex
from milk_forecast.service.served_run import load_served_run

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"
FAN = FAN_CHART_FILE
TRACK = TRACK_RECORD_CHART_FILE


def fan_path(run_dir: Path) -> Path:
    return run_dir / FIGURES_DIR / FAN


def test_both_charts_are_read(runs_dir: Path) -> None:
    run_dir = add_page_files(make_run(runs_dir, RUN_A))
    charts = read_charts(RunsFolder(runs_dir), run_dir)
    assert charts.images == {FAN: CHART_SVG, TRACK: CHART_SVG}
    assert charts.notes == {}


def break_chart(path: Path, kind: str, outside: Path) -> None:
    if kind == "too_big":
        path.write_bytes(b"<svg>" + b" " * MAX_CHART_BYTES + b"</svg>")
    elif kind == "not_svg":
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
    else:
        make_unservable(path, kind, outside)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "missing"),
        ("fifo", "a FIFO"),
        ("directory", "a directory"),
        ("symlink_out", "leads outside"),
        ("too_big", "allowed"),
        ("not_svg", "not an SVG"),
    ],
)
def test_a_chart_that_cannot_be_shown_is_a_note_and_the_run_still_serves(
    runs_dir: Path, tmp_path: Path, kind: str, reason: str
) -> None:
    run_dir = add_page_files(make_run(runs_dir, RUN_A))
    break_chart(fan_path(run_dir), kind, tmp_path / "outside.svg")
    served = load_served_run(RunsFolder(runs_dir), RUN_A)
    assert served.page is not None
    assert FAN not in served.page.charts and TRACK in served.page.charts
    assert reason in served.page.chart_notes[FAN]
    assert "outside.svg" not in served.page.chart_notes[FAN]  # never where a symlink leads
    assert str(runs_dir) not in served.page.chart_notes[FAN]  # nor where runs/ is
    text = page.render_page(served.page).decode()
    assert "not shown" in text


def served_and_index(runs_dir: Path) -> tuple[object, RunIndex]:
    folder = RunsFolder(runs_dir)
    index = RunIndex(folder)
    index.scan()
    return load_served_run(folder, RUN_A), index


def test_the_page_is_rendered_once_per_state(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_page_files(make_run(runs_dir, RUN_A))
    renders: list[int] = []
    real = dashboard.render_page
    monkeypatch.setattr(dashboard, "render_page", lambda data: renders.append(1) or real(data))
    served, index = served_and_index(runs_dir)
    pages = Dashboard(RunsFolder(runs_dir))
    assert pages.cached(served, index, "") is None
    body = pages.render(served, index, "")
    index.scan()  # nothing changed: the same rows, the same page
    assert pages.cached(served, index, "") is body
    assert pages.render(served, index, "") is body
    assert renders == [1]
    make_run(runs_dir, RUN_B, publish=False)  # the history changed
    index.scan()
    assert pages.cached(served, index, "") is None
    assert RUN_B.encode() in pages.render(served, index, "")
    assert renders == [1, 1]


def test_the_page_lists_runs_with_report_links_and_publications(runs_dir: Path) -> None:
    add_page_files(make_run(runs_dir, RUN_A))
    make_run(runs_dir, RUN_B, publish=False)  # no report.html: no link
    write_publications(
        runs_dir,
        [
            (RUN_A, "2026-11-27T12:04:00Z", "pipeline"),
            (RUN_A, "2026-11-29T09:00:00Z", "<b>ops</b>"),
        ],
    )
    served, index = served_and_index(runs_dir)
    text = Dashboard(RunsFolder(runs_dir)).render(served, index, "").decode()
    assert f'href="/runs/{RUN_A}/report.html"' in text
    assert f"/runs/{RUN_B}/report.html" not in text
    assert text.index("2026-11-29T09:00:00Z") < text.index("2026-11-27T12:04:00Z")  # newest first
    assert "&lt;b&gt;ops&lt;/b&gt;" in text and "<b>ops</b>" not in text


def test_without_a_run_the_page_says_why_and_lists_the_runs(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, status=FAILED, publish=False)
    index = RunIndex(RunsFolder(runs_dir))
    index.scan()
    text = Dashboard(RunsFolder(runs_dir)).render(None, index, "no succeeded run <yet>").decode()
    assert "no succeeded run &lt;yet&gt;" in text
    assert RUN_A in text and "failed" in text
