from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milk_forecast import checks, contracts
from milk_forecast.contracts import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.data.cleaning import clean_inputs
from milk_forecast.data.features import add_shuffled_split, build_features, usable_rows
from milk_forecast.data.raw import read_raw_inputs
from milk_forecast.model import training

LEVELS = (80, 95)
LEVELS_AS_FRACTIONS = (0.8, 0.95)


def synthetic_monthly() -> pd.DataFrame:
    months = pd.date_range("1988-01", "2020-04", freq="MS")
    rng = np.random.default_rng(7)
    season = 0.03 * np.sin(2 * np.pi * (months.month - 2) / 12)
    change = 0.004 + season + 0.01 * rng.standard_normal(len(months))
    frame = pd.DataFrame({"month": months, PRICE_COLUMN: 40 * np.exp(np.cumsum(change))})
    for column in RAIN_COLUMNS:
        frame[column] = rng.gamma(2.0, 30.0, len(months))
    return frame


def usable_frame(monthly: pd.DataFrame) -> pd.DataFrame:
    rows = monthly.loc[monthly["month"] >= "2014-03-01", ["month", PRICE_COLUMN]]
    return add_shuffled_split(rows.reset_index(drop=True))


@pytest.fixture(scope="module")
def result() -> training.TrainingResult:
    monthly = synthetic_monthly()
    return training.train(monthly, usable_frame(monthly), training.TrainParams())


def bounds(frame: pd.DataFrame | pd.Series, side: str) -> list:
    return [frame[f"{side}_{level}_clp_per_l"] for level in LEVELS]


def test_metrics_follow_the_contract(result):
    metrics = result.metrics
    assert set(metrics) == {
        "unit",
        "headline",
        "evaluations",
        "forecast",
        "interval_levels",
        "interval_coverage",
        "interval_method",
        "interval_coverage_time_ordered",
    }
    assert metrics["headline"]["model"] == training.CHOSEN
    walk = metrics["evaluations"]["walk_forward"]
    assert walk["months"][0] == "2018-05" and len(walk["months"]) == 24
    assert {"persistence", "seasonal_naive", training.CHOSEN} <= set(walk["models"])
    assert len(metrics["evaluations"]["shuffled_split"]["months"]) == 15
    assert metrics["forecast"]["month"] == "2020-05"
    json.dumps(metrics, allow_nan=False)


def test_model_beats_persistence_on_a_seasonal_series(result):
    models = result.metrics["evaluations"]["walk_forward"]["models"]
    assert models[training.CHOSEN]["rmse_clp_per_l"] < models["persistence"]["rmse_clp_per_l"]


def test_predictions_one_row_per_month_with_kinds(result):
    frame = result.predictions
    checks.check_monthly(frame, "predictions", contracts.PREDICTION_COLUMNS, [training.PREDICTED])
    kinds = frame.set_index("month")["kind"]
    assert kinds["2018-04-01"] == "in_sample" and kinds["2018-05-01"] == "backtest"
    assert kinds.iloc[-1] == "forecast" and kinds.index[-1] == pd.Timestamp("2020-05-01")
    assert (kinds == "backtest").sum() == 24
    assert np.isnan(frame[training.ACTUAL].iloc[-1])


def test_intervals_are_ordered_and_contain_the_forecast(result):
    rows = result.backtest
    lower80, lower95 = bounds(rows, "lower")
    upper80, upper95 = bounds(rows, "upper")
    point = rows[training.PREDICTED]
    assert (lower95 <= lower80).all() and (lower80 <= point).all()
    assert (point <= upper80).all() and (upper80 <= upper95).all()
    forecast = result.metrics["forecast"]
    ordered = [forecast[key] for key in contracts.ordered_bounds(LEVELS_AS_FRACTIONS)]
    assert ordered == sorted(ordered) and ordered[0] < ordered[-1]


def test_interval_coverage_matches_the_backtest_rows(result):
    rows = result.backtest[result.backtest["kind"] == "backtest"]
    for level in LEVELS:
        lower, upper = rows[f"lower_{level}_clp_per_l"], rows[f"upper_{level}_clp_per_l"]
        inside = ((lower <= rows[training.ACTUAL]) & (rows[training.ACTUAL] <= upper)).mean()
        assert result.metrics["interval_coverage"][str(level)] == pytest.approx(inside)
    assert 0 < result.metrics["interval_coverage"]["80"] < 1


def test_forecast_falls_back_to_price_only_when_rain_ends_early():
    monthly = synthetic_monthly()
    monthly.loc[monthly["month"] >= "2020-02-01", RAIN_COLUMNS] = np.nan
    out = training.train(monthly, usable_frame(monthly), training.TrainParams())
    forecast = out.metrics["forecast"]
    assert forecast["model"].startswith(training.PRICE_ONLY + ":")
    assert "rainfall ends 2020-01" in forecast["reason"]
    assert out.model.spec.inputs == ("price",)
    assert np.isfinite(forecast["predicted_clp_per_l"])


def test_windows_beyond_the_data_fail_clearly():
    monthly = synthetic_monthly()
    params = training.TrainParams(backtest_end="2020-08")
    with pytest.raises(
        training.TrainingError, match="price ends 2020-04, before backtest_end=2020-08"
    ):
        training.train(monthly, usable_frame(monthly), params)
    with pytest.raises(training.TrainingError, match="selection_end=2018-05 must come before"):
        training.train(
            monthly, usable_frame(monthly), training.TrainParams(selection_end="2018-05")
        )


def test_write_outputs_and_read_back(result, tmp_path):
    paths = training.write_outputs(result, tmp_path)
    assert [p.name for p in paths] == ["model.joblib", "metrics.json", "predictions.parquet"]
    metrics = contracts.read_metrics(tmp_path / "metrics.json")
    assert metrics["headline"] == result.metrics["headline"]
    checks.check_parquet(
        tmp_path / "predictions.parquet", contracts.PREDICTION_COLUMNS, [training.PREDICTED]
    )


def test_check_metrics_json_names_the_file_and_key(result, tmp_path):
    broken = json.loads(json.dumps(result.metrics))
    broken["headline"]["r2"] = None
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(checks.StageOutputError, match=r"metrics.json: headline.r2 is None"):
        contracts.read_metrics(path)


@pytest.fixture(scope="module")
def real_result(real_data_dir: Path) -> training.TrainingResult:
    monthly = clean_inputs(read_raw_inputs(real_data_dir)).monthly
    usable = add_shuffled_split(usable_rows(build_features(monthly)))
    return training.train(monthly, usable, training.TrainParams())


@pytest.mark.real_data
def test_real_walk_forward_target(real_result):
    models = real_result.metrics["evaluations"]["walk_forward"]["models"]
    assert models[training.CHOSEN]["rmse_clp_per_l"] <= 7.0
    assert models["persistence"]["rmse_clp_per_l"] == pytest.approx(11.24, abs=0.01)


@pytest.mark.real_data
def test_real_shuffled_split_targets(real_result):
    models = real_result.metrics["evaluations"]["shuffled_split"]["models"]
    assert models[training.CHOSEN]["rmse_clp_per_l"] <= 9.0
    assert models[training.CHOSEN]["r2"] >= 0.91
    assert models["persistence"]["mse_clp2_per_l2"] == pytest.approx(149.0, abs=0.1)


@pytest.mark.real_data
def test_real_interval_coverage(real_result):
    assert 0.7 <= real_result.metrics["interval_coverage"]["80"] <= 0.9
    assert (
        real_result.metrics["interval_coverage"]["95"]
        >= real_result.metrics["interval_coverage"]["80"]
    )
