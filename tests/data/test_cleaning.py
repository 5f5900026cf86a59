from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from milk_forecast.data import cleaning, parsing
from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.cleaning import (
    CleaningError,
    clean_inputs,
    merge_monthly,
    parse_central_bank_table,
    parse_price_table,
    parse_rainfall_table,
    reason_counts,
)
from milk_forecast.data.columns import (
    BANK_COLUMNS,
    BANK_SERIES,
    IMACEC_COLUMNS,
    IVCM_COLUMN,
    PIB_COLUMNS,
    PRICE_COLUMN,
    RAIN_COLUMNS,
    RAIN_REGIONS,
    RESCALED_COLUMNS,
)
from milk_forecast.data.lost_zeros import check_rescaled_cells
from milk_forecast.run_folder.layout import RESCALED_FILE

MS = pd.Timestamp


def price_raw(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["Anio", "Mes", "Precio_leche"], dtype=str)


def rain_raw(rows: list[tuple[str, str]]) -> pd.DataFrame:
    """``(date, value)`` rows: every region gets the same value."""
    return pd.DataFrame(
        [{"date": date, **dict.fromkeys(RAIN_REGIONS, value)} for date, value in rows], dtype=str
    )


def bank_raw(rows: list[tuple[str, dict[str, str]]]) -> pd.DataFrame:
    """``(Periodo, {column: value})`` rows; other series are empty, plus an unused column."""
    records = []
    for period, values in rows:
        record = {"Periodo": period, **dict.fromkeys(BANK_SERIES, ""), "Ventas_autos_nuevos": "1"}
        record.update(values)
        records.append(record)
    return pd.DataFrame(records, dtype=str)


def test_contract_column_names():
    assert RAIN_COLUMNS == [
        "rain_coquimbo_mm",
        "rain_valparaiso_mm",
        "rain_metropolitana_de_santiago_mm",
        "rain_libertador_gral_bernardo_o_higgins_mm",
        "rain_maule_mm",
        "rain_biobio_mm",
        "rain_la_araucania_mm",
        "rain_los_rios_mm",
    ]
    assert len(BANK_COLUMNS) == 38 == len(set(BANK_COLUMNS))
    assert sum(c.startswith("imacec_") for c in BANK_COLUMNS) == 9
    assert sum(c.startswith("pib") for c in BANK_COLUMNS) == 28
    assert "indice_de_ventas_comercio_real_no_durables_ivcm" in BANK_COLUMNS
    assert "pib_agropecuario_silvicola" in BANK_COLUMNS and "pib" in BANK_COLUMNS


def test_price_spanish_months_unknown_name_dropped_and_logged():
    raw = price_raw([("2020", "Feb", "270.15"), ("2020", "Xyz", "1"), ("2020", "Ene", "3.85")])
    clean, dropped = parse_price_table(raw)
    assert clean["month"].tolist() == [MS("2020-01-01"), MS("2020-02-01")]
    assert clean[PRICE_COLUMN].tolist() == [3.85, 270.15]
    assert dropped[["file", "row", "value"]].values.tolist() == [
        ["precio_leche.csv", 3, "2020 Xyz"]
    ]
    assert "unknown Spanish month name" in dropped.loc[0, "reason"]


def test_price_missing_or_unreadable_price_dropped_and_logged():
    raw = price_raw([("2020", "Ene", ""), ("2020", "Feb", "n/a"), ("2020", "Mar", "279.88")])
    clean, dropped = parse_price_table(raw)
    assert clean["month"].tolist() == [MS("2020-03-01")]
    assert dropped["row"].tolist() == [2, 3]
    assert dropped["reason"].map(cleaning.reason_kind).tolist() == [
        cleaning.MISSING_PRICE,
        cleaning.UNREADABLE_VALUE,
    ]


def test_rain_unsorted_dates_are_sorted_and_renamed():
    raw = rain_raw([("2001-03-01", "3.5"), ("1999-01-01", "0"), ("2000-07-01", "12.25")])
    clean, dropped = parse_rainfall_table(raw)
    assert clean["month"].tolist() == [MS("1999-01-01"), MS("2000-07-01"), MS("2001-03-01")]
    assert clean["rain_maule_mm"].tolist() == [0.0, 12.25, 3.5]
    assert list(clean.columns) == ["month", *RAIN_COLUMNS]
    assert dropped.empty


