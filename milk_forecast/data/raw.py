"""The three raw input files: reading and validating them, describing them (``inputs.json``).

A raw table is returned exactly as in the file (every column a string, empty cells as
``""``); parsing the values and their traps is ``cleaning.py``'s job. Reading refuses only
what would make that parsing meaningless: a missing or empty file, the wrong delimiter,
ragged rows, missing columns, values that cannot be read at all."""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from milk_forecast.data import columns as cols
from milk_forecast.data.checks import StageOutputError, check_columns, check_written
from milk_forecast.run_folder import record as run_record
from milk_forecast.run_folder.files import read_json_object, sha256
from milk_forecast.run_folder.layout import RunFolderError

FILE_ROLES = {
    cols.PRICE_FILE: "the monthly milk producer price",
    cols.RAIN_FILE: "the monthly rainfall by region",
    cols.BANK_FILE: "the central bank monthly series",
}

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"

OTHER_DELIMITERS = {";": "';'", "\t": "a tab", "|": "'|'"}
MAX_INPUTS_BYTES = 64 * 1024

Rows = list[tuple[int, list[str]]]  # a CSV file's rows with their 1-based line numbers


class RawDataError(ValueError):
    """A raw input file that is missing, malformed or holds unreadable values."""


def is_number(text: str) -> bool:
    """A plain decimal number such as ``3.85``, ``0`` or ``1.2e-05``."""
    return bool(re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text))


def is_bank_value(text: str) -> bool:
    """A central bank cell: empty, dotted digits (``102.796.218``) or a placeholder with no digit.

    The real export holds placeholders such as ``a`` in a few cells; they are missing values
    for the cleaning stage. A value mixing digits with other characters is a format change.
    """
    return bool(re.fullmatch(r"[0-9.]*", text) or re.fullmatch(r"[^0-9]+", text))


