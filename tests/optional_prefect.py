"""Tests of the optional Prefect layer skip, saying why, when Prefect is not installed.

``.ci/run`` installs requirements-prefect.txt (``make test PREFECT=1``): there they run.
"""

from __future__ import annotations

import importlib.util

import pytest

REASON = "Prefect is not installed: pip install -r requirements-prefect.txt"

needs_prefect = pytest.mark.skipif(importlib.util.find_spec("prefect") is None, reason=REASON)
