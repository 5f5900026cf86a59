"""Running ``run_pipeline.py`` as a user does, in a subprocess, for the end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python run_pipeline.py ARGS...``, its output captured."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )
