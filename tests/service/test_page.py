"""The HTML page: what it shows, and that nothing from a run folder can run or fetch."""

from __future__ import annotations

import re

from milk_forecast.run_folder.layout import FAN_CHART_FILE, TRACK_RECORD_CHART_FILE
from milk_forecast.service import page


def rows() -> list[dict]:
    path = [
        {"month": f"2020-{m:02d}", "kind": "forecast", "horizon": m - 4, "model": "combo",
         "reason": "all inputs", "actual_clp_per_l": None, "predicted_clp_per_l": 330.0 + m,
         "lower_80_clp_per_l": 320.0, "upper_80_clp_per_l": 345.0}
        for m in range(5, 13)
    ]  # fmt: skip
    return path


def data(**changes: object) -> page.PageData:
    metrics = {
        "interval_levels": [0.8],
        "evaluations": {
            "walk_forward": {
                "models": {
                    "ours": {"rmse_clp_per_l": 6.73},
                    "persistence": {"rmse_clp_per_l": 11.24},
                }
            },
            "walk_forward_h3": {"models": {"ours": {"rmse_clp_per_l": 9.1}}},
        },
        "track_record": {
            "horizons": {
                "1": {
                    "count": 6,
                    "rmse_clp_per_l": 7.5,
                    "mae_clp_per_l": 5.0,
                    "inside": {"80": 0.83},
                }
            }
        },
        "drift": {"status": "warning", "reasons": ["recent RMSE 12 is above 9.7"], "rule": "r"},
    }
    values = {
        "service": "milk-price-forecast",
        "run_id": "20261127T120301Z",
        "finished_at": "2026-11-27T12:04:00Z",
        "data_source": "real",
        "metrics": metrics,
        "rows": rows(),
        "charts": {
            FAN_CHART_FILE: b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
        },
        "history": [
            page.RunLine(
                "20261127T120301Z",
                "succeeded",
                "2026-11-27T12:04:00Z",
                "real",
                6.73,
                True,
                "/runs/20261127T120301Z/report.html",
            )
        ],
        "publications": [
            {"run_id": "20261127T120301Z", "published_at": "2026-11-27T12:04:00Z", "by": "pipeline"}
        ],
    }
    values.update(changes)
    return page.PageData(**values)


def test_page_shows_forecast_path_metrics_track_record_drift_and_history() -> None:
    text = page.render_page(data()).decode()
    assert re.search(r'id="forecast-value">335.00 CLP/L', text)
    assert "2020-12" in text and "320.00 – 345.00" in text
    assert "6.73" in text and "9.10" in text and "11.24" in text
    assert "Drift warning: recent RMSE 12 is above 9.7" in text
    assert ">83%<" in text
    assert 'href="/runs/20261127T120301Z/report.html"' in text
    assert "SYNTHETIC" not in text


def test_charts_are_data_images_so_their_scripts_never_run() -> None:
    text = page.render_page(data()).decode()
    assert "<script" not in text
    assert 'src="data:image/svg+xml;base64,' in text


def test_text_from_the_run_folder_is_escaped() -> None:
    hostile = rows()
    hostile[0]["model"] = "<img src=x onerror=alert(1)>"
    text = page.render_page(data(rows=hostile)).decode()
    assert "<img src=x" not in text and "&lt;img src=x" in text


def test_the_page_refers_to_no_other_host() -> None:
    text = page.render_page(data()).decode()
    assert re.findall(r'(?:src|href)="(?:https?:)?//', text) == []


def test_a_synthetic_run_says_so() -> None:
    assert "SYNTHETIC SAMPLE" in page.render_page(data(data_source="synthetic_sample")).decode()


def test_a_placeholder_track_chart_fits_a_phone_and_a_real_one_scrolls() -> None:
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"
    charts = {FAN_CHART_FILE: svg, TRACK_RECORD_CHART_FILE: svg}
    first_run = data(charts=charts, metrics={**data().metrics, "track_record": {"horizons": {}}})
    text = page.render_page(first_run).decode()
    assert re.findall(r'<img class="([^"]+)"', text) == ["chart", "chart fits"]
    assert text.count("Scroll the chart sideways") == 1
    text = page.render_page(data(charts=charts)).decode()
    assert re.findall(r'<img class="([^"]+)"', text) == ["chart", "chart"]
    assert text.count("Scroll the chart sideways") == 2
