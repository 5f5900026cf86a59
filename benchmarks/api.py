"""The API's speed, memory and start-up, each side by side with a baseline on this machine.

1. Throughput and p99 of /api/predict against a plain Starlette JSON endpoint
   (/bench/plain, a bare Starlette app beside ours: benchmarks/side_by_side.py) in the
   same server process,
   loaded at the same time by two wrk (1 thread, 8 connections each), so that both see
   the same machine. /api/predict is measured with its /metrics instrumentation on
   (every request counted by route and status, its latency observed); /bench/plain is
   left out of it, so the ratio includes what the instrumentation costs. After the
   rounds, the requests /metrics counted are printed. Target: ratio >= 0.85, p99 <= 5 ms.
2. Mixed load: /api/predict alone, then together with /api/runs hammered by a second
   wrk (8 connections) while the runs folder holds 500 run folders; predict's share of
   its solo throughput. Target: >= 80%.
3. Start-up time (spawn to the first answer of /health) and memory (RSS once answering)
   of ``uvicorn app:app`` against ``uvicorn bare_app:app`` (a one-route Starlette app),
   alternated, medians. Target: at most 2x the bare app on both.
4. Hot reload: /api/predict loaded while runs/LATEST is published again every second,
   naming two runs in turn. Target: no failed request.

The server is started exactly as our entry points start it (compose.yaml's api command,
the same as ``make serve``, on a free loopback port), 1 worker.

    .venv/bin/python benchmarks/api.py [--runs-dir runs] [--rounds 5] [--seconds 5]

Without --runs-dir a fake run is built in a temporary folder (tests/run_factory.py).
Needs wrk (``apt-get install -y wrk``). Figures move with the machine's other load:
compare the ratios, measured side by side, rather than absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package; the run factory
from run_factory import publish_latest  # noqa: E402

from milk_forecast.run_folder.layout import RunFolderError  # noqa: E402
from milk_forecast.run_folder.publication import read_latest  # noqa: E402
from milk_forecast.run_folder.record import list_runs  # noqa: E402
from milk_forecast.run_folder.servable import load_servable  # noqa: E402

TARGET_RATIO = 0.85
TARGET_P99_MS = 5.0
TARGET_MIXED_SHARE = 0.80
TARGET_STARTUP_FACTOR = 2.0
HISTORY_RUNS = 500
SECOND_RUN = "20261127T110000Z"
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Round:
    requests_per_s: float
    p99_ms: float
    bad_responses: int
    socket_errors: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fake_runs_dir(parent: Path, history: int = 0) -> Path:
    """A runs folder holding a fake succeeded run, published as LATEST, another one not
    published, and ``history`` more (run.json only)."""
    from run_factory import make_history, make_run

    runs_dir = parent / "runs"
    make_history(runs_dir, history)
    make_run(runs_dir, SECOND_RUN, publish=False)  # for the reload measurement
    make_run(runs_dir)
    return runs_dir


def api_command() -> list[str]:
    """compose.yaml's api command: how every deployment starts the service."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    command = compose["services"]["api"]["command"]
    return command if isinstance(command, list) else shlex.split(command)


HTTP_OVERRIDE: dict[str, str] = {}  # --http given on the command line, for comparisons


def server_argv(app: str, port: int) -> list[str]:
    """``python -m uvicorn <app>`` with the entry point's flags, on a loopback ``port``."""
    argv = api_command()
    assert argv[:2] == ["uvicorn", "app:app"], argv
    argv[1] = app
    for flag, value in {"--host": "127.0.0.1", "--port": str(port), **HTTP_OVERRIDE}.items():
        argv[argv.index(flag) + 1] = value
    return [sys.executable, "-m", *argv]


