from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_monthly, synthetic_series, without_rain_after

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_TOTAL_COLUMN
from milk_forecast.model.candidates import SeasonalDrift
from milk_forecast.model.ensembles import AdaptiveChoice, Combination
from milk_forecast.model.forecaster import Forecaster, ForecastError, walk
from milk_forecast.model.history import History
from milk_forecast.model.ridges import RecursiveRidge
from milk_forecast.run_folder.layout import MONTH

SEEN: list[tuple[pd.Timestamp, int]] = []  # (last month, rain_end) of every fit


@dataclass(eq=False, repr=False)
class Scripted(Forecaster):
    """Forecasts ``prices[t]`` for month t (by position) at every horizon; NaN: cannot."""

    label: str = "scripted"
    prices: tuple[float, ...] = ()

    @property
    def name(self) -> str:
        return self.label

    def fit(self, history: History) -> Self:
        SEEN.append((history.months[-1], history.rain_end))
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        t = self.history_.last + np.arange(1, horizon + 1)
        return np.log(np.array(self.prices)[t])


def constant_history() -> History:
    """A price of 100 from 2009-12 to 2010-05: the forecasts below are of 2010-01..06."""
    frame = pd.DataFrame(
        {
            MONTH: pd.date_range("2009-12", periods=6, freq="MS"),
            PRICE_COLUMN: 100.0,
            RAIN_TOTAL_COLUMN: 1.0,
        }
    )
    return History.from_table(frame, "2009-12")


A = Scripted("a", (100.0, 100, 101, 100, 99, 120, 100))  # by position: 2009-12..2010-06
B = Scripted("b", (100.0, 110, 90, 110, 90, 100, 101))


def test_the_adaptive_choice_scores_only_the_window_before_the_month():
    history = constant_history()
    pool = AdaptiveChoice((A, B), window=3, gap=1)
    # 2010-04 (origin 2010-03): window 2010-01..03, where "a" is far better
    assert pool.clone().fit(history.up_to(3)).chosen is A
    # 2010-06: the window 2010-03..05 holds the bad month of "a" (120): "b" wins
    fitted = pool.clone().fit(history.up_to(5))
    assert fitted.chosen is B and np.exp(fitted.predict(1)) == pytest.approx([101.0])
    rmse_b = np.sqrt(np.mean((np.log([110, 90, 100]) - np.log(100)) ** 2))
    assert fitted.scores_[1] == pytest.approx(rmse_b)
    # gap 2: the window ends two months before the month (2010-02..04), "a" again
    assert AdaptiveChoice((A, B), window=3, gap=2).fit(history.up_to(5)).chosen is A


def test_a_candidate_that_cannot_forecast_the_month_does_not_compete():
    history = constant_history()
    a = A.clone(prices=(100.0, 100, 101, 100, np.nan, 120, 100))
    assert AdaptiveChoice((a, B), window=3).fit(history.up_to(3)).chosen is B
    with pytest.raises(
        ForecastError, match="selection for 2010-04: no candidate of the pool can forecast it"
    ):
        AdaptiveChoice((a,), window=3).fit(history.up_to(3))


@pytest.fixture(scope="module")
def history() -> History:
    return History.from_table(
        synthetic_series(without_rain_after(synthetic_monthly(), "2020-02")), "1990-01"
    )


def test_the_combination_weighs_candidates_by_their_errors_at_each_horizon(history):
    candidates = (SeasonalDrift(), RecursiveRidge(("price",)))
    origin, h = history.positions(["2018-12"])[0], 3
    fitted = Combination(candidates, window=12).fit(history.up_to(origin, 2))
    past = np.arange(origin - h - 11, origin - h + 1)
    paths = walk(candidates, history, past, 12, rain_lag=2)[:, :, h - 1]
    mse = ((history.log_price[past + h] - paths) ** 2).mean(axis=1)
    expected = (mse.min() / mse) ** 2 / ((mse.min() / mse) ** 2).sum()
    np.testing.assert_allclose(fitted.weights_[h - 1], expected)
    forecasts = walk(candidates, history, [origin], 12, rain_lag=2)[:, 0, h - 1]
    assert fitted.predict(12)[h - 1] == pytest.approx(expected @ forecasts)


def test_every_candidate_forecast_is_made_from_the_months_up_to_its_origin(history):
    """Scored with the rain lag found at the end of the history (2 months) at every origin."""
    SEEN.clear()
    last = history.positions(["2019-06"])[0]
    prices = tuple(np.exp(np.r_[history.log_price, np.zeros(12)]))
    candidates = (Scripted("a", prices), Scripted("b", tuple(p * 1.01 for p in prices)))
    Combination(candidates, window=12).fit(history.up_to(last, 2))
    assert len(SEEN) == 2 * (12 + 12) and max(month for month, _ in SEEN) == history.months[last]
    assert all(
        history.months[rain_end] == month - pd.DateOffset(months=2) for month, rain_end in SEEN
    )


def test_a_candidate_without_a_forecast_gets_no_weight(history):
    nothing = Scripted("nothing", (np.nan,) * (history.last + 13))
    fitted = Combination((nothing, SeasonalDrift()), window=12).fit(history)
    assert (fitted.weights_[:, 0] == 0).all() and (fitted.weights_.sum(axis=1) == 1).all()
    with pytest.raises(ForecastError, match="no candidate has a complete track record"):
        Combination((nothing,), window=12).fit(history)


def test_too_little_history_and_duplicated_names_are_named(history):
    with pytest.raises(
        ForecastError, match=r"\(1993-02\) leaves fewer than 60 months after history_start=1990-01"
    ):
        Combination((SeasonalDrift(),), window=12).fit(
            history.up_to(history.positions(["1995-01"])[0])
        )
    with pytest.raises(ForecastError, match="duplicated names"):
        Combination((SeasonalDrift(), SeasonalDrift())).fit(history)


def test_a_forecast_on_the_history_cut_at_its_origin_equals_the_walked_one(history):
    combination = Combination((SeasonalDrift(), RecursiveRidge(("price", "rain"), 2.0)), window=12)
    origin = history.positions(["2019-04"])[0]
    walked = combination.forecasts_at(history, [origin], 6)
    alone = combination.clone().fit(history.up_to(origin, history.rain_lag)).predict(6)
    assert walked[0] == pytest.approx(alone[5], abs=1e-12)


def test_the_path_says_which_family_weighs_most_and_how_rain_was_held(history):
    candidates = (SeasonalDrift(), RecursiveRidge(("rain",)), RecursiveRidge(("price",), 2.0))
    fitted = Combination(candidates, window=12).fit(history)
    model, reason = fitted.describe(4)
    ridges = fitted.weights_[3][1:].sum()  # the two ridges: one family, most of the weight
    assert (
        ridges > 0.5
        and model == f"weighted mix of 3 models, mostly seasonal regressions ({ridges:.0%})"
    )
    assert reason.startswith("Each model counts more the better it forecast 4 months ahead")
    assert "over the last 12 months (2019-05 to 2020-04)" in reason
    assert "rainfall data end 2020-02, 2 month(s) before the price" in reason
    assert "keep the rainfall total of the 12 months to 2020-02" in reason
