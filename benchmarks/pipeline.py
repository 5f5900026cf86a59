#!/usr/bin/env python
"""Time the whole pipeline (and each stage) on the real data, as a user runs it.

    python benchmarks/pipeline.py                      # 3 runs on ../shared/data
    python benchmarks/pipeline.py --repeat 5 --data-dir data/sample

Each repeat runs ``run_pipeline.py --force`` in a fresh temporary runs folder and
reads the per-stage seconds from its run.json; the wall time includes Python start-up,
kernel start-ups and the report. Prints every repeat and the medians.
Targets (2 cores): whole pipeline <= 12 s wall on the real data, 04_train <= 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from milk_forecast import runs  # noqa: E402

STAGES = ("01_extract", "02_clean", "03_preprocess", "04_train")


def time_one_run(data_dir: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--data-dir", str(data_dir),
             "--runs-dir", str(runs_dir), "--force"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"pipeline failed:\n{result.stdout}\n{result.stderr}")
        record = runs.read_run_record(runs_dir / runs.read_latest(runs_dir))
    seconds = {stage["name"]: stage["seconds"] for stage in record["stages"]}
    seconds["stages total"] = sum(seconds.values())
    seconds["wall"] = wall
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.data_dir / "precio_leche.csv").is_file():
        sys.exit(f"no precio_leche.csv in {args.data_dir}: pass --data-dir")
    columns = [*STAGES, "stages total", "wall"]
    print(f"data: {args.data_dir.resolve()}  repeats: {args.repeat}")
    print(" " * 8 + "".join(f"{c:>14}" for c in columns))
    timings = []
    for number in range(1, args.repeat + 1):
        timing = time_one_run(args.data_dir)
        timings.append(timing)
        print(f"run {number:<4}" + "".join(f"{timing[c]:>13.2f}s" for c in columns))
    medians = {c: statistics.median(t[c] for t in timings) for c in columns}
    print("median  " + "".join(f"{medians[c]:>13.2f}s" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
