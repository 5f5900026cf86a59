from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milk_forecast.model.path import Served

MONTHS = pd.date_range("2000-01", "2005-12", freq="MS")
WINDOW = 12
LEVELS = (0.8, 0.95)


class ErrorsOnly:
    """A stand-in for the combination's track: log errors by horizon, nothing else."""

    def __init__(self, size_by_horizon: dict[int, float]) -> None:
        self.size_by_horizon = size_by_horizon

    def errors(self, h: int) -> pd.Series:
        signs = np.where(np.arange(len(MONTHS)) % 2 == 0, 1.0, -1.0)
        return pd.Series(self.size_by_horizon[h] * signs, index=MONTHS)


def served(one_step_error: float, size_by_horizon: dict[int, float]) -> Served:
    price = pd.Series(100.0, index=MONTHS)
    one_step = price * np.exp(-one_step_error)
    return Served(one_step, ErrorsOnly(size_by_horizon), price)  # type: ignore[arg-type]


def widths(s: Served, h: int, month: str = "2004-06") -> np.ndarray:
    """The half-widths of the ``h``-month forecast of ``month``."""
    origin = pd.DatetimeIndex([month]) - pd.DateOffset(months=h)
    return s.half_widths(origin, h, LEVELS, WINDOW)[h - 1, 0]


def test_a_horizon_with_smaller_errors_keeps_the_width_of_a_shorter_one():
    s = served(0.01, {2: 0.10, 3: 0.02, 4: 0.30})
    np.testing.assert_allclose(widths(s, 1), 0.01)
    np.testing.assert_allclose(widths(s, 2), 0.10)
    np.testing.assert_allclose(widths(s, 3), 0.10)  # its own errors alone would give 0.02
    np.testing.assert_allclose(widths(s, 4), 0.30)


def test_widths_use_only_errors_known_at_the_origin():
    s = served(0.01, {2: 0.05})
    before = widths(s, 2)  # the 2-month forecast of 2004-06, made at 2004-04
    s.one_step[s.one_step.index > "2004-04"] = 1.0  # one-step errors after the origin: huge
    np.testing.assert_allclose(widths(s, 2), before)
    s.one_step["2004-04"] = 1.0  # an error known at the origin counts
    assert widths(s, 2)[-1] > before[-1]  # the 95% quantile of 12 errors reaches it


def test_a_missing_error_inside_the_window_is_named():
    s = served(0.01, {2: 0.05})
    s.one_step.loc["2004-03"] = np.nan
    with pytest.raises(ValueError, match="interval of the 1-month forecast of 2004-05"):
        widths(s, 2)
