"""Throughput and p99 latency of /api/predict against a plain Starlette JSON endpoint.

Starts ``uvicorn app:app`` (1 worker, uvloop + httptools) on a free loopback port with
``MILK_BENCH_PLAIN=1`` (mounts /bench/plain), then alternates wrk rounds (1 thread,
16 connections) between /bench/plain and /api/predict in the same server process.
Target: predict throughput >= 85% of plain and p99 <= 5 ms.

    .venv/bin/python benchmarks/api.py [--runs-dir runs] [--rounds 3] [--seconds 5]

Without --runs-dir a fake run is built in a temporary folder (tests/run_factory.py).
Needs wrk (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.85
TARGET_P99_MS = 5.0
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Round:
    requests_per_s: float
    p99_ms: float
    bad_responses: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_runs_dir(parent: Path) -> Path:
    """A runs folder holding one fake succeeded run, published as LATEST."""
    sys.path.insert(0, str(ROOT / "tests"))
    from run_factory import make_run

    runs_dir = parent / "runs"
    make_run(runs_dir)
    return runs_dir


def start_server(runs_dir: Path, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--loop", "uvloop", "--http", "httptools"]
    command += ["--log-level", "warning", "--no-access-log"]
    env = {**os.environ, "RUNS_DIR": str(runs_dir), "MILK_BENCH_PLAIN": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_ready(base: str, server: subprocess.Popen, timeout_s: float = 60) -> dict:
    """The /ready body once the server serves a run; exits if it dies or never gets ready."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"uvicorn exited with code {server.returncode}")
        try:
            return get_json(base + "/ready")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    sys.exit(f"{base}/ready did not answer 200 within {timeout_s:.0f} s (is there a run?)")


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * UNITS_MS[match[2]]


def parse_wrk(output: str) -> Round:
    """Requests/s, p99 and the count of non-2xx answers from ``wrk --latency`` output."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.MULTILINE)
    if not rate or not p99:
        raise ValueError(f"cannot read wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if errors:
        print("  wrk:", errors[0])
    return Round(float(rate[1]), to_ms(p99[1]), int(bad[1]) if bad else 0)


def run_wrk(url: str, seconds: int, connections: int) -> Round:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(done.stdout)


def measure(base: str, query: str, rounds: int, seconds: int, connections: int) -> dict:
    """Alternate plain / predict rounds after a short warm-up; the rounds per target."""
    targets = {"plain": base + "/bench/plain", "predict": base + "/api/predict?" + query}
    for url in targets.values():
        run_wrk(url, 1, connections)
    results: dict[str, list[Round]] = {name: [] for name in targets}
    for number in range(1, rounds + 1):
        for name, url in targets.items():
            result = run_wrk(url, seconds, connections)
            results[name].append(result)
            print(
                f"round {number} {name:>7}: {result.requests_per_s:9.0f} req/s  "
                f"p99 {result.p99_ms:6.2f} ms  non-2xx {result.bad_responses}"
            )
    return results


def summarize(results: dict[str, list[Round]]) -> bool:
    """Print the medians and the ratio; True when both targets are met."""
    rate = {name: statistics.median(r.requests_per_s for r in rs) for name, rs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in rs) for name, rs in results.items()}
    for name in results:
        print(f"median {name:>7}: {rate[name]:9.0f} req/s  p99 {p99[name]:6.2f} ms")
    ratio = rate["predict"] / rate["plain"]
    bad = sum(r.bad_responses for r in results["predict"])
    met = ratio >= TARGET_RATIO and p99["predict"] <= TARGET_P99_MS and bad == 0
    print(
        f"predict/plain throughput ratio {ratio:.2f} (target >= {TARGET_RATIO}), "
        f"predict p99 {p99['predict']:.2f} ms (target <= {TARGET_P99_MS}), "
        f"non-2xx {bad}: {'MET' if met else 'NOT MET'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", type=Path, help="runs folder with a LATEST (default: fake)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="duration of one wrk round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--query", help="predict query string (default: the forecast month)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: install it with `apt-get install -y wrk`")
    with tempfile.TemporaryDirectory(prefix="milk-bench-") as scratch:
        runs_dir = args.runs_dir.resolve() if args.runs_dir else fake_runs_dir(Path(scratch))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(runs_dir, port)
        try:
            run_id = wait_ready(base, server)["run_id"]
            forecast = get_json(base + "/api/forecast")
            query = args.query or f"year={forecast['year']}&month={forecast['month']}"
            print(f"serving run {run_id} from {runs_dir}; predict query {query}")
            met = summarize(measure(base, query, args.rounds, args.seconds, args.connections))
        finally:
            server.terminate()
            server.wait(20)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
