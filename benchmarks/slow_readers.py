"""The service's memory while clients ask for a large report and never read it.

The server is started as the entry points start it (tests/served.py: compose.yaml's api
command on a loopback port). A run with an 8 MB report.html; then ``--readers`` clients
ask for it, read its first bytes and stop reading. Printed: the server's RSS idle and with
them all stalled, the time /api/predict takes meanwhile (median of 20), and how many of
the stalled clients the server closed once ``SEND_TIMEOUT`` passed.

    .venv/bin/python benchmarks/slow_readers.py [--readers 60] [--send-timeout 2]

At 52b3548 sixty such clients took the service from 38 MB to 176 MB.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's package; the test helpers
from run_factory import add_page_files, make_run  # noqa: E402
from served import rss_bytes, serving  # noqa: E402
from test_server import closed_by_the_server, stalled_reader  # noqa: E402

from milk_forecast.run_folder.layout import REPORT_FILE  # noqa: E402

RUN = "20261127T120301Z"
REPORT_BYTES = 8 * 1024 * 1024


def predict_ms(base: str, times: int = 20) -> float:
    """The median time of ``times`` requests to /api/predict, in milliseconds."""
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        with urllib.request.urlopen(base + "/api/predict/2020/4", timeout=10) as answer:
            answer.read()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=60, help="stalled clients (default 60)")
    parser.add_argument("--send-timeout", default="2", help="the service's SEND_TIMEOUT, s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        runs_dir, log = Path(scratch) / "runs", Path(scratch) / "uvicorn.log"
        run_dir = add_page_files(make_run(runs_dir, RUN))
        (run_dir / REPORT_FILE).write_bytes(b"<html>" + b"x" * REPORT_BYTES + b"</html>")
        with serving(runs_dir, log, SEND_TIMEOUT=args.send_timeout) as (base, server):
            idle, quiet = rss_bytes(server.pid), predict_ms(base)
            print(f"idle: RSS {idle / 2**20:.1f} MB, /api/predict {quiet:.2f} ms")
            path = f"/runs/{RUN}/report.html"
            readers = [stalled_reader(base, path) for _ in range(args.readers)]
            stalled, busy = rss_bytes(server.pid), predict_ms(base)
            print(
                f"{args.readers} clients stalled on an 8 MB report: RSS {stalled / 2**20:.1f} MB "
                f"(+{(stalled - idle) / 2**20:.1f} MB), /api/predict {busy:.2f} ms"
            )
            closed = closed_by_the_server(log, args.readers)
            print(f"closed by the server after SEND_TIMEOUT: {'all' if closed else 'NOT all'}")
            for reader in readers:
                reader.close()


if __name__ == "__main__":
    main()
