#!/usr/bin/env python
"""Replay the past on the real data: runs at successive price cuts, then the track record.

    python benchmarks/track_record.py                       # cuts 2019-10 .. 2020-04
    python benchmarks/track_record.py --first 2019-06 --last 2020-04 --keep-runs /tmp/replay
    python benchmarks/track_record.py --republish 4000      # then 04_train with a long log

Runs ``run_pipeline.py`` once per month, on a copy of the data whose price file ends that
month (``milk_forecast.data.cuts``), all into one runs folder, as a monthly schedule
would have. Then prints the last run's track record (every earlier published forecast
whose month is now known), checks each error against the earlier run's own
``predictions.json`` and the real price, and prints the drift check. With ``--republish
N``, then appends N lines to the publication log republishing the runs in turn (nothing
new to score), runs the last cut again and prints 04_train's time with each log: the
track record's cost must not grow with republished lines, and its rows must not change.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

import pandas as pd  # noqa: E402

from milk_forecast.data.columns import PRICE_COLUMN, PRICE_FILE  # noqa: E402
from milk_forecast.data.cuts import write_cut  # noqa: E402
from milk_forecast.run_folder.layout import (  # noqa: E402
    CLEAN_FILE,
    LATEST,
    METRICS_FILE,
    MONTH,
    PREDICTIONS_JSON,
    PUBLICATIONS_FILE,
    RUN_JSON,
    TRACK_RECORD_FILE,
)
from milk_forecast.run_folder.metrics import DRIFT, TRACK_RECORD  # noqa: E402
from milk_forecast.run_folder.predictions import PREDICTED, read_predictions_json  # noqa: E402
from milk_forecast.run_folder.publication import PUBLICATION_KEYS  # noqa: E402


def months(first: str, last: str) -> list[str]:
    return [f"{m:%Y-%m}" for m in pd.date_range(f"{first}-01", f"{last}-01", freq="MS")]


def run_at(cut: str, data_dir: Path, work: Path, runs_dir: Path) -> str:
    data = write_cut(data_dir, work / "data" / cut, cut)
    command = [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--data-dir", str(data),
               "--runs-dir", str(runs_dir), "--force"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
    if result.returncode != 0:
        sys.exit(f"run at {cut} failed:\n{result.stdout}\n{result.stderr}")
    run_id = (runs_dir / LATEST).read_text().strip()
    one = [line for line in result.stdout.splitlines() if "track record:" in line]
    print(f"{cut}: run {run_id}; {one[0].strip() if one else ''}")
    return run_id


def check(runs_dir: Path, last: str, price: pd.Series) -> int:
    """Every scored error equals the real price minus the earlier run's own forecast."""
    record = pd.read_parquet(runs_dir / last / TRACK_RECORD_FILE)
    wrong = 0
    for row in record.itertuples(index=False):
        rows = read_predictions_json(runs_dir / row.run_id / PREDICTIONS_JSON)
        published = {r["month"]: r[PREDICTED] for r in rows["rows"] if r["horizon"]}
        expected = price[row.month] - published[f"{row.month:%Y-%m}"]
        wrong += abs(expected - row.error_clp_per_l) > 1e-9
    shown = record.assign(
        origin=record["origin"].dt.strftime("%Y-%m"), month=record["month"].dt.strftime("%Y-%m")
    )
    print(shown.drop(columns="run_id").round(2).to_string(index=False))
    print(f"{len(record)} scored forecasts from {record['run_id'].nunique()} published runs; "
          f"{wrong} error(s) differ from the recomputed ones")  # fmt: skip
    return wrong


def train_seconds(run_dir: Path) -> float:
    stages = json.loads((run_dir / RUN_JSON).read_text())["stages"]
    return next(stage["seconds"] for stage in stages if stage["name"] == "04_train")


def republish(runs_dir: Path, run_ids: list[str], lines: int) -> None:
    """Append ``lines`` publications of ``run_ids`` in turn, one second apart, after now."""
    start = pd.Timestamp.now(tz="UTC").floor("s") + pd.Timedelta(minutes=1)
    with (runs_dir / PUBLICATIONS_FILE).open("a", encoding="utf-8") as log:
        for i in range(lines):
            at = f"{start + pd.Timedelta(seconds=i):%Y-%m-%dT%H:%M:%SZ}"
            entry = (run_ids[i % len(run_ids)], at, "publish")
            log.write(json.dumps(dict(zip(PUBLICATION_KEYS, entry, strict=True))) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument("--first", default="2019-10", help="first cut, YYYY-MM")
    parser.add_argument("--last", default="2020-04", help="last cut, YYYY-MM")
    parser.add_argument("--keep-runs", type=Path, help="runs folder to keep (default: temporary)")
    parser.add_argument("--republish", type=int, default=0, metavar="N",
                        help="then N republished log lines and the last cut again")  # fmt: skip
    args = parser.parse_args()
    if not (args.data_dir / PRICE_FILE).is_file():
        sys.exit(f"no {PRICE_FILE} in {args.data_dir}: pass --data-dir")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runs_dir = args.keep_runs or work / "runs"
        cuts = months(args.first, args.last)
        run_ids = [run_at(cut, args.data_dir, work, runs_dir) for cut in cuts]
        last = run_ids[-1]
        clean = pd.read_parquet(runs_dir / last / CLEAN_FILE)
        price = clean.set_index(MONTH)[PRICE_COLUMN]
        wrong = check(runs_dir, last, price)
        metrics = json.loads((runs_dir / last / METRICS_FILE).read_text())
        print(
            "track record by horizon:",
            json.dumps(metrics[TRACK_RECORD]["horizons"], indent=1),
        )
        print("drift:", json.dumps(metrics[DRIFT], indent=1))
        if args.republish:
            republish(runs_dir, run_ids, args.republish)
            again = run_at(cuts[-1], args.data_dir, work, runs_dir)
            same = pd.read_parquet(runs_dir / last / TRACK_RECORD_FILE).equals(
                pd.read_parquet(runs_dir / again / TRACK_RECORD_FILE)
            )
            print(f"04_train: {train_seconds(runs_dir / last):.2f} s with the log as made; "
                  f"{train_seconds(runs_dir / again):.2f} s after {args.republish} republished "
                  f"lines; track record {'unchanged' if same else 'CHANGED'}")  # fmt: skip
            wrong += not same
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
