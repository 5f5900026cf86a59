from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from milk_forecast.data import cleaning, raw
from milk_forecast.data import sample as sample_data
from milk_forecast.data.columns import (
    BANK_FILE,
    BANK_SERIES,
    IMACEC_COLUMNS,
    IVCM_COLUMN,
    MONTH_NAMES,
    PIB_COLUMNS,
    PRICE_FILE,
    RAIN_FILE,
    RAIN_REGIONS,
    RAW_FILES,
    SYNTHETIC_MARKER,
)

DOTTED = re.compile(r"\d{1,3}(\.\d{3})*")


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("sample")
    sample_data.write_sample(folder)
    return raw.read_raw_inputs(folder)


def decode_index(text: str) -> float:
    """The README's rule: an index starting with 1 has three integer digits, otherwise two."""
    digits = text.replace(".", "")
    point = 3 if digits.startswith("1") else 2
    return float(f"{digits[:point]}.{digits[point:]}")


def test_committed_sample_is_a_fresh_generation() -> None:
    for name, content in sample_data.expected_files().items():
        assert (raw.SAMPLE_DIR / name).read_bytes() == content, name
    assert raw.is_synthetic(raw.SAMPLE_DIR)


def test_committed_sample_is_small() -> None:
    assert sum(path.stat().st_size for path in raw.SAMPLE_DIR.iterdir()) < 300_000


def test_generation_depends_on_the_seed_only() -> None:
    first = sample_data.generate_sample(seed=7)
    assert sample_data.generate_sample(seed=7) == first
    other = sample_data.generate_sample(seed=8)
    assert all(other[name] != first[name] for name in RAW_FILES)


