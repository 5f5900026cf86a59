from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_monthly, synthetic_series, without_rain_after

from milk_forecast.data import checks
from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.columns import PRICE_COLUMN
from milk_forecast.data.features import add_shuffled_split
from milk_forecast.model import outputs, track_record, training
from milk_forecast.model.ensembles import COMBINED
from milk_forecast.model.forecaster import ORIGIN
from milk_forecast.model.outputs import read_predictions
from milk_forecast.model.windows import WindowError
from milk_forecast.run_folder.layout import MONTH, PREDICTIONS_JSON, RunFolderError
from milk_forecast.run_folder.metrics import (
    CALIBRATION,
    COVERAGE,
    FORECAST_PATH,
    MEAN_WIDTH,
    read_metrics,
    walk_forward_key,
)
from milk_forecast.run_folder.predictions import (
    ACTUAL,
    HORIZON,
    PREDICTED,
    PREDICTION_COLUMNS,
    REASON,
    interval_column,
    read_predictions_json,
)
from milk_forecast.run_folder.write import ordered_bounds

LEVELS = (0.8, 0.95)


def usable_frame(monthly: pd.DataFrame) -> pd.DataFrame:
    rows = monthly.loc[monthly["month"] >= "2014-03-01", ["month", PRICE_COLUMN]]
    return add_shuffled_split(rows.reset_index(drop=True))


def train(monthly: pd.DataFrame, **params) -> training.TrainingResult:
    """The train stage on what 03_preprocess would write from ``monthly``."""
    series = synthetic_series(monthly)
    return training.train(series, usable_frame(monthly), training.TrainParams(**params))


@pytest.fixture(scope="module")
def result() -> training.TrainingResult:
    return train(synthetic_monthly())


def test_metrics_follow_the_contract(result):
    metrics = result.metrics
    assert set(metrics) == {
        "unit",
        "headline",
        "evaluations",
        "forecast",
        "interval_levels",
        FORECAST_PATH,
        CALIBRATION,
    }
    assert metrics["headline"]["model"] == training.CHOSEN
    evaluations = metrics["evaluations"]
    assert set(evaluations) == {
        "walk_forward", "walk_forward_h3", "walk_forward_h6", "walk_forward_h12", "shuffled_split"
    }  # fmt: skip
    walk = evaluations["walk_forward"]
    assert walk["months"][0] == "2018-05" and len(walk["months"]) == 24
    baselines = {"persistence", "seasonal_naive", "seasonal_drift"}
    assert baselines | {training.CHOSEN, COMBINED} <= set(walk["models"])
    for h, months in ((3, 22), (6, 19), (12, 13)):  # origins 2018-04..2020-03, targets <= 2020-04
        evaluation = evaluations[walk_forward_key(h)]
        assert set(evaluation["models"]) == baselines | {COMBINED}
        assert len(evaluation["months"]) == months and evaluation["months"][-1] == "2020-04"
    assert len(evaluations["shuffled_split"]["months"]) == 15
    assert metrics["forecast"]["month"] == "2020-05"
    assert metrics["forecast"] == {
        k: v for k, v in metrics[FORECAST_PATH][0].items() if k != HORIZON
    }
    json.dumps(metrics, allow_nan=False)


def test_model_beats_persistence_on_a_seasonal_series(result):
    for h in (1, 3):
        models = result.metrics["evaluations"][walk_forward_key(h)]["models"]
        ours = models[training.CHOSEN if h == 1 else COMBINED]
        assert ours["rmse_clp_per_l"] < models["persistence"]["rmse_clp_per_l"]


