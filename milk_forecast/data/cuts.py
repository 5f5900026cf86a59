"""A data folder as it was at an earlier month, to replay the past (runs at successive cuts
build a track record): the price file cut after that month, the other files copied
unchanged (the cleaning drops the months after the last price, as in real use).

    python -m milk_forecast.data.cuts --data-dir ../shared/data --last-month 2019-10 --out /tmp/cut
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from milk_forecast.data.columns import PRICE_COLUMNS, PRICE_FILE, RAW_FILES, SYNTHETIC_MARKER
from milk_forecast.data.parsing import SPANISH_MONTHS
from milk_forecast.run_folder.predictions import is_month_text

YEAR, MONTH_NAME, _ = PRICE_COLUMNS


def write_cut(data_dir: Path, out_dir: Path, last_month: str) -> Path:
    """Copy ``data_dir`` into ``out_dir`` with the price rows after ``last_month`` removed."""
    if not is_month_text(last_month):
        raise ValueError(f"last month {last_month!r} is not a month written YYYY-MM")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in [*RAW_FILES, SYNTHETIC_MARKER]:
        if (data_dir / name).is_file() and name != PRICE_FILE:
            shutil.copyfile(data_dir / name, out_dir / name)
    text = (data_dir / PRICE_FILE).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    year_at, month_at = header.index(YEAR), header.index(MONTH_NAME)
    kept = [row for row in body if _month_of(row[year_at], row[month_at]) <= last_month]
    if not kept:
        raise ValueError(f"{data_dir / PRICE_FILE}: no price at or before {last_month}")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *kept])
    (out_dir / PRICE_FILE).write_text(buffer.getvalue(), encoding="utf-8")
    return out_dir


def _month_of(year: str, name: str) -> str:
    """``YYYY-MM`` of a price row (month ``00`` for an unknown name)."""
    return f"{year.strip()}-{SPANISH_MONTHS.get(name.strip().capitalize(), 0):02d}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--last-month", required=True, help="YYYY-MM: the last price kept")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        print(write_cut(args.data_dir, args.out, args.last_month))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
