from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_series

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_TOTAL_COLUMN
from milk_forecast.model.candidates import BASELINES, Persistence, path_candidates
from milk_forecast.model.ensembles import AdaptiveChoice, ByHorizon, Combination
from milk_forecast.model.forecaster import ORIGIN, Forecaster, ForecastError, walk
from milk_forecast.model.history import History
from milk_forecast.model.ridges import OneStepRidge
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.predictions import HORIZON, PREDICTED, interval_column

FITS: list[tuple[str, pd.Timestamp, int]] = []  # (forecaster, last month seen, rain_end)


@dataclass(eq=False, repr=False)
class LastPrice(Forecaster):
    """The last price seen plus ``offsets[h - 1]`` at each horizon; NaN from the ``missing``
    origins (positions). Records every fit."""

    offsets: tuple[float, ...] = (0.0,) * 12
    missing: tuple[int, ...] = ()
    name = "last_price"

    def fit(self, history: History) -> Self:
        FITS.append((self.name, history.months[-1], history.rain_end))
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        if self.history_.last in self.missing:
            return np.full(horizon, np.nan)
        return self.history_.log_price[-1] + np.array(self.offsets[:horizon])


class Family(LastPrice):
    """Members fit together: one call per origin, whatever the number of members."""

    @classmethod
    def fit_predict_many(cls, forecasters, history, horizon):
        FITS.append(("family", history.months[-1], len(forecasters)))
        return np.array([f.clone().fit(history).predict(horizon) for f in forecasters])


def table(log_changes: list[float], start: str = "2000-01") -> pd.DataFrame:
    months = pd.date_range(start, periods=len(log_changes), freq="MS")
    price = 100 * np.exp(np.cumsum(log_changes))
    return pd.DataFrame({MONTH: months, PRICE_COLUMN: price, RAIN_TOTAL_COLUMN: 10.0})


@pytest.fixture(autouse=True)
def no_fits():
    FITS.clear()


EVERY_FORECASTER = [
    *path_candidates(),
    *BASELINES,
    OneStepRidge(("price", "rain"), 2.0),
    AdaptiveChoice((OneStepRidge(),), 24, 1),
    Combination(path_candidates()),
    ByHorizon(AdaptiveChoice((OneStepRidge(),)), Combination(path_candidates())),
]


@pytest.mark.parametrize("forecaster", EVERY_FORECASTER, ids=lambda f: f.name)
def test_every_forecaster_keeps_the_contract(forecaster):
    """Parameters stored as given, nothing else set before fit; fitted attributes end in _;
    a clone is unfitted with the same parameters; the path is as long as asked."""
    assert set(vars(forecaster)) - {"key"} == set(forecaster.get_params())
    clone = forecaster.clone()
    assert clone is not forecaster and clone.get_params() == forecaster.get_params()
    assert clone.key == forecaster.key and hash(clone.key)
    history = History.from_table(synthetic_series(), "1990-01")
    fitted = clone.fit(history)
    assert fitted is clone
    assert all(name.endswith("_") for name in set(vars(fitted)) - set(vars(forecaster)) - {"key"})
    assert fitted.predict(1).shape == (1,)
    assert not hasattr(forecaster, "history_")


def test_parameters_are_read_back_and_changed_by_clone():
    ridge = OneStepRidge(("price",), 2.0)
    assert ridge.get_params() == {
        "inputs": ("price",), "half_life_years": 2.0, "alpha": 1.0, "held_out": ()
    }  # fmt: skip
    assert (
        repr(ridge)
        == "OneStepRidge(inputs=('price',), half_life_years=2.0, alpha=1.0, held_out=())"
    )
    changed = ridge.clone(alpha=3.0)
    assert changed.alpha == 3.0 and changed.key != ridge.key
    pool = AdaptiveChoice((ridge,), 24, 1)
    assert pool.key != pool.clone(candidates=(changed,)).key  # a candidate's parameters count


def test_a_walk_fits_once_per_origin_in_time_order_on_the_months_up_to_it():
    history = History.from_table(synthetic_series(), "1990-01")
    origins = history.positions(pd.date_range("2019-01", "2019-06", freq="MS"))
    first = walk([LastPrice()], history, origins[::-1], 3, rain_lag=2)
    assert [f[1] for f in FITS] == list(history.months[origins])  # in time order
    assert all(rain_end == history.positions([month])[0] - 2 for _, month, rain_end in FITS)
    # the path of each origin is its own price: nothing later was seen
    np.testing.assert_allclose(first[0, :, 0], history.log_price[origins[::-1]])
    again = walk([LastPrice()], history, origins, 3, rain_lag=2)  # remembered
    assert len(FITS) == 6 and (again[0, ::-1] == first[0]).all()
    walk([LastPrice()], history, origins[:2], 3, rain_lag=0)  # another cut: fit again
    assert len(FITS) == 8


