from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from milk_forecast.data import raw
from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.columns import (
    BANK_FILE,
    BANK_PERIOD,
    BANK_SERIES,
    IVCM_COLUMN,
    PRICE_COLUMNS,
    PRICE_FILE,
    RAIN_DATE,
    RAIN_FILE,
    RAIN_REGIONS,
    RAW_FILES,
    SYNTHETIC_MARKER,
)
from milk_forecast.run_folder.layout import INPUTS_FILE, raw_parquet_name

PRICE_OK = "Anio,Mes,Precio_leche\n1979,Ene,3.85\n1979,Feb,4.58\n"
RAIN_HEADER = ",".join((RAIN_DATE, *RAIN_REGIONS))
RAIN_OK = f"{RAIN_HEADER}\n1989-02-01,0.71,0,0.02,,0.7,9.1,22.5,52.2\n1979-01-01,0,0,0,0,0,1,2,3\n"
BANK_HEADER = ",".join((BANK_PERIOD, *BANK_SERIES, "Ventas_autos_nuevos"))


def bank_row(period: str, value: str) -> str:
    return ",".join((period, *([value] * len(BANK_SERIES)), "28577"))


BANK_OK = (
    f"{BANK_HEADER}\n"
    + bank_row("2013-03-01 00:00:00 UTC", "102.796.218")
    + "\n"
    + bank_row("2020-13-01 00:00:00 UTC", "")
    + "\n"
    + bank_row("2013-03-01 00:00:00 UTC", "a")
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def write_all(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write(folder, PRICE_FILE, PRICE_OK)
    write(folder, RAIN_FILE, RAIN_OK)
    write(folder, BANK_FILE, BANK_OK)
    return folder


def test_required_columns_match_the_model_series() -> None:
    bank = RAW_FILES[BANK_FILE]
    assert len(BANK_SERIES) == 38
    assert sum(name.startswith("Imacec_") for name in bank) == 9
    assert sum(name.startswith("PIB") for name in bank) == 28
    assert len(RAW_FILES[RAIN_FILE]) == 9


@pytest.mark.real_data
def test_real_header_holds_the_required_columns(real_data_dir: Path) -> None:
    tables = raw.read_raw_inputs(real_data_dir)
    assert {name: len(frame) for name, frame in tables.items()} == {
        PRICE_FILE: 496,
        RAIN_FILE: 496,
        BANK_FILE: 614,
    }
    used_like = [
        column
        for column in tables[BANK_FILE].columns
        if column.startswith(("Imacec_", "PIB")) or column == IVCM_COLUMN
    ]
    assert tuple(used_like) == BANK_SERIES


def test_missing_file_names_the_expected_file(tmp_path: Path) -> None:
    with pytest.raises(raw.RawDataError, match=r"precio_leche\.csv.*not found.*milk"):
        raw.read_raw_csv(tmp_path / PRICE_FILE)


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(raw.RawDataError, match=r"nowhere.*not found"):
        raw.read_raw_inputs(tmp_path / "nowhere")


def test_missing_file_in_data_dir(tmp_path: Path) -> None:
    write_all(tmp_path)
    (tmp_path / RAIN_FILE).unlink()
    with pytest.raises(raw.RawDataError, match=r"precipitaciones\.csv"):
        raw.read_raw_inputs(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"), [("", "empty"), ("Anio,Mes,Precio_leche\n", "no data rows")]
)
def test_empty_file_or_header_only(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, PRICE_FILE, text)
    with pytest.raises(raw.RawDataError, match=expected) as info:
        raw.read_raw_csv(path)
    assert str(path) in str(info.value)


def test_wrong_delimiter_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, PRICE_FILE, PRICE_OK.replace(",", ";"))
    with pytest.raises(raw.RawDataError, match=r"';'.*',' is expected") as info:
        raw.read_raw_csv(path)
    assert str(path) in str(info.value)


def test_truncated_row_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, PRICE_FILE, PRICE_OK + "1979,Mar\n1979,Abr,6.06\n")
    with pytest.raises(raw.RawDataError, match=r"precio_leche\.csv line 4: 2 field"):
        raw.read_raw_csv(path)


def test_row_with_too_many_fields(tmp_path: Path) -> None:
    path = write(tmp_path, PRICE_FILE, "Anio,Mes,Precio_leche\n1979,Ene,3,85\n")
    with pytest.raises(raw.RawDataError, match=r"line 2: 4 field"):
        raw.read_raw_csv(path)