def start_server(runs_dir: Path, port: int, app: str = "side_by_side:app") -> subprocess.Popen:
    env = {**os.environ, "RUNS_DIR": str(runs_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")])
    return subprocess.Popen(server_argv(app, port), cwd=ROOT, env=env)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_answer(url: str, server: subprocess.Popen, timeout_s: float = 60) -> dict:
    """The JSON body of ``url`` once it answers 200; exits if the server dies or never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"uvicorn exited with code {server.returncode}")
        try:
            return get_json(url)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.01)
    sys.exit(f"{url} did not answer 200 within {timeout_s:.0f} s (is there a run?)")


def wait_ready(base: str, server: subprocess.Popen, timeout_s: float = 60) -> dict:
    return wait_answer(base + "/ready", server, timeout_s)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(20)


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
    failed = sum(map(int, re.findall(r"\d+", errors[0]))) if errors else 0
    return Round(float(rate[1]), to_ms(p99[1]), int(bad[1]) if bad else 0, failed)


def wrk_command(url: str, seconds: int, connections: int) -> list[str]:
    return ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]


def run_wrk(url: str, seconds: int, connections: int) -> Round:
    command = wrk_command(url, seconds, connections)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(done.stdout)


def run_wrk_pair(
    main: str, other: str, seconds: int, connections: tuple[int, int]
) -> tuple[Round, Round]:
    """``main`` and ``other`` loaded by two wrk processes at the same time."""
    background = subprocess.Popen(
        wrk_command(other, seconds, connections[1]), stdout=subprocess.PIPE, text=True
    )
    try:
        result = run_wrk(main, seconds, connections[0])
    finally:
        output, _ = background.communicate(timeout=seconds + 30)
    return result, parse_wrk(output)


def report(label: str, result: Round) -> None:
    print(
        f"{label}: {result.requests_per_s:9.0f} req/s  "
        f"p99 {result.p99_ms:6.2f} ms  non-2xx {result.bad_responses}"
    )


def measure(base: str, query: str, rounds: int, seconds: int, connections: int) -> dict:
    """Plain and predict loaded at the same time (half the connections each), so that
    both see the same machine: on a shared machine, rounds run one after the other
    differ by 2x from load elsewhere. The rounds per target."""
    plain, predict = base + "/bench/plain", base + "/api/predict?" + query
    half = max(connections // 2, 1)
    run_wrk_pair(predict, plain, 1, (half, half))
    results: dict[str, list[Round]] = {"plain": [], "predict": []}
    for number in range(1, rounds + 1):
        predicted, plained = run_wrk_pair(predict, plain, seconds, (half, half))
        results["plain"].append(plained)
        results["predict"].append(predicted)
        report(f"round {number}   plain", plained)
        report(f"round {number} predict", predicted)
    return results


def measure_mixed(base: str, query: str, rounds: int, seconds: int, connections: int) -> dict:
    """Alternate predict alone and predict with /api/runs loaded by a second wrk."""
    predict, runs = base + "/api/predict?" + query, base + "/api/runs"
    run_wrk(runs, 1, connections // 2)
    results: dict[str, list[Round]] = {"solo": [], "mixed": []}
    for number in range(1, rounds + 1):
        results["solo"].append(run_wrk(predict, seconds, connections))
        report(f"round {number} predict solo ", results["solo"][-1])
        mixed, history = run_wrk_pair(predict, runs, seconds, (connections, connections // 2))
        results["mixed"].append(mixed)
        report(f"round {number} predict mixed", mixed)
        report(f"round {number} runs meanwhile", history)
    return results


def servable_ids(runs_dir: Path, count: int = 2) -> list[str]:
    """The newest ``count`` runs of ``runs_dir`` the service would serve."""
    found = []
    for summary in list_runs(runs_dir):
        try:
            found.append(load_servable(runs_dir, summary.run_id).run_id)
        except RunFolderError:
            continue
        if len(found) == count:
            break
    return found


def measure_reload(base: str, runs_dir: Path, query: str, seconds: int, connections: int) -> bool:
    """/api/predict loaded while LATEST is published again every second, naming two runs in
    turn (each publication a load and a swap): every answer must still be a 200."""
    ids = servable_ids(runs_dir)
    if len(ids) < 2:
        print(f"reload: needs two servable runs in {runs_dir}, found {ids}")
        return False
    first, done, published = read_latest(runs_dir), threading.Event(), [0]

    def publish() -> None:
        while not done.wait(1.0):
            publish_latest(runs_dir, ids[published[0] % 2])
            published[0] += 1

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        result = run_wrk(base + "/api/predict?" + query, seconds, connections)
    finally:
        done.set()
        publisher.join()
        publish_latest(runs_dir, first or ids[0])
    report("predict during reloads", result)
    reloads = get_metric(base, "milk_run_reloads_total")
    met = result.bad_responses == 0 and result.socket_errors == 0
    print(
        f"{published[0]} publications, {reloads:.0f} runs loaded by the server; non-2xx "
        f"{result.bad_responses}, socket errors {result.socket_errors}: {'MET' if met else 'NOT MET'}"
    )
    return met


def get_metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        text = response.read().decode()
    values = re.findall(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(values[0]) if values else float("nan")


def counted_requests(base: str) -> str:
    """What /metrics counted, to show the instrumentation was on during the rounds."""
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        text = response.read().decode()
    counts = {"predict": 0.0, "plain": 0.0}
    for line in text.splitlines():
        if line.startswith("milk_http_requests_total{"):
            route = re.search(r'route="([^"]*)"', line)
            if route and route[1] == "/api/predict":
                counts["predict"] += float(line.rsplit(" ", 1)[1])
            elif route and route[1] == "/bench/plain":
                counts["plain"] += float(line.rsplit(" ", 1)[1])
    return (
        f"/metrics counted {counts['predict']:.0f} /api/predict requests "
        f"and {counts['plain']:.0f} /bench/plain requests (the baseline is not instrumented)"
    )


def median_rate(rounds: list[Round]) -> float:
    return statistics.median(r.requests_per_s for r in rounds)


def summarize(results: dict[str, list[Round]]) -> bool:
    """Print the medians and the ratio (median of the rounds' ratios); True when met."""
    rate = {name: median_rate(rs) for name, rs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in rs) for name, rs in results.items()}
    for name in results:
        print(f"median {name:>7}: {rate[name]:9.0f} req/s  p99 {p99[name]:6.2f} ms")
    pairs = zip(results["predict"], results["plain"], strict=True)
    ratio = statistics.median(p.requests_per_s / q.requests_per_s for p, q in pairs)
    bad = sum(r.bad_responses for r in results["predict"])
    met = ratio >= TARGET_RATIO and p99["predict"] <= TARGET_P99_MS and bad == 0
    print(
        f"predict/plain throughput ratio {ratio:.2f} (target >= {TARGET_RATIO}), "
        f"predict p99 {p99['predict']:.2f} ms (target <= {TARGET_P99_MS}), "
        f"non-2xx {bad}: {'MET' if met else 'NOT MET'}"
    )
    return met


def summarize_mixed(results: dict[str, list[Round]]) -> bool:
    solo, mixed = median_rate(results["solo"]), median_rate(results["mixed"])
    bad = sum(r.bad_responses for rs in results.values() for r in rs)
    share = mixed / solo
    met = share >= TARGET_MIXED_SHARE and bad == 0
    print(
        f"predict with /api/runs loaded ({HISTORY_RUNS} runs): {mixed:.0f} req/s, "
        f"{share:.0%} of its solo {solo:.0f} req/s (target >= {TARGET_MIXED_SHARE:.0%}), "
        f"non-2xx {bad}: {'MET' if met else 'NOT MET'}"
    )
    return met


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, "no VmRSS in /proc/<pid>/status"
    return int(match[1]) / 1024


def start_once(runs_dir: Path, app: str) -> tuple[float, float]:
    """(seconds from spawn to the first answer of /health, RSS in MB then) of one server."""
    port = free_port()
    started = time.perf_counter()
    server = start_server(runs_dir, port, app)
    try:
        wait_answer(f"http://127.0.0.1:{port}/health", server)
        took = time.perf_counter() - started
        time.sleep(0.3)  # let the start-up settle
        return took, rss_mb(server.pid)
    finally:
        stop(server)


def measure_startup(runs_dir: Path, rounds: int) -> bool:
    """Our app and the bare app, started alternately; medians and the factors."""
    apps = {"app": "app:app", "bare": "bare_app:app"}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
    for number in range(1, rounds + 1):
        for name, app in apps.items():
            took, rss = start_once(runs_dir, app)
            figures[name].append((took, rss))
            print(f"round {number} {name:>4}: start-up {took:5.2f} s  RSS {rss:6.1f} MB")
    time_s = {name: statistics.median(t for t, _ in f) for name, f in figures.items()}
    memory = {name: statistics.median(m for _, m in f) for name, f in figures.items()}
    factors = (time_s["app"] / time_s["bare"], memory["app"] / memory["bare"])
    met = max(factors) <= TARGET_STARTUP_FACTOR
    print(
        f"median start-up {time_s['app']:.2f} s vs bare {time_s['bare']:.2f} s ({factors[0]:.2f}x); "
        f"RSS {memory['app']:.1f} MB vs bare {memory['bare']:.1f} MB ({factors[1]:.2f}x) "
        f"(target <= {TARGET_STARTUP_FACTOR}x): {'MET' if met else 'NOT MET'}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-dir", type=Path, help="runs folder with a LATEST (default: fake)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5, help="duration of one wrk round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--query", help="predict query string (default: the forecast month)")
    parser.add_argument(
        "--only", choices=["speed", "mixed", "startup", "reload"], help="one measurement only"
    )
    parser.add_argument(
        "--http", help="uvicorn --http instead of the entry point's (e.g. h11, to compare)"
    )
    args = parser.parse_args()
    if args.http:
        HTTP_OVERRIDE["--http"] = args.http
    if shutil.which("wrk") is None and args.only != "startup":
        sys.exit("wrk is not installed: install it with `apt-get install -y wrk`")
    history = 0 if args.runs_dir else HISTORY_RUNS
    met = []
    with tempfile.TemporaryDirectory(prefix="milk-bench-") as scratch:
        runs_dir = (
            args.runs_dir.resolve() if args.runs_dir else fake_runs_dir(Path(scratch), history)
        )
        if args.only in (None, "speed", "mixed", "reload"):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(runs_dir, port)
            try:
                run_id = wait_ready(base, server)["run_id"]
                forecast = get_json(base + "/api/forecast?horizon=1")
                query = args.query or f"year={forecast['year']}&month={forecast['month']}"
                runs = len(get_json(base + "/api/runs")["runs"])
                print(f"serving run {run_id} from {runs_dir} ({runs} runs); predict query {query}")
                print(" ".join(server_argv("app:app", port)[2:]))
                if args.only in (None, "speed"):
                    met.append(summarize(measure(base, query, *vars_of(args))))
                    print(counted_requests(base))
                if args.only in (None, "mixed"):
                    met.append(summarize_mixed(measure_mixed(base, query, *vars_of(args))))
                if args.only in (None, "reload"):
                    met.append(measure_reload(base, runs_dir, query, *vars_of(args)[1:]))
            finally:
                stop(server)
        if args.only in (None, "startup"):
            met.append(measure_startup(runs_dir, args.rounds))
    return 0 if all(met) else 1


def vars_of(args: argparse.Namespace) -> tuple[int, int, int]:
    return args.rounds, args.seconds, args.connections


if __name__ == "__main__":
    sys.exit(main())