def test_a_family_fits_its_members_together_at_each_origin():
    history = History.from_table(synthetic_series(), "1990-01")
    members = [Family((0.0,) * 12), Family((0.1,) * 12), LastPrice()]
    paths = walk(members, history, [100, 101], 12, rain_lag=0)
    assert [f for f in FITS if f[0] == "family"] == [
        ("family", history.months[100], 2), ("family", history.months[101], 2)
    ]  # fmt: skip
    np.testing.assert_allclose(paths[1] - paths[0], 0.1)


def test_a_walk_from_outside_the_series_is_named():
    history = History.from_table(table([0.01] * 30), "2000-01")
    with pytest.raises(
        ForecastError,
        match=r"a forecast from 1999-11 is needed, outside the price series \(2000-01..2002-06\)",
    ):
        walk([LastPrice()], history, [-2, 5], 1, rain_lag=0)


def test_half_widths_are_quantiles_of_the_absolute_errors_known_at_the_origin():
    # persistence's one-month errors are the log changes: targets Jan..Aug 2000
    history = History.from_table(
        table([0.0, 0.01, -0.02, 0.03, -0.04, 0.05, -0.06, 0.07, -0.08]), "2000-01"
    )
    rows = Persistence().backtest(history, [5], [1, 3], [0.5, 0.9], window=3)  # origin 2000-06
    one = rows[rows[HORIZON] == 1].iloc[0]
    # one month ahead: the errors of the targets Apr..Jun 2000 (0.03, -0.04, 0.05)
    half = np.log(one[interval_column("upper", 0.5)] / one[PREDICTED])
    assert half == pytest.approx(0.04) and one[MONTH] == pd.Timestamp("2000-07-01")
    assert np.log(one[interval_column("upper", 0.9)] / one[PREDICTED]) == pytest.approx(0.048)
    assert one[ORIGIN] == pd.Timestamp("2000-06-01")
    assert one["actual_clp_per_l"] == pytest.approx(history.price[6])


def test_an_interval_uses_no_error_after_its_origin():
    series = synthetic_series()
    history = History.from_table(series, "1990-01")
    origins = history.positions(pd.DatetimeIndex(["2015-06-01", "2016-06-01"]))
    before = Persistence().backtest(history, origins, [1, 6], [0.8], window=12)
    later = series[MONTH] > pd.Timestamp("2015-06-01")
    series.loc[later, PRICE_COLUMN] *= np.exp(np.linspace(0, 0.5, later.sum()))
    after = Persistence().backtest(
        History.from_table(series, "1990-01"), origins, [1, 6], [0.8], window=12
    )
    bounds = [interval_column("lower", 0.8), interval_column("upper", 0.8)]
    known = (after[ORIGIN] == pd.Timestamp("2015-06-01")).to_numpy()
    np.testing.assert_allclose(after.loc[known, bounds], before.loc[known, bounds], rtol=1e-12)
    assert not np.allclose(after.loc[~known, bounds], before.loc[~known, bounds])


def test_a_horizon_with_smaller_errors_keeps_the_interval_of_a_shorter_one():
    """On a constant price each horizon's errors are its offset: q = |offset|, raised to
    the largest q of the shorter horizons from the same origin."""
    history = History.from_table(table([0.0] * 60), "2000-01")
    served = ByHorizon(LastPrice((0.01,) * 12), LastPrice((0.0, 0.10, 0.02, 0.30) + (0.0,) * 8))
    path = served.fit(history).forecast(4, [0.8], window=12)
    widths = np.log(path[interval_column("upper", 0.8)] / path[PREDICTED])
    np.testing.assert_allclose(widths, [0.01, 0.10, 0.10, 0.30])
    np.testing.assert_allclose(np.log(path[PREDICTED] / 100), [0.01, 0.10, 0.02, 0.30])


def test_a_missing_error_inside_the_window_is_named():
    history = History.from_table(table([0.0] * 60), "2000-01")
    with pytest.raises(
        ForecastError,
        match="interval of the 1-month forecast of 2004-01: needs the errors of the 12 targets up to 2003-12, 1 of them are missing",
    ):
        LastPrice(missing=(40,)).backtest(history, [47], [1, 2], [0.8], window=12)


def test_a_forecast_needs_a_fit():
    with pytest.raises(ForecastError, match="last_price: forecast before fit"):
        LastPrice().forecast(12, [0.8])
