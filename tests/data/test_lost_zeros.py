"""The PIB cells that lost trailing zeros: the data README's rule and the check of the list."""

from __future__ import annotations

import pandas as pd
import pytest

from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.lost_zeros import check_rescaled_cells, lost_zero_factors


@pytest.mark.parametrize(
    ("digits", "factors"),
    [
        ([9, 9, 8, 9, 7], [1, 1, 10, 1, 100]),  # short values restored to the usual count
        ([9, 10, 9], [1, 1, 1]),  # longer values are left alone
        ([8, 9, 8, 9], [10, 1, 10, 1]),  # a tie: the larger count
        ([0, 9, 0, 8], [1, 1, 1, 10]),  # empty cells and zeros do not count
        ([0, 0], [1, 1]),
    ],
)
def test_lost_zero_factors(digits: list[int], factors: list[int]) -> None:
    assert lost_zero_factors(pd.Series(digits)).tolist() == factors


def rescaled(**changes: object) -> pd.DataFrame:
    row = {"file": "banco_central.csv", "row": 3, "month": pd.Timestamp("2014-02-01"),
           "column": "PIB", "value": "10.000.002", "factor": 10, "rescaled": 100000020.0}  # fmt: skip
    return pd.DataFrame([row | changes])


MONTHLY = pd.DataFrame({"month": pd.date_range("2014-01-01", periods=3, freq="MS"),
                        "pib": [100000001.0, 100000020.0, 100000003.0]})  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"rescaled": 1.0},
            "PIB 2014-02 is 100000020.0 in the monthly table, not the rescaled 1.0",
        ),
        ({"factor": 1}, "a factor below 10: 1"),
        ({"factor": 15}, "a factor that is not a power of ten"),
        ({"month": pd.Timestamp("2015-01-01")}, "PIB 2015-01 is not in the table"),
        ({"value": None}, "column 'value' has 1 missing value"),
    ],
)
def test_the_list_is_checked_against_the_monthly_table(changes: dict, message: str) -> None:
    check_rescaled_cells(rescaled(), MONTHLY, "rescaled_cells.parquet")
    with pytest.raises(StageOutputError, match=f"rescaled_cells.parquet: {message}"):
        check_rescaled_cells(rescaled(**changes), MONTHLY, "rescaled_cells.parquet")