def test_bank_malformed_period_dropped_and_logged():
    raw = bank_raw(
        [
            ("2020-01-01 00:00:00 UTC", {"PIB": "1.000"}),
            ("2020-13-01 00:00:00 UTC", {"PIB": "2.000"}),
            ("2020-02-01 00:00:00 UTC", {"PIB": "3.000"}),
        ]
    )
    clean, dropped, _ = parse_central_bank_table(raw)
    assert clean["pib"].tolist() == [1000.0, 3000.0]
    assert dropped.to_dict("records") == [
        {
            "file": "banco_central.csv",
            "row": 3,
            "value": "2020-13-01 00:00:00 UTC",
            "reason": "malformed period '2020-13-01 00:00:00 UTC'",
        }
    ]


def test_bank_duplicated_period_keeps_first_and_logs():
    raw = bank_raw(
        [
            ("2019-05-01 00:00:00 UTC", {IVCM_COLUMN: "102.796.218"}),
            ("2019-04-01 00:00:00 UTC", {IVCM_COLUMN: "978.554.365"}),
            ("2019-05-01 00:00:00 UTC", {IVCM_COLUMN: "10.546.824"}),
        ]
    )
    clean, dropped, _ = parse_central_bank_table(raw)
    ivcm = "indice_de_ventas_comercio_real_no_durables_ivcm"
    assert clean["month"].tolist() == [MS("2019-04-01"), MS("2019-05-01")]
    assert clean[ivcm].tolist() == pytest.approx([97.8554365, 102.796218])
    assert dropped["row"].tolist() == [4]
    assert dropped.loc[0, "reason"].startswith("duplicate period 2019-05: kept the first row")
    assert "values differ" in dropped.loc[0, "reason"]


def test_bank_identical_duplicate_is_said_identical():
    row = ("2019-05-01 00:00:00 UTC", {"PIB": "1.000"})
    _, dropped, _ = parse_central_bank_table(bank_raw([row, row]))
    assert "identical" in dropped.loc[0, "reason"]


def test_bank_indices_recovered_and_gdp_dotted():
    raw = bank_raw(
        [
            (
                "2013-03-01 00:00:00 UTC",
                {IMACEC_COLUMNS[0]: "102.796.218", IMACEC_COLUMNS[2]: "978.554.365"}
                | {PIB_COLUMNS[0]: "579.846.819"},
            )
        ]
    )
    clean, _, _ = parse_central_bank_table(raw)
    assert list(clean.columns) == ["month", *BANK_COLUMNS]
    assert clean.loc[0, "imacec_empalmado"] == pytest.approx(102.796218)
    assert clean.loc[0, "imacec_minero"] == pytest.approx(97.8554365)
    assert clean.loc[0, "pib_agropecuario_silvicola"] == 579846819.0
    assert math.isnan(clean.loc[0, "pib"])


def test_bank_placeholder_cell_left_missing_and_logged():
    raw = bank_raw([("2015-01-01 00:00:00 UTC", {"PIB": "a", "PIB_Pesca": "1.000"})])
    clean, dropped, _ = parse_central_bank_table(raw)
    assert math.isnan(clean.loc[0, "pib"])
    assert clean.loc[0, "pib_pesca"] == 1000.0
    assert dropped.loc[0, "value"] == "a"
    assert "'pib'" in dropped.loc[0, "reason"]


def test_bank_rows_outside_price_months_dropped_and_logged():
    raw = bank_raw([(f"2020-0{m}-01 00:00:00 UTC", {"PIB": "1.000"}) for m in (1, 2, 3, 4)])
    clean, dropped, _ = parse_central_bank_table(raw, months=(MS("2020-02-01"), MS("2020-03-01")))
    assert clean["month"].tolist() == [MS("2020-02-01"), MS("2020-03-01")]
    assert dropped["reason"].tolist() == [
        "before the first price month 2020-02",
        "after the last price month 2020-03",
    ]


def test_missing_column_names_file_and_column():
    raw = rain_raw([("2000-01-01", "1")]).drop(columns="Maule")
    with pytest.raises(CleaningError, match=r"precipitaciones\.csv.*'Maule'"):
        parse_rainfall_table(raw)


