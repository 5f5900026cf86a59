"""The contract module: names built from parameters, and the readers of the JSON artefacts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from blocking import finishes

from milk_forecast import contracts


@pytest.mark.parametrize(
    ("level", "label"), [(0.8, "80"), (0.95, "95"), (0.5, "50"), (0.975, "97.5"), (0.9, "90")]
)
def test_interval_columns_are_built_from_the_level(level: float, label: str) -> None:
    assert contracts.level_label(level) == label
    assert contracts.interval_column(contracts.LOWER, level) == f"lower_{label}_clp_per_l"


def test_ordered_bounds_go_from_the_widest_lower_to_the_widest_upper() -> None:
    assert contracts.ordered_bounds([0.95, 0.5]) == [
        "lower_95_clp_per_l",
        "lower_50_clp_per_l",
        "predicted_clp_per_l",
        "upper_50_clp_per_l",
        "upper_95_clp_per_l",
    ]


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
    assert contracts.read_metrics(write(tmp_path / "metrics.json", metrics()))["unit"] == "CLP/L"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (metrics(headline={"rmse_clp_per_l": 1.0}), "headline.mae_clp_per_l is None"),
        (metrics(interval_levels=[80]), "interval_levels is \\[80\\], not levels in \\(0, 1\\)"),
        (metrics(interval_levels=[0.5, 0.9]), "forecast.lower_90_clp_per_l is None"),
        (
            metrics(
                forecast={
                    "predicted_clp_per_l": 1.0,
                    "lower_50_clp_per_l": 2.0,
                    "upper_50_clp_per_l": 3.0,
                }
            ),
            "forecast bounds are not ordered",
        ),
        ({"unit": "CLP/L"}, "missing key\\(s\\) 'headline'"),
        ([1, 2], "expected a JSON object, found list"),
    ],
)
def test_read_metrics_names_the_file_and_the_key(
    tmp_path: Path, payload: object, message: str
) -> None:
    with pytest.raises(contracts.StageOutputError, match=f"metrics.json: .*{message}"):
        contracts.read_metrics(write(tmp_path / "metrics.json", payload))


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


def test_read_metrics_checks_the_path_and_the_calibration(tmp_path: Path) -> None:
    payload = metrics(forecast_path=path_rows(), calibration=calibration())
    read = contracts.read_metrics(write(tmp_path / "metrics.json", payload))
    assert read["forecast_path"][-1]["month"] == "2021-04"


def shuffled(rows: list[dict]) -> list[dict]:
    rows[3], rows[4] = rows[4], rows[3]
    return rows


def reversed_bounds(rows: list[dict]) -> list[dict]:
    rows[5]["upper_50_clp_per_l"] = 1.0
    return rows


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"forecast_path": path_rows(13)}, "forecast_path must hold 1 to 12 rows, found 13"),
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
def test_read_metrics_names_what_is_wrong_in_the_path_or_the_calibration(
    tmp_path: Path, changes: dict, message: str
) -> None:
    with pytest.raises(contracts.StageOutputError, match=f"metrics.json: .*{message}"):
        contracts.read_metrics(write(tmp_path / "metrics.json", metrics(**changes)))


def test_a_file_that_was_not_written_or_is_empty_says_so(tmp_path: Path) -> None:
    with pytest.raises(contracts.StageOutputError, match=r"metrics.json: was not written"):
        contracts.read_metrics(tmp_path / "metrics.json")
    (tmp_path / "metrics.json").write_text("")
    with pytest.raises(contracts.StageOutputError, match=r"metrics.json: was not written"):
        contracts.read_metrics(tmp_path / "metrics.json")


def test_read_inputs_checks_keys_and_row_counts(tmp_path: Path) -> None:
    entry = {"path": "/d/a.csv", "sha256": "0" * 64, "bytes": 10, "rows": 3}
    path = write(tmp_path / "inputs.json", {"a.csv": entry})
    assert contracts.read_inputs(path, {"a.csv": 3})["a.csv"]["rows"] == 3
    with pytest.raises(contracts.StageOutputError, match=r"'a.csv' has rows 3, the table has 4"):
        contracts.read_inputs(path, {"a.csv": 4})
    with pytest.raises(contracts.StageOutputError, match=r"describes \['a.csv'\], expected"):
        contracts.read_inputs(path, {"b.csv": 3})
    write(path, {"a.csv": {"path": "/d/a.csv"}})
    with pytest.raises(contracts.StageOutputError, match=r"'a.csv' lacks key\(s\) \['sha256'"):
        contracts.read_inputs(path)


def test_data_source_and_label() -> None:
    assert contracts.data_source(True) == "synthetic_sample"
    assert contracts.data_source(False) == "real"
    assert contracts.data_source("yes") == "unknown"
    assert "SYNTHETIC SAMPLE" in contracts.data_label(True)


def prediction_rows() -> list[dict]:
    rows = [
        {"month": "2020-03", "kind": "backtest", "model": "m", "horizon": None, "reason": None,
         "actual_clp_per_l": 300.0, "predicted_clp_per_l": 299.0,
         "lower_80_clp_per_l": 290.0, "upper_80_clp_per_l": 310.0},
        {"month": "2020-04", "kind": "forecast", "model": "m", "horizon": 1, "reason": "why",
         "actual_clp_per_l": None, "predicted_clp_per_l": 301.0,
         "lower_80_clp_per_l": 291.0, "upper_80_clp_per_l": 311.0},
    ]  # fmt: skip
    return rows


def test_read_predictions_json_accepts_the_contract(tmp_path: Path) -> None:
    document = {"unit": "CLP/L", "interval_levels": [0.8], "rows": prediction_rows()}
    path = write(tmp_path / "predictions.json", document)
    assert contracts.read_predictions_json(path)["rows"][1]["horizon"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"month": "2020-05"}, "row 1: month 2020-05 follows .* not sorted or a gap"),
        ({"kind": "guess"}, "row 1: kind is 'guess'"),
        ({"horizon": None}, "row 1: a forecast row needs an integer horizon"),
        ({"horizon": 13}, "row 1: horizon 13 is outside 1..12"),
        ({"predicted_clp_per_l": "301"}, "row 1: predicted_clp_per_l is '301'"),
        ({"upper_80_clp_per_l": 300.0}, r"row 1: 80% interval 291.0..300.0 does not hold 301.0"),
        ({"lower_80_clp_per_l": None}, r"row 1: 80% interval None..311.0"),
    ],
)
def test_read_predictions_json_names_the_row_and_the_problem(
    tmp_path: Path, change: dict, message: str
) -> None:
    rows = prediction_rows()
    rows[1].update(change)
    path = write(tmp_path / "predictions.json", {"interval_levels": [0.8], "rows": rows})
    with pytest.raises(contracts.StageOutputError, match=f"predictions.json: {message}"):
        contracts.read_predictions_json(path)


def test_a_json_artefact_larger_than_the_bound_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"status": "succeeded", "pad": "' + "x" * 2000 + '"}')
    with pytest.raises(contracts.RunFolderError, match="larger than 1000 bytes"):
        contracts.read_json_object(path, contracts.RunFolderError, max_bytes=1000)


def test_deeply_nested_json_is_refused_not_crashed(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(contracts.RunFolderError, match=r"run\.json: unreadable"):
        contracts.read_run_record(tmp_path)


def test_a_file_swapped_for_a_fifo_after_the_check_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.json"
    os.mkfifo(path)
    monkeypatch.setattr(contracts, "check_written", lambda path, error: path)  # the race
    (outcome,) = finishes(lambda: contracts.read_json_object(path, contracts.RunFolderError))
    assert isinstance(outcome, contracts.RunFolderError)
    assert "run.json: unreadable" in str(outcome) and "not a regular file" in str(outcome)


def test_a_fifo_publication_log_is_noted_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / contracts.PUBLICATIONS_FILE)
    ((entries, notes),) = finishes(lambda: contracts.read_publications(tmp_path))
    assert entries == []
    assert "publications.jsonl" in notes[0] and "not a regular file" in notes[0]


def test_read_regular_reads_past_a_short_read_up_to_one_byte_more_than_allowed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * (3 << 20))
    assert len(contracts.read_regular(path, 2 << 20)) == (2 << 20) + 1
    assert len(contracts.read_regular(path, 4 << 20)) == 3 << 20