def test_predictions_hold_the_backtest_and_the_twelve_month_path(result):
    frame = result.predictions
    checks.check_monthly(frame, "predictions", PREDICTION_COLUMNS, [PREDICTED])
    kinds = frame.set_index("month")["kind"]
    assert kinds["2018-04-01"] == "in_sample" and kinds["2018-05-01"] == "backtest"
    assert (kinds == "backtest").sum() == 24
    path = frame[frame["kind"] == "forecast"]
    assert list(path[MONTH]) == list(pd.date_range("2020-05-01", "2021-04-01", freq="MS"))
    assert frame[HORIZON].dtype == "Int64" and list(path[HORIZON]) == list(range(1, 13))
    assert frame.loc[frame["kind"] != "forecast", HORIZON].isna().all()
    assert (
        path[REASON].notna().all() and frame.loc[frame["kind"] != "forecast", REASON].isna().all()
    )
    assert path[ACTUAL].isna().all()
    assert path["model"].iloc[0].startswith("seasonal regression on ")
    assert path[REASON].iloc[0].startswith("Of the ")  # every one-step ridge competed
    assert (
        path["model"]
        .iloc[1:]
        .str.fullmatch(r"weighted mix of \d+ models, (mostly|led by) .+ \(\d+%\)")
        .all()
    )


def ordered(frame: pd.DataFrame, levels=LEVELS) -> bool:
    values = frame[ordered_bounds(levels)].to_numpy()
    return bool((np.diff(values, axis=1) >= 0).all())


def test_intervals_are_ordered_and_widen_beyond_one_month(result):
    assert ordered(result.backtest) and ordered(result.path) and ordered(result.calibration)
    path = result.path.set_index(HORIZON)
    width = path[interval_column("upper", 0.8)] - path[interval_column("lower", 0.8)]
    assert width[12] > width[1]
    for level in LEVELS:  # relative half-width never narrows from one month to the next
        relative = np.log(path[interval_column("upper", level)] / path[PREDICTED])
        assert (relative.sort_index().diff().dropna() >= -1e-12).all()


def test_calibration_summarises_its_rows(result):
    block = result.metrics[CALIBRATION]
    assert block["window"] == "2014-01..2020-03"
    assert set(block["horizons"]) == {"1", "3", "6"}
    rows = result.calibration[result.calibration[HORIZON] == 3]
    lower, upper = rows[interval_column("lower", 0.8)], rows[interval_column("upper", 0.8)]
    inside = ((lower <= rows[ACTUAL]) & (rows[ACTUAL] <= upper)).mean()
    entry = block["horizons"]["3"]["80"]
    assert entry[COVERAGE] == pytest.approx(inside) and entry["months"] == 73
    assert entry[MEAN_WIDTH] == pytest.approx((upper - lower).mean())
    assert 0 < block["horizons"]["1"]["95"][COVERAGE] <= 1


def test_calibration_and_backtest_use_no_price_after_their_origin(result):
    """Prices after 2016-06 changed: every forecast and interval from an origin up to
    2016-06 stays as it was, whatever the horizon."""
    monthly = synthetic_monthly()
    later = monthly[MONTH] > pd.Timestamp("2016-06-01")
    monthly.loc[later, PRICE_COLUMN] *= np.exp(np.linspace(0, 0.3, later.sum()))
    changed = train(monthly).calibration
    known = (changed[ORIGIN] <= pd.Timestamp("2016-06-01")).to_numpy()
    assert known.any() and not known.all()
    columns = [PREDICTED, *ordered_bounds(LEVELS)]
    before = result.calibration[columns].to_numpy()[known]
    np.testing.assert_allclose(changed[columns].to_numpy()[known], before, rtol=1e-10)
    assert not np.allclose(
        changed[columns].to_numpy()[~known], result.calibration[columns].to_numpy()[~known]
    )


def test_rainfall_ending_early_still_gives_twelve_horizons_and_says_so():
    out = train(without_rain_after(synthetic_monthly(), "2020-01"))
    forecast = out.metrics["forecast"]
    assert forecast["model"].startswith("seasonal regression on past prices (")
    assert forecast["reason"].startswith("Rainfall is known only through 2020-01 and this")
    assert "regressions on past prices alone competed" in forecast["reason"]
    fitted = out.predictions[out.predictions["kind"] == "in_sample"]
    assert fitted["model"].str.startswith("seasonal regression on past prices (").all()
    path = out.metrics[FORECAST_PATH]
    assert [row[HORIZON] for row in path] == list(range(1, 13))
    assert all(np.isfinite(row[PREDICTED]) for row in path)
    for row in path[1:]:
        assert "rainfall data end 2020-01, 3 month(s) before the price" in row["reason"]
        assert "keep the rainfall total of the 12 months to 2020-01" in row["reason"]


