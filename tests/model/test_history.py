from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_monthly, synthetic_series, without_rain_after

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model.history import History, HistoryError
from milk_forecast.run_folder.layout import MONTH


def test_a_history_knows_where_the_rainfall_ends_and_learns_from_history_start():
    monthly = without_rain_after(synthetic_monthly("2000-01", "2005-12"), "2005-09")
    monthly.loc[monthly[MONTH] == pd.Timestamp("2003-01-01"), RAIN_COLUMNS[0]] = np.nan
    history = History.from_table(synthetic_series(monthly), "2001-03")
    assert history.months[history.start] == pd.Timestamp("2001-03-01")
    assert history.months[history.rain_end] == pd.Timestamp("2005-09-01")
    assert history.rain_lag == 3
    assert np.isnan(history.rain_total[history.positions(["2003-01"])[0]])  # a region missing
    np.testing.assert_allclose(history.log_price, np.log(monthly[PRICE_COLUMN]))


def test_a_cut_sees_the_months_up_to_its_origin_and_rainfall_lagged():
    history = History.from_table(synthetic_series(), "1990-01")
    origin = history.positions(["2010-06"])[0]
    cut = history.up_to(origin, rain_lag=2)
    assert cut.months[-1] == pd.Timestamp("2010-06-01") and cut.last == origin
    assert len(cut.price) == len(cut.log_price) == len(cut.rain_total) == len(cut.calendar)
    assert cut.months[cut.rain_end] == pd.Timestamp("2010-04-01") and cut.rain_lag == 2
    assert np.isnan(cut.rain_total[cut.rain_end + 1 :]).all()
    assert np.isfinite(history.rain_total).all()  # the history itself is left as it was
    assert cut.memo is history.memo  # forecasts made from cuts are remembered together
    assert cut.up_to(5, rain_lag=30).rain_end == -1


def test_months_after_the_series_and_positions_outside_it():
    history = History.from_table(synthetic_series(), "1990-01")
    after = history.months_at(np.array([history.last, history.last + 2]))
    assert list(after) == [pd.Timestamp("2020-04-01"), pd.Timestamp("2020-06-01")]
    assert history.month_at(-2) == pd.Timestamp("1987-11-01")
    with pytest.raises(
        HistoryError, match=r"month 2021-01 is outside the price series \(1988-01..2020-04\)"
    ):
        history.positions(pd.DatetimeIndex(["2020-01-01", "2021-01-01"]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(index=10), "months are not contiguous"),
        (
            lambda t: t.assign(**{PRICE_COLUMN: t[PRICE_COLUMN].where(t.index != 5)}),
            "non-positive price",
        ),
        (lambda t: t.assign(**{PRICE_COLUMN: -t[PRICE_COLUMN]}), "non-positive price"),
    ],
)
def test_a_table_with_a_gap_or_a_bad_price_is_refused(change, message):
    with pytest.raises(HistoryError, match=message):
        History.from_table(change(synthetic_series()), "1990-01")
