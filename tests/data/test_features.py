from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.columns import PRICE_COLUMN
from milk_forecast.data.features import (
    FEATURE_COLUMNS,
    SERIES_COLUMNS,
    add_shuffled_split,
    build_features,
    feature_columns,
    series_availability,
    usable_rows,
)

PRICES = [10.0, 20.0, 40.0, 70.0, 110.0, 160.0]


def monthly_frame(prices: list[float] = PRICES) -> pd.DataFrame:
    """Every series constant 1.0 except the price; one row per month from 2020-01."""
    months = pd.date_range("2020-01-01", periods=len(prices), freq="MS")
    frame = pd.DataFrame({"month": months})
    for column in SERIES_COLUMNS:
        frame[column] = 1.0
    frame[PRICE_COLUMN] = prices
    return frame


def test_47_series_and_141_features():
    assert len(SERIES_COLUMNS) == 47
    assert len(FEATURE_COLUMNS) == 141 == len(set(FEATURE_COLUMNS))
    features = build_features(monthly_frame())
    assert list(features.columns[:2]) == ["month", PRICE_COLUMN]
    assert feature_columns(features) == FEATURE_COLUMNS


def test_lag_mean_std_hand_computed():
    features = build_features(monthly_frame()).set_index("month")
    price = PRICE_COLUMN
    april, june = pd.Timestamp("2020-04-01"), pd.Timestamp("2020-06-01")
    # April (70): previous months 10, 20, 40.
    assert features.loc[april, f"{price}_lag1"] == 40.0
    assert features.loc[april, f"{price}_mean3"] == pytest.approx(70.0 / 3)
    assert features.loc[april, f"{price}_std3"] == pytest.approx(math.sqrt(233.0 + 1.0 / 3))
    # June (160): previous months 40, 70, 110 -> mean 73.33, sample std sqrt(1233.33).
    assert features.loc[june, f"{price}_mean3"] == pytest.approx(220.0 / 3)
    assert features.loc[june, f"{price}_std3"] == pytest.approx(math.sqrt(3700.0 / 3))
    assert features.loc[june, PRICE_COLUMN] == 160.0


def test_window_needs_two_previous_months():
    features = build_features(monthly_frame())
    price = PRICE_COLUMN
    assert features[f"{price}_lag1"].isna().tolist() == [True] + [False] * 5
    # February has one previous month: no mean nor std yet; March has two: 10, 20.
    assert features[f"{price}_mean3"].isna().tolist()[:3] == [True, True, False]
    assert features.loc[2, f"{price}_mean3"] == 15.0
    assert features.loc[2, f"{price}_std3"] == pytest.approx(math.sqrt(50.0))


def test_features_never_read_the_current_month():
    before = build_features(monthly_frame())
    changed = monthly_frame()
    changed.loc[3, SERIES_COLUMNS] = 9999.0  # April, every series including the price
    after = build_features(changed)
    assert after.loc[3, PRICE_COLUMN] == 9999.0
    pd.testing.assert_frame_equal(after.loc[:3, FEATURE_COLUMNS], before.loc[:3, FEATURE_COLUMNS])
    # ... but May's features do see April.
    assert after.loc[4, f"{PRICE_COLUMN}_lag1"] == 9999.0


def test_build_features_refuses_a_gap_in_months():
    monthly = monthly_frame().drop(index=2)
    with pytest.raises(StageOutputError, match="missing month"):
        build_features(monthly)


def test_usable_rows_need_target_and_every_feature():
    monthly = monthly_frame()
    monthly.loc[4, "rain_maule_mm"] = np.nan  # May: June's rain lag is missing
    monthly.loc[3, PRICE_COLUMN] = np.nan  # April: no target (and May has no price lag)
    usable = usable_rows(build_features(monthly))
    assert usable["month"].tolist() == [pd.Timestamp("2020-03-01")]
    assert usable.index.tolist() == [0]


def split_frame(rows: int) -> pd.DataFrame:
    months = pd.date_range("2014-03-01", periods=rows, freq="MS")
    return pd.DataFrame({"month": months, PRICE_COLUMN: np.arange(rows, dtype=float)})


def test_split_sizes_and_determinism():
    frame = split_frame(74)
    first = add_shuffled_split(frame)
    again = add_shuffled_split(frame.sample(frac=1.0, random_state=0))
    assert (first["split"] == "test").sum() == 15
    assert (first["split"] == "train").sum() == 59
    pd.testing.assert_frame_equal(first, again)
    other = add_shuffled_split(frame, random_state=7)
    assert not first["split"].equals(other["split"])
    assert (add_shuffled_split(frame, test_fraction=0.5)["split"] == "test").sum() == 37


def test_split_is_shuffled_not_the_last_months():
    split = add_shuffled_split(split_frame(74))["split"]
    assert set(split.iloc[-15:]) == {"train", "test"}


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(ValueError, match="test_size"):
        add_shuffled_split(split_frame(10), test_fraction=fraction)


def test_series_availability_puts_the_latest_start_first():
    monthly = monthly_frame()
    monthly.loc[:1, "pib"] = np.nan  # pib starts in March: features complete from May
    monthly.loc[5, "rain_maule_mm"] = np.nan  # ends in May: June's features still complete
    table = series_availability(build_features(monthly))
    first = table.iloc[0]
    assert first["series"] == "pib"
    assert first["first_month"] == pd.Timestamp("2020-05-01")
    maule = table.set_index("series").loc["rain_maule_mm"]
    assert maule["first_month"] == pd.Timestamp("2020-03-01")
    assert maule["last_month"] == pd.Timestamp("2020-06-01")