def no_history(result: training.TrainingResult) -> track_record.TrackRecord:
    """The track record of a first run: nothing published before it."""
    levels = tuple(result.metrics["interval_levels"])
    return track_record.evaluate(pd.DataFrame(), pd.Series(dtype="float64"), 1.0, levels)


def test_any_interval_levels_flow_to_every_output(tmp_path):
    levels = (0.5, 0.9, 0.975)
    out = train(synthetic_monthly(), interval_levels=levels)
    for frame in (out.backtest, out.path, out.calibration):
        assert ordered(frame, levels)
    assert set(out.metrics[CALIBRATION]["horizons"]["6"]) == {"50", "90", "97.5"}
    outputs.write_outputs(out.metrics, out.predictions, tmp_path, no_history(out))
    outputs.check_outputs(tmp_path)
    row = read_predictions_json(tmp_path / PREDICTIONS_JSON)["rows"][-1]
    assert row["upper_97.5_clp_per_l"] > row["upper_90_clp_per_l"] > row["upper_50_clp_per_l"]


def test_write_outputs_and_read_back(result, tmp_path):
    paths = outputs.write_outputs(result.metrics, result.predictions, tmp_path, no_history(result))
    assert [p.name for p in paths] == [
        "metrics.json", "predictions.parquet", "predictions.json", "track_record.parquet",
    ]  # fmt: skip
    assert "12 forecast months" in outputs.check_outputs(tmp_path)
    metrics = read_metrics(tmp_path / "metrics.json")
    assert metrics["headline"] == result.metrics["headline"]
    parquet = read_predictions(tmp_path / "predictions.parquet")
    document = read_predictions_json(tmp_path / "predictions.json")
    assert [row["month"] for row in document["rows"]] == [f"{m:%Y-%m}" for m in parquet[MONTH]]
    last = document["rows"][-1]
    assert last["horizon"] == 12 and last["actual_clp_per_l"] is None
    assert document["rows"][0]["horizon"] is None and document["rows"][0]["reason"] is None
    assert last["predicted_clp_per_l"] == pytest.approx(parquet[PREDICTED].iloc[-1])


def test_check_outputs_names_a_missing_path(result, tmp_path):
    outputs.write_outputs(result.metrics, result.predictions, tmp_path, no_history(result))
    frame = pd.read_parquet(tmp_path / "predictions.parquet")
    frame.loc[frame["kind"] == "forecast", HORIZON] = 1
    frame.to_parquet(tmp_path / "predictions.parquet")
    with pytest.raises(StageOutputError, match=r"predictions\.parquet: forecast horizons"):
        outputs.check_outputs(tmp_path)


def test_check_metrics_json_names_the_file_and_key(result, tmp_path):
    broken = json.loads(json.dumps(result.metrics))
    broken["headline"]["r2"] = None
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(RunFolderError, match=r"metrics.json: headline.r2 is None"):
        read_metrics(path)


def test_inputs_the_stage_cannot_use_are_named():
    monthly = synthetic_monthly()
    with pytest.raises(
        StageOutputError,
        match=r"price_rain_monthly.parquet: missing column\(s\) 'rain_8_regions_mm'",
    ):
        training.train(monthly, usable_frame(monthly), training.TrainParams())
    with pytest.raises(
        WindowError, match=r"leaves less than 36 months after history_start=2008-01"
    ):
        train(monthly, history_start="2008-01")
    late_rain = without_rain_after(monthly, "2020-01")
    with pytest.raises(training.TrainingError, match="but input_sets has no price-only set"):
        train(late_rain, input_sets=(("rain",), ("price", "rain")))
