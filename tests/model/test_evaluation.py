from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_series

from milk_forecast.model import evaluation as ev
from milk_forecast.model.candidates import BASELINES, Persistence, SeasonalDrift
from milk_forecast.model.ensembles import Combination
from milk_forecast.model.forecaster import ORIGIN
from milk_forecast.model.history import History
from milk_forecast.model.params import TrainParams
from milk_forecast.model.windows import month_range, resolve
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.predictions import ACTUAL, HORIZON, PREDICTED


@pytest.fixture(scope="module")
def history() -> History:
    return History.from_table(synthetic_series(), "1990-01")


def test_horizon_rows_hold_every_observed_target_of_each_origin(history):
    served = Combination((SeasonalDrift(), Persistence()), window=12)
    origins = history.positions(month_range("2019-10", "2020-03"))
    rows = ev.horizon_rows(history, origins, served, BASELINES)
    assert len(rows) == sum(history.last - o for o in origins)  # targets up to 2020-04
    assert list(rows.columns) == [
        ORIGIN,
        MONTH,
        HORIZON,
        ACTUAL,
        PREDICTED,
        *(b.name for b in BASELINES),
    ]
    row = rows[(rows[ORIGIN] == "2019-12-01") & (rows[HORIZON] == 3)].iloc[0]
    origin = history.positions(["2019-12"])[0]
    assert row[MONTH] == pd.Timestamp("2020-03-01") and row[ACTUAL] == history.price[origin + 3]
    assert row[PREDICTED] == pytest.approx(np.exp(served.forecasts_at(history, [origin], 3)[0]))
    assert row["persistence"] == pytest.approx(history.price[origin])
    assert row["seasonal_naive"] == pytest.approx(history.price[origin + 3 - 12])


def test_the_evaluations_name_the_models_and_months_by_horizon(history):
    served = Combination((SeasonalDrift(), Persistence()), window=12)
    ours = Combination((SeasonalDrift(),), window=12, name="ours")
    origins = history.positions(month_range("2019-05", "2020-03"))
    rows = ev.horizon_rows(history, origins, served, BASELINES)
    w = resolve(TrainParams(), synthetic_series())
    evaluations = ev.horizon_evaluations(history, [ours], served, BASELINES, rows, w)
    assert set(evaluations) == {"walk_forward", "walk_forward_h3", "walk_forward_h6"}  # h=12: none
    one = evaluations["walk_forward"]
    assert (one["months"][0], one["months"][-1], len(one["months"])) == ("2019-06", "2020-04", 11)
    names = ["ours", "horizon_combination", "persistence", "seasonal_naive", "seasonal_drift"]
    assert list(one["models"]) == names
    assert (
        "refit and re-chosen every month on the 24 months ending 1 month(s) before"
        in one["description"]
    )
    six = evaluations["walk_forward_h6"]
    assert len(six["months"]) == 6 and list(six["models"]) == names[1:]
    assert six["models"]["persistence"]["rmse_clp_per_l"] == pytest.approx(
        np.sqrt(np.mean((history.price[origins[:6] + 6] - history.price[origins[:6]]) ** 2))
    )
