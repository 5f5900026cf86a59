#!/usr/bin/env python
"""Time the Prefect flow next to run_pipeline.py on the real data: the flow's overhead.

    python benchmarks/flow.py                          # 3 of each on ../shared/data
    python benchmarks/flow.py --repeat 5 --data-dir data/sample
    PREFECT_API_URL=http://127.0.0.1:4200/api python benchmarks/flow.py   # a running server

Each repeat runs ``run_pipeline.py --force`` and ``python -m milk_forecast.flows run
--force``, alternating, each in a fresh temporary runs folder, and reads the per-stage
seconds from run.json. Without PREFECT_API_URL every flow run starts Prefect's temporary
local server, which is part of its wall time (as it is for a user). Prints every repeat,
the medians and the flow's overhead (target: within 1.5x of the CLI). Needs
requirements-prefect.txt. These 2-core machines are noisy: compare figures measured in
one batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import timed_run  # noqa: E402

COMMANDS = {
    "cli": [sys.executable, str(PROJECT_ROOT / "run_pipeline.py")],
    "flow": [sys.executable, "-m", "milk_forecast.flows", "run"],
}
COLUMNS = ("stages", "wall")


def time_one_run(command: list[str], data_dir: Path) -> dict[str, float]:
    """Wall time of one forced run, and the sum of its stages' seconds from run.json."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    seconds = timed_run(command, data_dir, PROJECT_ROOT, env)
    return {"stages": seconds["stages total"], "wall": seconds["wall"]}


def row(label: str, timing: dict[str, float]) -> str:
    return f"{label:<12}" + "".join(f"{timing[c]:>11.2f}s" for c in COLUMNS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.data_dir / "precio_leche.csv").is_file():
        sys.exit(f"no precio_leche.csv in {args.data_dir}: pass --data-dir")
    server = os.environ.get("PREFECT_API_URL") or "none (a temporary local server per flow run)"
    print(f"data: {args.data_dir.resolve()}  repeats: {args.repeat}  Prefect API: {server}")
    print(" " * 12 + "".join(f"{c:>12}" for c in COLUMNS))
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in COMMANDS}
    for repeat in range(1, args.repeat + 1):
        for name, command in COMMANDS.items():
            timing = time_one_run(command, args.data_dir.resolve())
            timings[name].append(timing)
            print(row(f"{name} #{repeat}", timing), flush=True)
    medians = {
        name: {c: statistics.median(t[c] for t in runs) for c in COLUMNS}
        for name, runs in timings.items()
    }
    for name, median in medians.items():
        print(row(f"{name} median", median))
    cli, flow = medians["cli"]["wall"], medians["flow"]["wall"]
    print(
        f"flow overhead: {flow - cli:+.2f} s wall ({flow / cli:.2f}x the CLI; target <= 1.5x), "
        f"{medians['flow']['stages'] - medians['cli']['stages']:+.2f} s in the stages"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
