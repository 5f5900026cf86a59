"""Fixtures of the service tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """An empty runs folder."""
    path = tmp_path / "runs"
    path.mkdir()
    return path
