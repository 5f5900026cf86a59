from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS, RAIN_TOTAL_COLUMN
from milk_forecast.data.series import check_series, price_rain_series
from milk_forecast.run_folder.layout import MONTH


def clean_monthly(months: int = 8) -> pd.DataFrame:
    """Price 100, 101, ...; region i rains i + 1 mm; no price in the first and last month."""
    frame = pd.DataFrame({MONTH: pd.date_range("2020-01", periods=months, freq="MS")})
    frame[PRICE_COLUMN] = 100.0 + np.arange(months)
    frame.loc[[0, months - 1], PRICE_COLUMN] = np.nan
    for i, column in enumerate(RAIN_COLUMNS):
        frame[column] = float(i + 1)
    frame["imacec_empalmado"] = 1.0  # other series are left out
    return frame


def test_the_series_spans_the_observed_price_and_sums_the_rainfall():
    monthly = clean_monthly()
    monthly.loc[3, RAIN_COLUMNS[2]] = np.nan
    series = price_rain_series(monthly)
    assert list(series.columns) == [MONTH, PRICE_COLUMN, RAIN_TOTAL_COLUMN]
    assert series[MONTH].iloc[0] == pd.Timestamp("2020-02-01") and len(series) == 6
    assert series[PRICE_COLUMN].tolist() == [101.0, 102, 103, 104, 105, 106]
    assert series[RAIN_TOTAL_COLUMN].isna().tolist() == [False, False, True, False, False, False]
    assert series[RAIN_TOTAL_COLUMN].iloc[0] == sum(range(1, 9))


def test_a_table_without_a_price_is_refused():
    monthly = clean_monthly().assign(**{PRICE_COLUMN: np.nan})
    with pytest.raises(StageOutputError, match="has no value"):
        price_rain_series(monthly)


def test_the_check_names_the_file_and_the_bad_price(tmp_path: Path):
    path = tmp_path / "price_rain_monthly.parquet"
    series = price_rain_series(clean_monthly())
    series.to_parquet(path)
    assert len(check_series(path)) == 6
    series.loc[2, PRICE_COLUMN] = -1.0
    series.to_parquet(path)
    with pytest.raises(
        StageOutputError, match=r"price_rain_monthly.parquet: .* not positive at 2020-04"
    ):
        check_series(path)
    series.drop(index=3).to_parquet(path)
    with pytest.raises(
        StageOutputError, match=r"price_rain_monthly.parquet: 1 missing month\(s\): 2020-05"
    ):
        check_series(path)