def test_check_cli_reports_differences(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert sample_data.main(["--out", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [*RAW_FILES, SYNTHETIC_MARKER]
    )
    assert sample_data.main(["--out", str(tmp_path), "--check"]) == 0
    with (tmp_path / PRICE_FILE).open("a") as stream:
        stream.write("2020,May,1.00\n")
    assert sample_data.main(["--out", str(tmp_path), "--check"]) == 1
    assert "precio_leche.csv: differs" in capsys.readouterr().err


def test_sample_has_the_real_row_counts(tables: dict[str, pd.DataFrame]) -> None:
    assert {name: len(frame) for name, frame in tables.items()} == {
        PRICE_FILE: 496,
        RAIN_FILE: 496,
        BANK_FILE: 614,
    }


def test_price_file_quirks(tables: dict[str, pd.DataFrame]) -> None:
    price = tables[PRICE_FILE]
    assert price["Mes"].head(12).tolist() == list(MONTH_NAMES)
    assert (price.iloc[0]["Anio"], price.iloc[-1]["Anio"], price.iloc[-1]["Mes"]) == (
        "1979",
        "2020",
        "Abr",
    )
    assert price["Precio_leche"].str.fullmatch(r"\d+\.\d{2}").all()


def test_rain_rows_are_shuffled_and_complete(tables: dict[str, pd.DataFrame]) -> None:
    dates = pd.to_datetime(tables[RAIN_FILE]["date"])
    assert not dates.is_monotonic_increasing
    expected = pd.date_range("1979-01-01", "2020-04-01", freq="MS")
    assert dates.sort_values().tolist() == expected.tolist()


def test_rain_is_winter_heavy_and_wetter_southwards(tables: dict[str, pd.DataFrame]) -> None:
    rain = tables[RAIN_FILE]
    values = rain[list(RAIN_REGIONS)].astype(float)
    month = pd.to_datetime(rain["date"]).dt.month
    assert values.mean().is_monotonic_increasing
    assert (values[month.isin([6, 7])].mean() > 2 * values[month.isin([1, 2])].mean()).all()
    assert (values["Coquimbo"] == 0).any()


def test_bank_periods_malformed_duplicated_unsorted(tables: dict[str, pd.DataFrame]) -> None:
    periods = tables[BANK_FILE]["Periodo"]
    assert periods.tolist().count(sample_data.MALFORMED_PERIOD) == 1
    counts = periods.value_counts()
    assert (counts == 2).sum() == 2 and counts.max() == 2
    valid = periods[periods != sample_data.MALFORMED_PERIOD]
    assert valid.str.fullmatch(r"\d{4}-\d{2}-01 00:00:00 UTC").all()
    assert not valid.is_monotonic_increasing
    assert (valid.min(), valid.max()) == ("1970-01-01 00:00:00 UTC", "2020-11-01 00:00:00 UTC")


def test_duplicated_bank_rows_are_identical(tables: dict[str, pd.DataFrame]) -> None:
    bank = tables[BANK_FILE]
    repeated = bank[bank["Periodo"].duplicated(keep=False)]
    assert len(repeated) == 4
    assert len(repeated.drop_duplicates()) == 2


def series_by_period(bank: pd.DataFrame, column: str) -> pd.Series:
    bank = bank[bank["Periodo"] != sample_data.MALFORMED_PERIOD].drop_duplicates()
    return bank.set_index(bank["Periodo"].str[:7])[column].sort_index()


def test_pib_only_from_2013_and_ivcm_only_from_2014(tables: dict[str, pd.DataFrame]) -> None:
    bank = tables[BANK_FILE]
    for column in PIB_COLUMNS:
        values = series_by_period(bank, column)
        assert values[:"2012-12"].isin(["", sample_data.PLACEHOLDER]).all(), column
        assert (values["2013-01":"2020-09"] != "").all(), column
    ivcm = series_by_period(bank, IVCM_COLUMN)
    assert (ivcm[:"2013-12"] == "").all()
    assert (ivcm["2014-01":"2020-10"] != "").all()


def test_bank_values_use_the_broken_dotted_format(tables: dict[str, pd.DataFrame]) -> None:
    bank = tables[BANK_FILE]
    for column in BANK_SERIES:
        values = bank[column][~bank[column].isin(["", sample_data.PLACEHOLDER])]
        assert values.str.fullmatch(DOTTED).all(), column
    pib = bank["PIB"][bank["PIB"] != ""].str.replace(".", "").astype(int)
    assert pib.between(10**8, 10**9).all()
    assert (bank == sample_data.PLACEHOLDER).to_numpy().sum() == len(sample_data.PLACEHOLDER_CELLS)


def test_indices_decode_into_their_range(tables: dict[str, pd.DataFrame]) -> None:
    bank = tables[BANK_FILE]
    for column in (*IMACEC_COLUMNS, IVCM_COLUMN):
        values = bank[column][~bank[column].isin(["", sample_data.PLACEHOLDER])]
        decoded = values.map(decode_index)
        assert decoded.between(60, 130).all(), column
        assert decoded.max() > 100 > decoded.min(), column


def monthly_price(tables: dict[str, pd.DataFrame]) -> pd.Series:
    price = tables[PRICE_FILE]
    month = price["Mes"].map({name: i + 1 for i, name in enumerate(MONTH_NAMES)})
    index = pd.to_datetime({"year": price["Anio"].astype(int), "month": month, "day": 1})
    return pd.Series(price["Precio_leche"].astype(float).to_numpy(), index=index)


def test_price_trend_and_seasonality(tables: dict[str, pd.DataFrame]) -> None:
    price = monthly_price(tables)
    assert 2 < price["1979"].mean() < 8
    assert 200 < price["2020"].mean() < 400
    change = np.log(price).diff()
    by_month = change.groupby(change.index.month).mean()
    assert by_month[4] + by_month[5] > 0.05  # March to May rises
    assert by_month[9] < -0.02  # September falls
    assert change.abs().max() < 0.3


def test_a_few_gdp_cells_lost_their_trailing_zeros(tables: dict[str, pd.DataFrame]) -> None:
    """The cleaning rescales exactly those cells, back to the rounded value they stand for."""
    rescaled = cleaning.clean_inputs(tables).rescaled
    expected = {
        (name, pd.Timestamp(month)): 10**zeros for name, month, zeros in sample_data.LOST_ZERO_CELLS
    }
    cells = rescaled.set_index(["column", "month"])["factor"].to_dict()
    assert cells == expected
    assert (rescaled["rescaled"] % rescaled["factor"] == 0).all()
