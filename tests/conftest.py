"""Fixtures shared across the test modules: where the project, the sample and the real data are."""

from __future__ import annotations

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
        pytest.skip(f"real data not found in {REAL_DATA_DIR}")
    return REAL_DATA_DIR