def test_missing_column_is_listed(tmp_path: Path) -> None:
    text = "\n".join(line.rsplit(",", 1)[0] for line in RAIN_OK.splitlines()) + "\n"
    path = write(tmp_path, RAIN_FILE, text)
    with pytest.raises(raw.RawDataError, match=r"precipitaciones\.csv: missing.*'Los_Rios'"):
        raw.read_raw_csv(path)


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        ("1979,Mar,n/d", "Precio_leche", "n/d"),
        ("1979,Mar,", "Precio_leche", ""),
        ("1979,Mar ,5.18", "Mes", "Mar "),
        ("1979,Mars,5.18", "Mes", "Mars"),
        ("79,Mar,5.18", "Anio", "79"),
    ],
)
def test_unparseable_price_names_line_column_value(
    tmp_path: Path, row: str, column: str, value: str
) -> None:
    path = write(tmp_path, PRICE_FILE, f"{PRICE_OK}{row}\n")
    with pytest.raises(raw.RawDataError) as info:
        raw.read_raw_csv(path)
    assert f"{path} line 4, column {column!r}: {value!r}" in str(info.value)


@pytest.mark.parametrize("bad_date", ["1979-13-01", "01/02/1979", "1979-02-30"])
def test_bad_rain_date(tmp_path: Path, bad_date: str) -> None:
    path = write(tmp_path, RAIN_FILE, RAIN_OK + f"{bad_date},0,0,0,0,0,1,2,3\n")
    with pytest.raises(raw.RawDataError, match=r"line 4, column 'date'") as info:
        raw.read_raw_csv(path)
    assert bad_date in str(info.value)


def test_non_numeric_rain(tmp_path: Path) -> None:
    path = write(tmp_path, RAIN_FILE, RAIN_OK + "1979-03-01,0,0,0,0,0,1,2,3mm\n")
    with pytest.raises(raw.RawDataError, match=r"line 4, column 'Los_Rios': '3mm'"):
        raw.read_raw_csv(path)


@pytest.mark.parametrize("value", ["1O2.796.218", "-102.796", "1e5"])
def test_bank_value_with_digits_must_be_dotted_digits(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, BANK_FILE, BANK_OK + "\n" + bank_row("2014-01-01 00:00:00 UTC", value))
    with pytest.raises(raw.RawDataError, match=r"line 5, column 'Imacec_empalmado'"):
        raw.read_raw_csv(path)


def test_valid_files_round_trip_as_strings(tmp_path: Path) -> None:
    tables = raw.read_raw_inputs(write_all(tmp_path))
    assert list(tables) == [PRICE_FILE, RAIN_FILE, BANK_FILE]
    price = tables[PRICE_FILE]
    assert price.to_dict("list") == {
        "Anio": ["1979", "1979"],
        "Mes": ["Ene", "Feb"],
        "Precio_leche": ["3.85", "4.58"],
    }
    rain = tables[RAIN_FILE]
    assert rain.loc[0, "Libertador_Gral__Bernardo_O_Higgins"] == ""
    assert rain.loc[0, "date"] == "1989-02-01"  # rows keep the file's order
    bank = tables[BANK_FILE]
    assert list(bank.columns) == BANK_HEADER.split(",")
    assert bank["PIB"].tolist() == ["102.796.218", "", "a"]
    assert bank["Periodo"].tolist()[1] == "2020-13-01 00:00:00 UTC"
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in bank.dtypes)


def test_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    path = tmp_path / PRICE_FILE
    path.write_bytes(b"\xef\xbb\xbf" + PRICE_OK.encode())
    assert list(raw.read_raw_csv(path).columns) == list(PRICE_COLUMNS)


def test_sha256_and_describe_inputs(tmp_path: Path) -> None:
    path = write(tmp_path, PRICE_FILE, PRICE_OK)
    expected = hashlib.sha256(PRICE_OK.encode()).hexdigest()
    assert raw.file_digest(path) == {"sha256": expected, "bytes": len(PRICE_OK.encode())}
    run_dir = tmp_path / "runs" / "20261127T120301Z"
    described = raw.describe_inputs(tmp_path, {PRICE_FILE: raw.read_raw_csv(path)}, run_dir)
    assert described[PRICE_FILE] == {
        "path": f"../../{PRICE_FILE}",  # from the run folder: it can be moved
        "sha256": expected,
        "bytes": len(PRICE_OK.encode()),
        "rows": 2,
    }


