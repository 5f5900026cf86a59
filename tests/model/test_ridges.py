from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from series_factory import (
    SEASON,
    periodic_history,
    synthetic_monthly,
    synthetic_series,
    without_rain_after,
)

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model.forecaster import ForecastError, walk
from milk_forecast.model.history import History
from milk_forecast.model.ridges import Design, OneStepRidge, RecursiveRidge, held_rain, rain_inputs
from milk_forecast.run_folder.layout import MONTH


def test_one_step_design_by_hand():
    history = History.from_table(synthetic_series(), "1990-01")
    design = Design.of(history)
    lp = history.log_price
    assert len(design.target) == history.last + 2 and np.isnan(
        design.target[-1]
    )  # the month forecast
    assert design.target[5] == pytest.approx(lp[5] - lp[4])
    assert design.inputs["price"][20] == pytest.approx(lp[19] - lp[7])
    assert design.inputs["rain"][20] == pytest.approx(np.log1p(history.rain_total[8:20].sum()))
    assert np.isnan(design.inputs["rain"][11]) and np.isfinite(design.inputs["rain"][12])
    assert design.calendar[20].tolist() == [1.0 if m == 8 else 0.0 for m in range(12)]  # 1989-09


def test_the_inputs_of_a_month_never_read_that_month():
    monthly = synthetic_monthly()
    changed = monthly.copy()
    changed.loc[100, [PRICE_COLUMN, *RAIN_COLUMNS]] *= 3
    before, after = (
        Design.of(History.from_table(synthetic_series(m), "1990-01")) for m in (monthly, changed)
    )
    for name in ("price", "rain"):
        np.testing.assert_array_equal(before.inputs[name][:101], after.inputs[name][:101])
    assert before.target[100] != after.target[100]  # the target itself does read it


def test_a_one_step_ridge_recovers_a_pure_calendar_effect():
    history = periodic_history(6, drift=0.0).up_to(59)
    ridge = OneStepRidge(("price",), half_life_years=3.0).fit(history)
    expected = SEASON[history.calendar[-1] + 1 - 12]
    assert ridge.predict(1) - history.log_price[-1] == pytest.approx([expected], abs=1e-6)
    in_sample = ridge.in_sample(np.arange(30, 60))
    np.testing.assert_allclose(
        in_sample - history.log_price[29:59], SEASON[history.calendar[30:60]], atol=1e-6
    )


def test_a_one_step_ridge_refuses_too_few_months_and_unknown_inputs():
    history = periodic_history(4).up_to(36)
    with pytest.raises(ForecastError, match="only 12 usable training month"):
        OneStepRidge(("rain",)).fit(History.from_table(synthetic_series(), "2019-05"))
    ridge = OneStepRidge(("price", "wind"))  # parameters are only stored, as in scikit-learn
    with pytest.raises(ForecastError, match=r"unknown input\(s\) \['wind'\]"):
        ridge.fit(history)


def test_held_out_months_are_never_learnt_from():
    """Holding out every month from 2010 learns what a history ending in 2009 learns."""
    history = History.from_table(synthetic_series(), "1990-01")
    later = tuple(f"{m:%Y-%m}" for m in history.months[history.months >= "2010-01-01"])
    held = OneStepRidge(("price", "rain"), held_out=later).fit(history)
    cut = OneStepRidge(("price", "rain")).fit(history.up_to(history.positions(["2009-12"])[0]))
    np.testing.assert_allclose(held.coef_, cut.coef_, rtol=1e-12)
    assert not np.allclose(OneStepRidge(("price", "rain")).fit(history).coef_, held.coef_)


def test_one_step_forecasts_do_not_change_when_the_future_changes():
    ridges = [OneStepRidge(("price",), 2.0), OneStepRidge(("price", "rain"))]
    series = synthetic_series()
    history = History.from_table(series, "1990-01")
    origins = history.positions(pd.date_range("2004-01", "2004-12", freq="MS"))
    before = walk(ridges, history, origins, 1, 0)
    series.loc[series[MONTH] >= "2004-07-01", series.columns[1:]] *= 5
    after = walk(ridges, History.from_table(series, "1990-01"), origins, 1, 0)
    np.testing.assert_array_equal(before[:, :6], after[:, :6])  # origins up to 2004-06
    assert not np.allclose(before[:, 6:], after[:, 6:])


@pytest.mark.parametrize("family", [OneStepRidge, RecursiveRidge])
def test_a_family_fit_together_equals_each_member_fit_alone(family):
    history = History.from_table(
        without_rain_after(synthetic_monthly(), "2020-01").pipe(synthetic_series), "1990-01"
    )
    inputs = [("price",), ("rain",), ("price", "rain")] + (
        [("acc3",), ("rain", "acc3")] if family is RecursiveRidge else []
    )
    members = [family(i, h, 2.0) for i in inputs for h in (2.0, None)]
    horizon = family.horizons
    together = family.fit_predict_many(members, history.up_to(history.last - 5), horizon)
    alone = [m.clone().fit(history.up_to(history.last - 5)).predict(horizon) for m in members]
    np.testing.assert_array_equal(together, np.array(alone))


def test_rain_not_observed_is_held_at_the_last_complete_twelve_months():
    history = History.from_table(
        synthetic_series(without_rain_after(synthetic_monthly("1995-01", "2010-12"), "2010-08")),
        "1995-01",
    )
    assert held_rain(history) == pytest.approx(
        np.log1p(history.rain_total[history.rain_end - 11 : history.rain_end + 1].sum())
    )
    assert np.isnan(rain_inputs(history)[history.rain_end + 2 :]).all()  # windows past the rain
    paths = RecursiveRidge.fit_predict_many(
        [RecursiveRidge(("rain",)), RecursiveRidge(("price", "rain", "acc3"), 2.0)], history, 12
    )
    assert np.isfinite(paths).all()


def test_without_rainfall_the_rain_ridges_give_no_forecast():
    monthly = synthetic_monthly("1990-01", "2005-12")
    monthly[RAIN_COLUMNS] = np.nan
    history = History.from_table(synthetic_series(monthly), "1990-01")
    paths = RecursiveRidge.fit_predict_many(
        [RecursiveRidge(("rain",)), RecursiveRidge(("price",))], history, 12
    )
    assert np.isnan(paths[0]).all() and np.isfinite(paths[1]).all()
    ridge = RecursiveRidge(("wind",))
    with pytest.raises(ForecastError, match=r"unknown input\(s\) \['wind'\]"):
        ridge.fit(history)
