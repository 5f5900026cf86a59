#!/usr/bin/env python
"""Time the whole pipeline (and each stage) on the real data, as a user runs it.

    python benchmarks/pipeline.py                      # 3 runs on ../shared/data
    python benchmarks/pipeline.py --repeat 5 --data-dir data/sample
    python benchmarks/pipeline.py --baseline ../main-before --repeat 5

Each repeat runs ``run_pipeline.py --force`` in a fresh temporary runs folder and
reads the per-stage seconds from its run.json; the wall time includes Python start-up,
kernel start-ups and the report. Prints every repeat and the medians.

``--baseline DIR`` times another checkout side by side (its own ``.venv`` when it has
one), alternating the two run by run so both see the same machine load, and prints
the ratio of the medians: these 2-core machines are noisy, ratios measured in one
batch are what to compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("01_extract", "02_clean", "03_preprocess", "04_train")
COLUMNS = (*STAGES, "stages total", "wall")


def python_of(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if venv.is_file() else sys.executable


def timed_run(
    command: list[str], data_dir: Path, cwd: Path, env: dict[str, str] | None = None
) -> dict[str, float]:
    """``command`` run once, forced, in a fresh runs folder: each stage's seconds (from
    run.json), their total and the wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp) / "runs"
        started = time.perf_counter()
        result = subprocess.run(
            [*command, "--data-dir", str(data_dir), "--runs-dir", str(runs_dir), "--force"],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
        run_id = (runs_dir / "LATEST").read_text().strip()
        record = json.loads((runs_dir / run_id / "run.json").read_text())
    seconds = {stage["name"]: stage["seconds"] for stage in record["stages"]}
    seconds["stages total"] = sum(seconds.values())
    seconds["wall"] = wall
    return seconds


def time_one_run(checkout: Path, data_dir: Path) -> dict[str, float]:
    """One forced run of ``checkout``'s run_pipeline.py with its own python."""
    return timed_run([python_of(checkout), str(checkout / "run_pipeline.py")], data_dir, checkout)


def row(label: str, timing: dict[str, float]) -> str:
    return f"{label:<14}" + "".join(f"{timing[c]:>13.2f}s" for c in COLUMNS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to time side by side")
    args = parser.parse_args()
    if not (args.data_dir / "precio_leche.csv").is_file():
        sys.exit(f"no precio_leche.csv in {args.data_dir}: pass --data-dir")
    checkouts = {"this": PROJECT_ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    print(f"data: {args.data_dir.resolve()}  repeats: {args.repeat}")
    for name, path in checkouts.items():
        print(f"  {name}: {path} ({python_of(path)})")
    print(" " * 14 + "".join(f"{c:>14}" for c in COLUMNS))
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for number in range(1, args.repeat + 1):
        for name, path in checkouts.items():
            timings[name].append(time_one_run(path, args.data_dir))
            print(row(f"{name} {number}", timings[name][-1]))
    medians = {
        name: {c: statistics.median(t[c] for t in runs) for c in COLUMNS}
        for name, runs in timings.items()
    }
    for name, median in medians.items():
        print(row(f"median {name}", median))
    if "baseline" in medians:
        ratios = {c: medians["this"][c] / medians["baseline"][c] for c in COLUMNS}
        print(f"{'this/baseline':<14}" + "".join(f"{ratios[c]:>13.2f}x" for c in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
