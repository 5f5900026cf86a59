"""The simple forecasters: ``SeasonalAR``, the least-squares autoregression of the yearly log
change y(t) = log p(t) - log p(t-12) on its lags 1..p, seasonal lags and a constant,
recursive; ``SeasonalDrift``, the last price times the average same-calendar-month log
changes since ``history_start``; the baselines every evaluation shows (persistence, seasonal
naive, seasonal drift); ``path_candidates``, the 27 the combination weighs (README)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np

from milk_forecast.model.arima import Arima
from milk_forecast.model.forecaster import Forecaster
from milk_forecast.model.history import SEASON, History
from milk_forecast.model.ridges import MIN_PATH_MONTHS, RecursiveRidge, lag


@dataclass(eq=False, repr=False)
class SeasonalAR(Forecaster):
    family = "seasonal autoregressions"
    p: int = 1
    seasonal_lags: tuple[int, ...] = (12,)

    @property
    def name(self) -> str:
        return f"sar[p={self.p}, seasonal lags {','.join(map(str, self.seasonal_lags))}]"

    def fit(self, history: History) -> Self:
        y = history.log_price - lag(history.log_price, SEASON)
        self.lags_ = [*range(1, self.p + 1), *self.seasonal_lags]
        t = np.arange(max(history.start, SEASON + max(self.lags_)), history.last + 1)
        self.coef_ = None  # too few months: no forecast
        if len(t) >= MIN_PATH_MONTHS:
            x = np.column_stack([y[t - j] for j in self.lags_] + [np.ones(len(t))])
            self.coef_ = np.linalg.lstsq(x, y[t], rcond=None)[0]
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        if self.coef_ is None:
            return np.full(horizon, np.nan)
        lp, origin, lags = self.history_.log_price, self.history_.last, self.lags_
        y = lp - lag(lp, SEASON)
        changes = list(y[origin - max(lags) + 1 : origin + 1])
        levels = list(lp[origin - SEASON + 1 : origin + 1])
        for _ in range(horizon):
            change = float(np.dot([changes[-j] for j in lags], self.coef_[:-1]) + self.coef_[-1])
            changes.append(change)
            levels.append(levels[-SEASON] + change)
        return np.array(levels[SEASON:])


class SeasonalDrift(Forecaster):
    name = "seasonal_drift"
    family = "seasonal drift"

    def fit(self, history: History) -> Self:
        lp, calendar = history.log_price, history.calendar
        t = np.arange(max(history.start, 1), history.last + 1)
        counts = np.bincount(calendar[t], minlength=SEASON)
        sums = np.bincount(calendar[t], weights=lp[t] - lp[t - 1], minlength=SEASON)
        self.average_ = np.divide(sums, counts, out=np.zeros(SEASON), where=counts > 0)
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        lp, origin = self.history_.log_price, self.history_.last
        ahead = np.arange(1, horizon + 1)
        month = self.history_.calendar[origin]
        return lp[origin] + np.cumsum(self.average_[(month + ahead) % SEASON])


class Persistence(Forecaster):
    name = "persistence"

    def fit(self, history: History) -> Self:
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        return np.full(horizon, self.history_.log_price[-1])


class SeasonalNaive(Persistence):
    name = "seasonal_naive"

    def predict(self, horizon: int) -> np.ndarray:
        ahead = np.arange(1, horizon + 1)
        years_back = np.ceil(ahead / SEASON).astype(int)  # to the same month last observed
        return self.history_.log_price[self.history_.last + ahead - SEASON * years_back]


BASELINES = (Persistence(), SeasonalNaive(), SeasonalDrift())
INPUT_SETS: tuple[tuple[str, ...], ...] = (
    ("price",),
    ("rain",),
    ("price", "rain"),
    ("acc3",),
    ("price", "acc3"),
    ("rain", "acc3"),
    ("price", "rain", "acc3"),
)
HALF_LIVES: tuple[float | None, ...] = (2.0, 6.0, None)


def path_candidates(alpha: float = 1.0) -> tuple[Forecaster, ...]:
    """The 27 candidates chosen on origins before 2018-04 (README, "The model")."""
    return (
        *(RecursiveRidge(inputs, half_life, alpha) for inputs in INPUT_SETS for half_life in HALF_LIVES),
        SeasonalAR(1, (12, 24)),
        SeasonalAR(2, (12, 24)),
        SeasonalAR(3, (12,)),
        Arima(2, 1),
        Arima(1, 1),
        SeasonalDrift(),
    )  # fmt: skip