def monthly_parts(price_months, rain_months, bank_months):
    price = pd.DataFrame(
        {"month": pd.to_datetime(price_months), PRICE_COLUMN: range(1, len(price_months) + 1)}
    )
    rain = pd.DataFrame({"month": pd.to_datetime(rain_months)})
    rain[RAIN_COLUMNS] = 5.0
    bank = pd.DataFrame({"month": pd.to_datetime(bank_months)})
    bank[BANK_COLUMNS] = 100.0
    return price, rain, bank


def test_merge_range_follows_price_and_gaps_become_nan_rows():
    price, rain, bank = monthly_parts(
        ["2020-01-01", "2020-02-01", "2020-05-01"],
        ["2019-12-01", "2020-01-01", "2020-02-01", "2020-06-01"],
        ["2020-01-01", "2020-02-01", "2020-05-01"],
    )
    monthly = merge_monthly(price, rain, bank)
    assert monthly["month"].tolist() == list(pd.date_range("2020-01-01", "2020-05-01", freq="MS"))
    assert list(monthly.columns) == ["month", PRICE_COLUMN, *RAIN_COLUMNS, *BANK_COLUMNS]
    gap = monthly[monthly["month"].isin([MS("2020-03-01"), MS("2020-04-01")])]
    assert gap.drop(columns="month").isna().all().all()
    assert monthly["month"].dtype == "datetime64[ns]"


def test_merge_series_ending_early_stays_nan():
    price, rain, bank = monthly_parts(
        ["2020-01-01", "2020-02-01", "2020-03-01"],
        ["2020-01-01", "2020-02-01", "2020-03-01"],
        ["2020-01-01"],
    )
    monthly = merge_monthly(price, rain, bank)
    assert monthly[PRICE_COLUMN].tolist() == [1.0, 2.0, 3.0]
    assert monthly["pib"].tolist()[0] == 100.0
    assert monthly["pib"].iloc[1:].isna().all()


