"""The page: what it shows, its charts, the run history, and that nothing from a run folder
can run or fetch anything."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from run_factory import (
    CHART_SVG,
    add_page_files,
    build_metrics,
    build_rows,
    make_run,
    make_unservable,
    write_publications,
)

from milk_forecast.run_folder.layout import FAN_CHART_FILE, FIGURES_DIR, TRACK_RECORD_CHART_FILE
from milk_forecast.run_folder.record import FAILED
from milk_forecast.run_folder.servable import Servable, load_servable
from milk_forecast.service.history import RunIndex
from milk_forecast.service.page import MAX_CHART_BYTES, Page, run_part
from milk_forecast.service.served_run import ServedRun

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"
FAN, TRACK = FAN_CHART_FILE, TRACK_RECORD_CHART_FILE
SCRIPTED_SVG = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"


def metrics(**blocks: Any) -> dict[str, Any]:
    """A metrics.json with a backtest at 1 and 3 months (each lists the model serving it
    first), a track record and a drift warning."""
    document = build_metrics(build_rows(levels=(0.8,)), model="ours", levels=(0.8,))
    rmse = [{"rmse_clp_per_l": value} for value in (6.734, 7.5, 11.24, 9.1, 12.0)]
    document["evaluations"] = {
        "walk_forward": {"models": {"ours": rmse[0], "combo": rmse[1], "naive": rmse[2]}},
        "walk_forward_h3": {"models": {"combo": rmse[3], "naive": rmse[4]}},
    }
    document["track_record"] = {
        "horizons": {"1": {"count": 6, "rmse_clp_per_l": 7.5, "mae_clp_per_l": 5.0, "inside": {"80": 0.83}}}
    }  # fmt: skip
    document["drift"] = {
        "status": "warning",
        "reasons": ["recent RMSE 12 is above 9.7"],
        "rule": "r",
    }
    return document | blocks


def render(
    runs_dir: Path, rows: list | None = None, source: str = "real", message: str = "", **blocks: Any
) -> str:
    """The page of a run made of these rows and metrics, its charts read from ``runs_dir``."""
    run_dir = runs_dir / RUN_A
    document = {
        "unit": "CLP/L",
        "interval_levels": [0.8],
        "rows": rows or build_rows(levels=(0.8,)),
    }
    servable = Servable(RUN_A, run_dir, {}, metrics(**blocks), document)
    summary = {"run_id": RUN_A, "finished_at": "2026-11-27T12:04:00Z", "data_source": source}
    summary["headline"] = servable.metrics["headline"]
    index = RunIndex(runs_dir)
    index.scan()
    page = Page(runs_dir)
    page.render(run_part(servable, summary), index, message)
    return page.body.decode()


@pytest.fixture
def run_dir(runs_dir: Path) -> Path:
    return add_page_files(make_run(runs_dir, RUN_A))


def test_the_first_part_shows_next_month_its_ranges_the_last_price_the_change_and_why(
    runs_dir: Path, run_dir: Path
) -> None:
    text = render(runs_dir)
    rows = build_rows(levels=(0.8,))
    first = next(row for row in rows if row["kind"] == "forecast")
    last = rows[rows.index(first) - 1]
    assert f'id="forecast-value">{first["predicted_clp_per_l"]:,.1f} CLP/L<' in text
    assert '<time datetime="2020-05">May 2020</time>' in text.split('id="forecast-value"')[0]
    low, high = first["lower_80_clp_per_l"], first["upper_80_clp_per_l"]
    assert f"80% likely between <b>{low:,.1f}</b> and <b>{high:,.1f}</b>" in text
    shown = f'{last["actual_clp_per_l"]:,.1f} CLP/L in <time datetime="2020-04">April 2020</time>'
    assert f'id="last-price">{shown}<' in text
    change = first["predicted_clp_per_l"] - last["actual_clp_per_l"]
    percent = 100 * change / last["actual_clp_per_l"]
    assert f'id="change">{change:+.1f} CLP/L ({percent:+.0f}%)<' in text
    assert f"<b>Model:</b> {first['model']}. <b>Why:</b> {first['reason']}" in text
    assert text.index('id="forecast-value"') < text.index("data:image/svg+xml")  # then the chart


def test_the_page_shows_path_backtest_track_record_drift_and_runs(
    runs_dir: Path, run_dir: Path
) -> None:
    text = render(runs_dir)
    assert '<time datetime="2021-04">April 2021</time>' in text  # the path's last month
    assert "Drift warning: recent RMSE 12 is above 9.7" in text and ">83%<" in text
    assert f'href="/runs/{RUN_A}/report.html"' in text
    assert "SYNTHETIC" not in text
    assert text.count('src="data:image/svg+xml;base64,') == 2


def test_the_backtest_marks_the_model_serving_each_horizon(runs_dir: Path, run_dir: Path) -> None:
    text = render(runs_dir)
    served = '<td class="served"><b>{} ●</b></td>'
    assert f"<td>ours</td>{served.format('6.7')}<td>-</td><td>-</td><td>-</td></tr>" in text
    assert f"<td>combo</td><td>7.5</td>{served.format('9.1')}<td>-</td><td>-</td></tr>" in text
    assert "<td>naive</td><td>11.2</td><td>12.0</td><td>-</td><td>-</td></tr>" in text


def test_model_keys_are_named_in_words(runs_dir: Path, run_dir: Path) -> None:
    models = {"walk_forward": {"models": {"persistence": {"rmse_clp_per_l": 11.0}}}}
    text = render(runs_dir, evaluations=models)
    assert "<td>Baseline: the last price</td>" in text and ">persistence<" not in text


def test_a_first_run_says_nothing_is_scored_yet_and_when_the_first_score_comes(
    runs_dir: Path, run_dir: Path
) -> None:
    drift = {"status": "not_enough_history", "window": 6, "scored": 0, "rule": "chi-square"}
    text = render(runs_dir, track_record={"runs": 0, "horizons": {}}, drift=drift)
    assert "Nothing is scored yet" in text
    assert 'include the price of <time datetime="2020-05">May 2020</time>' in text
    assert "waiting for 6 scored one-month forecasts (0 so far)" in text
    assert "<summary>How the drift check works</summary>chi-square" in text  # folded away
    assert text.count('src="data:image/svg+xml;base64,') == 1  # no placeholder chart


def test_a_synthetic_run_says_so(runs_dir: Path, run_dir: Path) -> None:
    text = render(runs_dir, source="synthetic_sample")
    assert "SYNTHETIC SAMPLE" in text
    assert "<td>made-up sample</td>" in text  # the runs table says it in words too


@pytest.mark.parametrize(
    ("drift", "shown"),
    [
        ({"status": "ok"}, "No drift"),
        ({"status": "not_enough_history", "window": 6}, "waiting for 6 scored"),
        ({"status": "odd", "rule": "r"}, "Drift check: odd."),
        ([1, 2], "not computed by this run"),
        ({"status": "warning", "reasons": 5}, "Drift warning: <"),
    ],
)
def test_each_drift_status_has_its_banner(
    runs_dir: Path, run_dir: Path, drift: Any, shown: str
) -> None:
    assert shown in render(runs_dir, drift=drift)


def test_without_a_known_price_the_page_shows_no_last_price_nor_change(
    runs_dir: Path, run_dir: Path
) -> None:
    rows = build_rows(levels=(0.8,))
    for row in rows:
        row["actual_clp_per_l"] = None if row["kind"] == "in_sample" else 0.0
    text = render(runs_dir, rows=rows)
    assert 'id="forecast-value"' in text and 'id="last-price"' not in text
    assert 'id="change"' not in text


def test_malformed_optional_blocks_leave_the_page_standing(runs_dir: Path, run_dir: Path) -> None:
    text = render(runs_dir, evaluations=[1], track_record={"horizons": {"1": 5}}, drift="x")
    assert 'id="forecast-value"' in text and "Nothing is scored yet" in text
    assert "not computed by this run" in text and 'id="backtest"' not in text


def test_text_from_the_run_folder_is_escaped(runs_dir: Path, run_dir: Path) -> None:
    rows = build_rows(levels=(0.8,))
    rows[-1]["model"] = "<img src=x onerror=alert(1)>"
    write_publications(runs_dir, [(RUN_A, "2026-11-27T12:04:00Z", "<b>ops</b>")])
    text = render(runs_dir, rows=rows)
    assert "<img src=x" not in text and "&lt;img src=x" in text
    assert "<b>ops</b>" not in text and "&lt;b&gt;ops&lt;/b&gt;" in text


def test_charts_are_data_images_so_their_scripts_never_run(runs_dir: Path, run_dir: Path) -> None:
    (run_dir / FIGURES_DIR / FAN).write_bytes(SCRIPTED_SVG)
    text = render(runs_dir)
    assert "<script" not in text and 'src="data:image/svg+xml;base64,' in text
    targets = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text)
    assert all(t.startswith(("/", "data:", "#")) and not t.startswith("//") for t in targets)
    assert "<style" not in text and " style=" not in text  # the style sheet is /static/page.css


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
    runs_dir: Path, tmp_path: Path, run_dir: Path, kind: str, reason: str
) -> None:
    break_chart(run_dir / FIGURES_DIR / FAN, kind, tmp_path / "outside.svg")
    charts = ServedRun(load_servable(runs_dir, RUN_A)).page["charts"]
    assert "src" not in charts[FAN]
    assert charts[TRACK]["src"].endswith(base64.b64encode(CHART_SVG).decode())
    assert reason in charts[FAN]["note"]
    assert "outside.svg" not in charts[FAN]["note"]  # never where a symlink leads
    assert str(runs_dir) not in charts[FAN]["note"]  # nor where runs/ is
    assert "not shown" in render(runs_dir)


def test_the_runs_link_only_the_reports_there_are(runs_dir: Path, run_dir: Path) -> None:
    make_run(runs_dir, RUN_B, publish=False)  # no report.html
    text = render(runs_dir)
    assert f'href="/runs/{RUN_A}/report.html"' in text and f"/runs/{RUN_B}/report.html" not in text
    assert f"{RUN_A} <strong>(served)</strong>" in text and f"{RUN_B} <strong>" not in text


def test_the_publications_are_shown_newest_first(runs_dir: Path, run_dir: Path) -> None:
    log = [(RUN_A, "2026-11-28T12:04:00Z", "pipeline"), (RUN_A, "2026-11-29T09:00:00Z", "publish")]
    write_publications(runs_dir, log)
    text = render(runs_dir)
    assert text.index("2026-11-29 09:00 UTC") < text.index("2026-11-28 12:04 UTC")


def test_without_a_run_the_page_says_why_and_lists_the_runs(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, status=FAILED, publish=False)
    index = RunIndex(runs_dir)
    index.scan()
    page = Page(runs_dir)
    page.render(None, index, "no succeeded run <yet>")
    text = page.body.decode()
    assert "no succeeded run &lt;yet&gt;" in text and 'id="forecast' not in text
    assert RUN_A in text and "failed" in text


def test_the_page_is_rendered_again_only_when_what_it_shows_changed(runs_dir: Path) -> None:
    run = ServedRun(load_servable(runs_dir, make_run(runs_dir, RUN_A).name)).page
    index, page = RunIndex(runs_dir), Page(runs_dir)
    index.scan()
    page.render(run, index, "")
    body = page.body
    index.scan()  # nothing changed: the same rows, the same page
    page.render(run, index, "")
    assert page.body is body
    make_run(runs_dir, RUN_B, publish=False)  # the history changed
    index.scan()
    page.render(run, index, "")
    assert page.body is not body and RUN_B.encode() in page.body
