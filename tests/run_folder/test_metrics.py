"""metrics.json: its reader (keys, finite figures, ordered bounds, path, calibration) and writer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.write import write_metrics


def metrics(**changes: object) -> dict:
    payload = {
        "unit": "CLP/L",
        "interval_levels": [0.5],
        "headline": {"rmse_clp_per_l": 1.0, "mae_clp_per_l": 1.0, "mape_pct": 1.0, "r2": 0.9},
        "evaluations": {},
        "forecast": {
            "month": "2020-05",
            "predicted_clp_per_l": 10.0,
            "lower_50_clp_per_l": 9.0,
            "upper_50_clp_per_l": 11.0,
        },
    }
    payload.update(changes)
    return payload


def write(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_read_metrics_accepts_any_interval_levels(tmp_path: Path) -> None:
    assert read_metrics(write(tmp_path / "metrics.json", metrics()))["unit"] == "CLP/L"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (metrics(headline={"rmse_clp_per_l": 1.0}), "headline.mae_clp_per_l is None"),
        (metrics(interval_levels=[80]), "interval_levels is \\[80\\], not levels in \\(0, 1\\)"),
        ({"unit": "CLP/L"}, "missing key\\(s\\) 'headline'"),
        ([1, 2], "expected a JSON object, found list"),
    ],
)
def test_read_metrics_names_the_file_and_the_key(
    tmp_path: Path, payload: object, message: str
) -> None:
    with pytest.raises(RunFolderError, match=f"metrics.json: .*{message}"):
        read_metrics(write(tmp_path / "metrics.json", payload))


def path_rows(count: int = 12) -> list[dict]:
    months = [f"{2020 + (4 + i) // 12}-{(4 + i) % 12 + 1:02d}" for i in range(count)]
    return [
        {
            "month": month,
            "horizon": i + 1,
            "predicted_clp_per_l": 10.0,
            "lower_50_clp_per_l": 9.0 - i,
            "upper_50_clp_per_l": 11.0 + i,
            "model": "m",
            "reason": "why",
        }
        for i, month in enumerate(months)
    ]


def calibration(**entry: object) -> dict:
    level = {"coverage": 0.5, "mean_width_clp_per_l": 2.0, "months": 70} | entry
    return {"window": "2014-01..2020-03", "method": "m", "horizons": {"1": {"50": level}}}


def test_the_writer_checks_the_path_and_the_calibration(tmp_path: Path) -> None:
    write_metrics(
        tmp_path / "metrics.json", metrics(forecast_path=path_rows(), calibration=calibration())
    )
    assert read_metrics(tmp_path / "metrics.json")["forecast_path"][-1]["month"] == "2021-04"


def shuffled(rows: list[dict]) -> list[dict]:
    rows[3], rows[4] = rows[4], rows[3]
    return rows


def reversed_bounds(rows: list[dict]) -> list[dict]:
    rows[5]["upper_50_clp_per_l"] = 1.0
    return rows


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"interval_levels": [0.5, 0.9]}, "forecast.lower_90_clp_per_l is None"),
        (
            {
                "forecast": {
                    "predicted_clp_per_l": 1.0,
                    "lower_50_clp_per_l": 2.0,
                    "upper_50_clp_per_l": 3.0,
                }
            },
            "forecast bounds are not ordered",
        ),
        ({"forecast_path": path_rows(13)}, "forecast_path must hold 1 to 12 rows"),
        (
            {"forecast_path": shuffled(path_rows())},
            r"forecast_path\[3\] is 2020-09, expected 2020-08",
        ),
        (
            {"forecast_path": reversed_bounds(path_rows())},
            r"forecast_path\[5\] bounds are not ordered",
        ),
        ({"calibration": calibration(coverage=1.5)}, r"calibration.horizons.1.50: coverage 1.5"),
        ({"calibration": calibration(months=0)}, "expected a coverage in"),
        (
            {"calibration": {"window": "2014", "method": "m", "horizons": {}}},
            "not YYYY-MM..YYYY-MM",
        ),
        (
            {"calibration": {"window": "2014-01..2014-02", "method": "m", "horizons": {"1": {}}}},
            "lacks level '50'",
        ),
    ],
)
def test_the_writer_names_what_is_wrong_in_the_forecast_path_or_calibration_and_writes_nothing(
    tmp_path: Path, changes: dict, message: str
) -> None:
    with pytest.raises(RunFolderError, match=f"metrics.json: .*{message}"):
        write_metrics(tmp_path / "metrics.json", metrics(**changes))
    assert not (tmp_path / "metrics.json").exists()


def test_the_writer_writes_what_the_reader_accepts_and_refuses_nan(tmp_path: Path) -> None:
    write_metrics(tmp_path / "metrics.json", metrics(forecast_path=path_rows()))
    assert read_metrics(tmp_path / "metrics.json")["forecast_path"][0]["horizon"] == 1
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_metrics(tmp_path / "metrics.json", metrics(evaluations={"x": math.nan}))


def test_a_missing_or_empty_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match=r"metrics.json: missing"):
        read_metrics(tmp_path / "metrics.json")
    (tmp_path / "metrics.json").write_text("")
    with pytest.raises(RunFolderError, match=r"metrics.json: not JSON"):
        read_metrics(tmp_path / "metrics.json")