def is_iso_date(text: str) -> bool:
    """A real calendar date written ``YYYY-MM-DD``."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text))


def _read_rows(path: Path) -> Rows:
    """The file's rows, after the file-level checks."""
    if not path.is_file():
        role = FILE_ROLES.get(path.name, "a raw input")
        raise RawDataError(
            f"{path}: file not found; the data dir {path.parent} must hold {path.name} ({role})"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RawDataError(f"{path}: not UTF-8 text ({error})") from error
    if not text.strip():
        raise RawDataError(f"{path}: file is empty")
    reader = csv.reader(io.StringIO(text))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as error:
        raise RawDataError(f"{path} line {reader.line_num}: not CSV ({error})") from error
    while rows and not rows[-1][1]:
        rows.pop()
    if not rows[0][1]:
        raise RawDataError(f"{path} line 1: is empty, the header is expected there")
    if len(rows) < 2:
        raise RawDataError(f"{path}: has a header but no data rows")
    return rows


def _check_delimiter(path: Path, header: list[str], required: Sequence[str]) -> None:
    for delimiter, name in OTHER_DELIMITERS.items():
        if len(header) == 1 and len(required) > 1 and delimiter in header[0]:
            raise RawDataError(
                f"{path}: the header parses as a single column; the file seems to use {name} "
                f"as delimiter, ',' is expected"
            )


def _check_shape(path: Path, rows: Rows) -> None:
    width = len(rows[0][1])
    for line, row in rows[1:]:
        if len(row) != width:
            problem = "empty line" if not row else f"{len(row)} field(s)"
            raise RawDataError(
                f"{path} line {line}: {problem}, the header has {width} (truncated or ragged row)"
            )


def _check_required(path: Path, header: list[str], required: Sequence[str]) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise RawDataError(f"{path}: column(s) named twice in the header: {duplicated}")
    missing = [name for name in required if name not in header]
    if missing:
        raise RawDataError(f"{path}: missing required column(s) {missing}")


def _check_values(
    path: Path, rows: Rows, column: str, is_valid: Callable[[str], object], expected: str
) -> None:
    """Raise on the first value of ``column`` that ``is_valid`` rejects, naming line and value."""
    index = rows[0][1].index(column)
    bad = [(line, row[index]) for line, row in rows[1:] if not is_valid(row[index])]
    if bad:
        line, value = bad[0]
        more = f" ({len(bad)} bad values in this column)" if len(bad) > 1 else ""
        raise RawDataError(
            f"{path} line {line}, column {column!r}: {value!r} is not {expected}{more}"
        )


def _check_parseable(path: Path, rows: Rows) -> None:
    """The per-file value checks: only what no cleaning could recover from."""
    if path.name == cols.PRICE_FILE:
        _check_values(path, rows, "Anio", re.compile(r"\d{4}").fullmatch, "an integer year (YYYY)")
        months = " ".join(cols.MONTH_NAMES)
        _check_values(path, rows, "Mes", cols.MONTH_NAMES.__contains__, f"one of {months}")
        _check_values(path, rows, "Precio_leche", is_number, "a number")
    elif path.name == cols.RAIN_FILE:
        _check_values(path, rows, cols.RAIN_DATE, is_iso_date, "a date YYYY-MM-DD")
        for region in cols.RAIN_REGIONS:
            _check_values(path, rows, region, lambda v: v == "" or is_number(v), "a number")
    elif path.name == cols.BANK_FILE:
        for series in cols.BANK_SERIES:
            _check_values(
                path, rows, series, is_bank_value, "digits and dots only (or a placeholder)"
            )


def read_raw_csv(path: Path) -> pd.DataFrame:
    """One raw input, validated, every column a string exactly as in the file."""
    path = Path(path)
    rows = _read_rows(path)
    header = rows[0][1]
    required = cols.RAW_FILES.get(path.name, ())
    _check_delimiter(path, header, required)
    _check_shape(path, rows)
    _check_required(path, header, required)
    _check_parseable(path, rows)
    return pd.DataFrame([row for _, row in rows[1:]], columns=header, dtype=str)


def read_raw_inputs(data_dir: Path) -> dict[str, pd.DataFrame]:
    """The three raw inputs of ``data_dir``, keyed by file name."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise RawDataError(
            f"{data_dir}: data dir not found; it must hold {', '.join(cols.RAW_FILES)}"
        )
    return {name: read_raw_csv(data_dir / name) for name in cols.RAW_FILES}


def file_digest(path: Path) -> dict[str, Any]:
    """What identifies an input file: its sha256 and size."""
    return {"sha256": sha256(path), "bytes": Path(path).stat().st_size}


def describe_inputs(data_dir: Path, tables: dict[str, pd.DataFrame], run_dir: Path) -> dict:
    """``inputs.json``: per raw file its path from ``run_dir`` (no absolute path: a run
    folder can be moved), sha256, bytes and rows."""
    described = {}
    for name, frame in tables.items():
        path = Path(data_dir) / name
        where = os.path.relpath(path, run_dir)
        described[name] = {"path": where, **file_digest(path), "rows": len(frame)}
    return described


def summary_table(inputs: dict[str, dict], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per raw file: rows, columns, bytes and a short sha256, for display."""
    rows = [
        (name, info["rows"], tables[name].shape[1], info["bytes"], info["sha256"][:12])
        for name, info in inputs.items()
    ]
    return pd.DataFrame(rows, columns=["file", "rows", "columns", "bytes", "sha256"])


def check_raw_parquet(path: Path, expected: pd.DataFrame) -> None:
    """A raw parquet reads back with the rows, columns and string values it was written with."""
    frame = pd.read_parquet(check_written(path))
    check_columns(frame, path, expected.columns)
    if list(frame.columns) != list(expected.columns):
        raise StageOutputError(f"{path}: columns differ from the raw file's header")
    if len(frame) != len(expected):
        raise StageOutputError(f"{path}: {len(frame)} rows, the raw file has {len(expected)}")
    if not frame.equals(expected):
        raise StageOutputError(f"{path}: values differ from the raw file")


def check_inputs_json(path: Path, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """``inputs.json`` describes every raw table read (``INPUT_KEYS``), with its row count."""
    try:
        inputs = read_json_object(check_written(path), MAX_INPUTS_BYTES)
    except RunFolderError as exc:
        raise StageOutputError(str(exc)) from None
    for name, entry in inputs.items():
        keys = entry if isinstance(entry, dict) else {}
        missing = [key for key in cols.INPUT_KEYS if key not in keys]
        if missing:
            raise StageOutputError(f"{path}: {name!r} lacks key(s) {missing}")
    if sorted(inputs) != sorted(tables):
        raise StageOutputError(f"{path}: describes {sorted(inputs)}, expected {sorted(tables)}")
    for name, frame in tables.items():
        if inputs[name]["rows"] != len(frame):
            raise StageOutputError(
                f"{path}: {name!r} has rows {inputs[name]['rows']}, the table has {len(frame)}"
            )
    return inputs


DATA_LABELS = {
    run_record.SYNTHETIC_SOURCE: "SYNTHETIC SAMPLE (generated, not real prices)",
    run_record.REAL_SOURCE: "real data",
    run_record.UNKNOWN_SOURCE: "data of unknown origin",
}


def data_label(synthetic: object) -> str:
    """The data a run used, in words, from run.json's ``synthetic_sample`` flag."""
    return DATA_LABELS[run_record.data_source(synthetic)]


def is_synthetic(data_dir: Path) -> bool:
    """Whether ``data_dir`` is a synthetic sample (holds the marker file)."""
    return (Path(data_dir) / cols.SYNTHETIC_MARKER).is_file()


def default_data_dir(project_root: Path = PROJECT_ROOT) -> Path:
    """``<root>/data`` when the real files were dropped there, else the synthetic sample."""
    data = Path(project_root) / "data"
    real = all((data / name).is_file() for name in cols.RAW_FILES)
    return data if real else data / "sample"
