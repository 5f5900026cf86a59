"""Fixtures shared across the test modules: where the project, the sample and the real data are.

The real data is looked for in one place, ``../shared/data`` beside the project. Tests
that need it take the ``real_data_dir`` fixture: skipped when it is absent, except when
``MILK_REQUIRE_REAL_DATA=1`` (CI), where its absence fails them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
REAL_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def sample_data_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if not (REAL_DATA_DIR / "precio_leche.csv").is_file():
        message = f"real data not found in {REAL_DATA_DIR}"
        if os.environ.get("MILK_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message + " (MILK_REQUIRE_REAL_DATA=1)")
        pytest.skip(message)
    return REAL_DATA_DIR
