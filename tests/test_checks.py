from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milk_forecast.data import checks


def monthly(months: list[str], values: list[float] | None = None) -> pd.DataFrame:
    values = values if values is not None else [1.0] * len(months)
    return pd.DataFrame({"month": pd.to_datetime(months), "price": values})


def test_a_clean_monthly_table_passes() -> None:
    checks.check_monthly(monthly(["2020-01-01", "2020-02-01"]), "x.parquet", ["price"], ["price"])


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (monthly([]), "has no rows"),
        (monthly(["2020-02-01", "2020-01-01"]), "not sorted"),
        (monthly(["2020-01-01", "2020-01-01"]), "2020-01 appears more than once"),
        (monthly(["2020-01-01", "2020-04-01"]), "2 missing month\\(s\\): 2020-02, 2020-03"),
        (monthly(["2020-01-15"]), "first day of a month"),
        (monthly(["2020-01-01", "2020-02-01"], [1.0, np.nan]), "'price' has 1 missing value"),
    ],
)
def test_each_problem_is_named_with_the_file(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(checks.StageOutputError, match=f"clean_monthly.parquet: .*{message}"):
        checks.check_monthly(frame, "clean_monthly.parquet", ["price"], ["price"])


def test_missing_column_is_named() -> None:
    with pytest.raises(checks.StageOutputError, match="missing column\\(s\\) 'rain_mm'"):
        checks.check_monthly(monthly(["2020-01-01"]), "f.parquet", ["rain_mm"])


def test_gaps_are_allowed_when_not_contiguous() -> None:
    checks.check_monthly(monthly(["2020-01-01", "2020-05-01"]), "f.parquet", contiguous=False)


def test_check_parquet_reads_back_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "features_monthly.parquet"
    with pytest.raises(checks.StageOutputError, match="was not written"):
        checks.check_parquet(path)
    monthly(["2020-01-01", "2020-02-01"]).to_parquet(path)
    assert len(checks.check_parquet(path, ["price"])) == 2