def test_clean_inputs_merges_and_logs_every_file():
    raw = {
        "precio_leche.csv": price_raw([("2020", "Mar", "3"), ("2020", "Ene", "1")]),
        "precipitaciones.csv": rain_raw([("2020-02-01", "2"), ("2019-12-01", "9")]),
        "banco_central.csv": bank_raw(
            [("2020-01-01 00:00:00 UTC", {"PIB": "1.000"}), ("bad", {"PIB": "2.000"})]
        ),
    }
    result = clean_inputs(raw)
    monthly = result.monthly
    assert monthly["month"].tolist() == list(pd.date_range("2020-01-01", "2020-03-01", freq="MS"))
    assert monthly[PRICE_COLUMN].tolist()[0] == 1.0 and math.isnan(monthly[PRICE_COLUMN][1])
    assert monthly["rain_maule_mm"].isna().tolist() == [True, False, True]
    assert monthly["pib"].tolist()[0] == 1000.0
    counts = reason_counts(result.dropped).set_index(["file", "kind"])["count"].to_dict()
    assert counts == {
        ("banco_central.csv", "malformed period"): 1,
        ("precipitaciones.csv", "before the first price month"): 1,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.monthly = monthly


def test_clean_inputs_names_a_missing_table():
    with pytest.raises(CleaningError, match=r"banco_central\.csv"):
        clean_inputs({"precio_leche.csv": price_raw([]), "precipitaciones.csv": rain_raw([])})


def test_coverage_reports_first_last_and_inner_gaps():
    price, rain, bank = monthly_parts(
        ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"],
        ["2020-01-01", "2020-03-01"],
        ["2020-02-01"],
    )
    table = cleaning.coverage(merge_monthly(price, rain, bank)).set_index("series")
    assert table.loc["rain_maule_mm", "first_month"] == MS("2020-01-01")
    assert table.loc["rain_maule_mm", "last_month"] == MS("2020-03-01")
    assert table.loc["rain_maule_mm", "missing_months_inside"] == 1
    assert table.loc["pib", "months_with_value"] == 1
    assert table.loc[PRICE_COLUMN, "source"] == "precio_leche.csv"


# --- the PIB cells that lost trailing zeros (the data README's rule) -----------------


def test_bank_pib_cells_that_lost_zeros_are_rescaled_and_listed() -> None:
    values = ["221.537.727", "258.440.296", "55.059.326", "", "334.619.379", "3.429.684"]
    raw = bank_raw(
        [
            (f"2014-0{m}-01 00:00:00 UTC", {"PIB_Agropecuario_silvicola": v, "PIB": "1.000"})
            for m, v in enumerate(values, start=1)
        ]
    )
    clean, dropped, rescaled = parse_central_bank_table(raw)
    assert clean["pib_agropecuario_silvicola"].tolist()[:3] == [221537727, 258440296, 550593260]
    assert clean["pib_agropecuario_silvicola"].iloc[-1] == 342968400
    assert clean["pib"].tolist() == [1000.0] * 6
    assert dropped.empty
    assert list(rescaled.columns) == RESCALED_COLUMNS
    assert rescaled[["row", "column", "value", "factor", "rescaled"]].values.tolist() == [
        [4, "PIB_Agropecuario_silvicola", "55.059.326", 10, 550593260.0],
        [7, "PIB_Agropecuario_silvicola", "3.429.684", 100, 342968400.0],
    ]
    assert rescaled["month"].tolist() == [MS("2014-03-01"), MS("2014-06-01")]


def test_indices_are_never_rescaled() -> None:
    raw = bank_raw(
        [
            (f"2014-0{m}-01 00:00:00 UTC", {IVCM_COLUMN: v})
            for m, v in enumerate(["102.796.218", "978.554.365", "10.546.824"], start=1)
        ]
    )
    _, _, rescaled = parse_central_bank_table(raw)
    assert rescaled.empty and list(rescaled.columns) == RESCALED_COLUMNS


def test_the_rescaled_cells_are_checked_against_the_monthly_table(tmp_path) -> None:
    raw = {
        "precio_leche.csv": price_raw([("2014", m, "3") for m in ("Ene", "Feb", "Mar")]),
        "precipitaciones.csv": rain_raw([("2014-01-01", "1")]),
        "banco_central.csv": bank_raw(
            [
                (f"2014-0{m}-01 00:00:00 UTC", {"PIB": v})
                for m, v in enumerate(["100.000.001", "10.000.002", "100.000.003"], start=1)
            ]
        ),
    }
    result = clean_inputs(raw)
    assert result.monthly["pib"].tolist() == [100000001, 100000020, 100000003]
    path = tmp_path / RESCALED_FILE
    check_rescaled_cells(result.rescaled, result.monthly, path)
    tampered = result.rescaled.assign(rescaled=1.0)
    with pytest.raises(StageOutputError, match=r"rescaled_cells\.parquet: PIB 2014-02"):
        check_rescaled_cells(tampered, result.monthly, path)


# --- scale: every step works on whole columns -----------------------------------------


def test_many_duplicated_rows_give_the_same_result_as_one_copy() -> None:
    """100,000 rainfall rows, each month 200 times: kept once, every copy logged."""
    months = [f"{y}-{m:02d}-01" for y in range(2000, 2041) for m in range(1, 13)][:500]
    once = rain_raw([(month, str(i % 97 + 0.5)) for i, month in enumerate(months)])
    many = pd.concat([once] * 200, ignore_index=True)
    many.loc[len(once), "Maule"] = "9999"  # the first copy of the first month differs
    clean_once, dropped_once = parse_rainfall_table(once)
    clean_many, dropped_many = parse_rainfall_table(many)
    pd.testing.assert_frame_equal(clean_many, clean_once)
    assert dropped_once.empty
    assert len(dropped_many) == len(many) - len(once)
    assert dropped_many["row"].tolist() == list(range(len(once) + 2, len(many) + 2))
    first = dropped_many.iloc[0]
    assert first["value"] == months[0]
    assert (
        first["reason"]
        == "duplicate period 2000-01: kept the first row (line 2), its values differ"
    )
    assert dropped_many["reason"].iloc[1].endswith("(line 3), identical to it")


def test_periods_with_absurd_years_are_malformed_not_a_crash() -> None:
    raw = rain_raw([("0000-01-01", "1"), ("9999-12-01", "2"), ("2000-01-01", "3")])
    clean, dropped = parse_rainfall_table(raw)
    assert clean["month"].tolist() == [MS("2000-01-01")]
    assert dropped["reason"].map(cleaning.reason_kind).tolist() == [parsing.MALFORMED_PERIOD] * 2
    prices = price_raw([("0001", "Ene", "1"), ("2000", "Ene", "2")])
    clean, dropped = parse_price_table(prices)
    assert len(clean) == 1 and "year" in dropped.loc[0, "reason"]