def test_raw_parquet_name() -> None:
    assert raw_parquet_name("precio_leche.csv") == "raw_precio_leche.parquet"


def test_check_raw_parquet(tmp_path: Path) -> None:
    frame = raw.read_raw_csv(write(tmp_path, RAIN_FILE, RAIN_OK))
    path = tmp_path / raw_parquet_name(RAIN_FILE)
    frame.to_parquet(path, index=False)
    raw.check_raw_parquet(path, frame)
    frame.iloc[:1].to_parquet(path, index=False)
    with pytest.raises(StageOutputError, match=r"raw_precipitaciones\.parquet: 1 rows"):
        raw.check_raw_parquet(path, frame)
    with pytest.raises(StageOutputError, match=r"missing\.parquet: was not written"):
        raw.check_raw_parquet(tmp_path / "missing.parquet", frame)


def test_default_data_dir_prefers_real_files_in_data(tmp_path: Path) -> None:
    assert raw.default_data_dir(tmp_path) == tmp_path / "data" / "sample"
    write_all(tmp_path / "data")
    assert raw.default_data_dir(tmp_path) == tmp_path / "data"
    (tmp_path / "data" / BANK_FILE).unlink()
    assert raw.default_data_dir(tmp_path) == tmp_path / "data" / "sample"


def test_is_synthetic(tmp_path: Path) -> None:
    assert not raw.is_synthetic(tmp_path)
    (tmp_path / SYNTHETIC_MARKER).write_text("made up\n")
    assert raw.is_synthetic(tmp_path)


def test_check_inputs_json(tmp_path: Path) -> None:
    tables = raw.read_raw_inputs(write_all(tmp_path / "data"))
    inputs = raw.describe_inputs(tmp_path / "data", tables, tmp_path)
    path = tmp_path / INPUTS_FILE
    path.write_text(json.dumps(inputs))
    raw.check_inputs_json(path, tables)
    inputs[BANK_FILE]["rows"] = 1
    path.write_text(json.dumps(inputs))
    with pytest.raises(StageOutputError, match=r"inputs\.json: 'banco_central\.csv' has rows 1"):
        raw.check_inputs_json(path, tables)
    del inputs[RAIN_FILE]
    path.write_text(json.dumps(inputs))
    with pytest.raises(StageOutputError, match=r"inputs\.json: describes"):
        raw.check_inputs_json(path, tables)


def test_undecodable_or_binary_file(tmp_path: Path) -> None:
    path = tmp_path / PRICE_FILE
    path.write_bytes(b"Anio,Mes,Precio_leche\n1979,Ene,\xff\n")
    with pytest.raises(raw.RawDataError, match=r"precio_leche\.csv: not UTF-8"):
        raw.read_raw_csv(path)
    path.write_bytes(b"Anio,Mes,Precio_leche\n1979,Ene,3\x00\n")
    with pytest.raises(raw.RawDataError, match=r"precio_leche\.csv line 2, column 'Precio_leche'"):
        raw.read_raw_csv(path)


def test_inputs_json_keys_and_row_counts_are_checked(tmp_path: Path) -> None:
    entry = {"path": "/d/a.csv", "sha256": "0" * 64, "bytes": 10, "rows": 3}
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"a.csv": entry}))

    def rows(count: int) -> pd.DataFrame:
        return pd.DataFrame({"x": range(count)})

    assert raw.check_inputs_json(path, {"a.csv": rows(3)})["a.csv"]["rows"] == 3
    with pytest.raises(StageOutputError, match=r"'a.csv' has rows 3, the table has 4"):
        raw.check_inputs_json(path, {"a.csv": rows(4)})
    with pytest.raises(StageOutputError, match=r"describes \['a.csv'\], expected"):
        raw.check_inputs_json(path, {"b.csv": rows(3)})
    path.write_text(json.dumps({"a.csv": {"path": "/d/a.csv"}}))
    with pytest.raises(StageOutputError, match=r"'a.csv' lacks key\(s\) \['sha256'"):
        raw.check_inputs_json(path, {"a.csv": rows(3)})


def test_the_data_a_run_used_in_words() -> None:
    assert "SYNTHETIC SAMPLE" in raw.data_label(True)
    assert raw.data_label(False) == "real data"
    assert raw.data_label(None) == "data of unknown origin"
