#!/usr/bin/env python
"""Time the cleaning (02_clean's work) on raw tables inflated to 1k, 10k and 100k rows.

    python benchmarks/cleaning.py                       # the synthetic sample, 1k/10k/100k
    python benchmarks/cleaning.py --data-dir ../shared/data --rows 1000 100000

Each raw CSV is read as 01_extract reads it (``raw.read_raw_csv``); then one table at
a time is inflated to N rows by repeating its rows (duplicated periods, the case that
was quadratic) and ``cleaning.clean_inputs`` is timed on the three tables. Prints the
seconds per table and size, the best of ``--repeat`` runs. The time should grow about
linearly with N. Figures from a shared 2-core machine are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))  # this checkout's package, not another installed copy

from milk_forecast.data import cleaning, raw  # noqa: E402
from milk_forecast.data.columns import RAW_FILES  # noqa: E402


def inflated(table: pd.DataFrame, rows: int) -> pd.DataFrame:
    """``table``'s rows repeated (in order) until it has ``rows`` rows."""
    repeats = -(-rows // len(table))
    return pd.concat([table] * repeats, ignore_index=True).iloc[:rows]


def time_cleaning(tables: dict[str, pd.DataFrame], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        cleaning.clean_inputs(tables)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT / "data" / "sample")
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    tables = {name: raw.read_raw_csv(args.data_dir / name) for name in RAW_FILES}
    print(f"data: {args.data_dir}; best of {args.repeat}; seconds of cleaning.clean_inputs")
    print(f"{'inflated table':<24}" + "".join(f"{n:>12,}" for n in args.rows))
    for name in RAW_FILES:
        seconds = [
            time_cleaning({**tables, name: inflated(tables[name], rows)}, args.repeat)
            for rows in args.rows
        ]
        print(f"{name:<24}" + "".join(f"{s:>12.2f}" for s in seconds), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
