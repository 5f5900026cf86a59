"""The contract every forecaster keeps, in scikit-learn's manner, and the walk-forward.

Parameters are the fields of a ``dataclass(eq=False, repr=False)``: forecasters compare by
identity and show as ``__repr__`` does. ``fit(history)`` sets attributes ending in ``_``;
``predict(h)`` gives the log price 1..h months ahead. ``walk`` keeps every path in the
history's ``Memo``, as ``Pipeline(memory=...)`` keeps fitted steps: ensembles score their
candidates on it and every interval (``half_widths``) is sized from it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from functools import cached_property
from typing import Any, Self

import numpy as np
import pandas as pd

from milk_forecast.model.history import History
from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.layout import MONTH

ORIGIN = "origin"  # the last month a forecast was made from


class ForecastError(ValueError):
    """A forecaster asked to fit, predict or walk where it cannot; the message says where."""


class Forecaster(ABC):
    """``horizons``: the path it makes when walked for its own backtests and intervals.
    ``replays_rain_lag``: walked over earlier origins, it sees rainfall end as many months
    before each as the rainfall ends before the history's last month (the live forecast's
    situation); False: rainfall as recorded."""

    name: str
    family: str | None = None  # its kind, in the words of the reasons shown to users
    horizons: int = p.FORECAST_HORIZON
    replays_rain_lag: bool = True

    def get_params(self) -> dict[str, Any]:
        """Its parameters: its dataclass fields (none if it is no dataclass)."""
        names = [field.name for field in fields(self)] if is_dataclass(self) else []
        return {name: getattr(self, name) for name in names}

    def clone(self, **changes: Any) -> Self:
        """An unfitted copy, with ``changes`` to its parameters."""
        return type(self)(**(self.get_params() | changes))

    @cached_property
    def key(self) -> tuple:
        """Class and parameters: what the memo knows a forecaster by."""
        params = self.get_params().items()
        return (type(self).__qualname__, *((n, _key(v)) for n, v in params))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.get_params().items())
        return f"{type(self).__name__}({shown})"

    @abstractmethod
    def fit(self, history: History) -> Self:
        """Learn from ``history`` only; sets ``history_``."""

    @abstractmethod
    def predict(self, horizon: int) -> np.ndarray:
        """Log price 1..``horizon`` months after the last month fitted on (NaN: cannot)."""

    @classmethod
    def fit_predict_many(
        cls, forecasters: Sequence[Forecaster], history: History, horizon: int
    ) -> np.ndarray:
        """Paths (forecasters, horizon) of several forecasters of this class fit on ``history``;
        a family whose members share work at an origin overrides it."""
        return np.array([f.clone().fit(history).predict(horizon) for f in forecasters])

    def replay_lag(self, history: History) -> int:
        """The rain lag of the cuts it is walked (and walks its candidates) on."""
        return history.rain_lag if self.replays_rain_lag else 0

    def forecasts_at(self, history: History, origins: np.ndarray, h: int) -> np.ndarray:
        """Log forecasts ``h`` months ahead from each origin, each fit on the cut there."""
        if not 1 <= h <= self.horizons:
            raise ForecastError(f"{self.name}: forecasts 1..{self.horizons} months ahead, not {h}")
        return walk([self], history, origins, self.horizons, self.replay_lag(history))[0, :, h - 1]

    def forecast_rows(
        self, history: History, origins: np.ndarray, horizons: Sequence[int]
    ) -> pd.DataFrame:
        """The forecasts from ``origins`` at ``horizons``, horizon by horizon: origin, month,
        horizon, actual and predicted (CLP/L)."""
        frames = [
            pd.DataFrame(
                {
                    ORIGIN: history.months[origins],
                    MONTH: history.months_at(origins + h),
                    p.HORIZON: h,
                    p.ACTUAL: history.prices_at(origins + h),
                    p.PREDICTED: np.exp(self.forecasts_at(history, origins, h)),
                }
            )
            for h in horizons
        ]
        return pd.concat(frames, ignore_index=True)

    def backtest(
        self,
        history: History,
        origins: np.ndarray,
        horizons: Sequence[int],
        levels: Sequence[float],
        window: int,
    ) -> pd.DataFrame:
        """``forecast_rows`` with the intervals shown then (bounds in CLP/L)."""
        origins = np.asarray(origins, dtype=int)
        widths = half_widths(self, history, origins, max(horizons), levels, window)
        rows = self.forecast_rows(history, origins, horizons)
        shown = widths[rows[p.HORIZON] - 1, np.tile(np.arange(len(origins)), len(horizons))]
        for k, level in enumerate(levels):
            rows[p.interval_column(p.LOWER, level)] = rows[p.PREDICTED] * np.exp(-shown[:, k])
            rows[p.interval_column(p.UPPER, level)] = rows[p.PREDICTED] * np.exp(shown[:, k])
        return rows

    def forecast(self, horizon: int, levels: Sequence[float], window: int = 36) -> pd.DataFrame:
        """The path after the history it was fit on: month, horizon, predicted and bounds."""
        history = getattr(self, "history_", None)
        if history is None:
            raise ForecastError(f"{self.name}: forecast before fit")
        rows = self.backtest(history, [history.last], range(1, horizon + 1), levels, window)
        return rows.drop(columns=ORIGIN)


def _key(value: Any) -> Any:
    if isinstance(value, Forecaster):
        return value.key
    return tuple(map(_key, value)) if isinstance(value, tuple | list) else value


def walk(
    forecasters: Sequence[Forecaster],
    history: History,
    origins: np.ndarray,
    horizon: int,
    rain_lag: int,
) -> np.ndarray:
    """Log paths (forecasters, origins, horizon): each forecaster fit on
    ``history.up_to(origin, rain_lag)`` and predicting ``horizon`` months; computed in time
    order, once per (forecaster, months seen), and kept in ``history.memo``."""
    origins = np.asarray(origins, dtype=int)
    outside = origins[(origins < 0) | (origins > history.last)]
    if len(outside):
        raise ForecastError(
            f"a forecast from {history.month_at(outside[0]):%Y-%m} is needed, outside the "
            f"price series ({history.months[0]:%Y-%m}..{history.months[-1]:%Y-%m})"
        )
    rain_ends = history.cut_rain_ends(origins, rain_lag)
    tables = [history.memo.table((f.key, horizon), horizon) for f in forecasters]
    todo: dict[int, list[int]] = {}
    for i, (_, made_with) in enumerate(tables):
        for origin in origins[made_with[origins] != rain_ends]:  # not made yet, or from another cut
            todo.setdefault(int(origin), []).append(i)
    for origin, missing in sorted(todo.items()):
        cut = history.up_to(origin, rain_lag)
        families: dict[type[Forecaster], list[int]] = {}
        for i in missing:
            families.setdefault(type(forecasters[i]), []).append(i)
        for family, members in families.items():
            paths = family.fit_predict_many([forecasters[i] for i in members], cut, horizon)
            for i, path in zip(members, paths, strict=True):
                tables[i][0][origin], tables[i][1][origin] = path, cut.rain_end
    return np.stack([paths[origins] for paths, _ in tables])


def half_widths(
    forecaster: Forecaster,
    history: History,
    origins: np.ndarray,
    horizon: int,
    levels: Sequence[float],
    window: int,
) -> np.ndarray:
    """Log half-widths (horizon, origins, levels) of the forecasts from ``origins``: per
    horizon h, the level-quantiles of the absolute errors of its ``window`` forecasts at h
    whose targets end at the origin; then the largest over the horizons up to h."""
    own = []
    for h in range(1, horizon + 1):
        past = np.arange(origins.min() - h - window + 1, origins.max() - h + 1)
        forecasts = forecaster.forecasts_at(history, past, h)
        errors = history.log_price[past + h] - forecasts
        windows = np.lib.stride_tricks.sliding_window_view(errors, window)
        known = windows[origins - h - window + 1 - past[0]]  # the window ending at each origin
        missing = np.isnan(known).any(axis=1)
        if missing.any():
            i = int(np.argmax(missing))
            raise ForecastError(
                f"interval of the {h}-month forecast of {history.month_at(origins[i] + h):%Y-%m}: "
                f"needs the errors of the {window} targets up to {history.month_at(origins[i]):%Y-%m}, "
                f"{int(np.isnan(known[i]).sum())} of them are missing"
            )
        own.append(np.quantile(np.abs(known), list(levels), axis=1).T)
    return np.maximum.accumulate(np.stack(own), axis=0)
