"""Forecasters made of forecasters, each scoring its candidates on errors known at the origin.

The candidates' forecasts at earlier origins come from ``walk``: computed once, whatever asks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np

from milk_forecast.model.forecaster import Forecaster, ForecastError, walk
from milk_forecast.model.history import SEASON, History

COMBINED = "horizon_combination"
MIN_HISTORY = 60  # months of price a path candidate learns from at least


@dataclass(eq=False, repr=False)
class AdaptiveChoice(Forecaster):
    """One month ahead: the candidate with the lowest RMSE (log) over its last ``window``
    one-step errors whose target is ``gap`` months or more before the month forecast (gap 1:
    every error known at the origin), among those with a forecast for the month."""

    horizons = 1
    replays_rain_lag = False  # the one-step ridges need the rainfall up to the month before
    candidates: Sequence[Forecaster] = ()
    window: int = 24
    gap: int = 1
    name: str = "adaptive_choice"

    def fit(self, history: History) -> Self:
        origin = history.last
        past = np.arange(origin - self.gap - self.window + 1, origin - self.gap + 1)
        origins = np.append(past, origin)
        paths = walk(self.candidates, history, origins, 1, self.replay_lag(history))[:, :, 0]
        errors = paths[:, :-1] - history.log_price[past + 1]
        scores = np.sqrt(np.mean(errors**2, axis=1))
        self.forecasts_ = paths[:, -1]
        scores[~np.isfinite(self.forecasts_)] = np.nan
        if np.isnan(scores).all():
            raise ForecastError(
                f"selection for {history.month_at(origin + 1):%Y-%m}: no candidate of the "
                "pool can forecast it"
            )
        self.scores_, self.choice_ = scores, int(np.nanargmin(scores))
        self.history_ = history
        return self

    @property
    def chosen(self) -> Forecaster:
        """The candidate chosen (unfitted)."""
        return self.candidates[self.choice_]

    def predict(self, horizon: int = 1) -> np.ndarray:
        if horizon != 1:
            raise ForecastError(f"{self.name}: forecasts one month ahead, not {horizon}")
        return self.forecasts_[self.choice_ : self.choice_ + 1]


@dataclass(eq=False, repr=False)
class Combination(Forecaster):
    """At each horizon h, the weighted mean in log of the candidates' forecasts, weights
    ``(min MSE / MSE_c) ** power``, ``MSE_c`` candidate c's mean squared log error over its
    last ``window`` forecasts at h whose target is at or before the origin (none without a
    forecast or a complete record). Candidates are scored with the rain lag the history
    shows at its end, so the track records measure what the live path does."""

    candidates: Sequence[Forecaster] = ()
    window: int = 60
    power: float = 2.0
    name: str = COMBINED

    def fit(self, history: History) -> Self:
        names = [c.name for c in self.candidates]
        if not names or len(set(names)) != len(names):
            raise ForecastError(f"{self.name}: candidates empty or with duplicated names {names}")
        origin, horizons, window = history.last, self.horizons, self.window
        first = origin - horizons - window + 1
        if first - history.start < MIN_HISTORY:
            raise ForecastError(
                f"the first origin the path candidates need ({history.month_at(first):%Y-%m}) "
                f"leaves fewer than {MIN_HISTORY} months after history_start="
                f"{history.months[history.start]:%Y-%m}"
            )
        origins = np.arange(first, origin + 1)
        paths = walk(self.candidates, history, origins, horizons, self.replay_lag(history))
        actual = history.log_price[origin - window + 1 : origin + 1]  # targets of every window
        self.weights_ = np.zeros((horizons, len(names)))
        self.path_ = np.empty(horizons)
        for h in range(1, horizons + 1):  # forecasts from origins origin-h-window+1..origin-h
            errors = actual - paths[:, horizons - h : horizons - h + window, h - 1]
            forecast = paths[:, -1, h - 1]
            mse = np.mean(errors**2, axis=1)
            competing = np.isfinite(mse) & np.isfinite(forecast)
            if not competing.any():
                raise ForecastError(
                    f"combination at {history.months[origin]:%Y-%m}, h={h}: no candidate has "
                    "a complete track record and a forecast"
                )
            weights = self.weights_[h - 1]
            scored = np.maximum(mse[competing], 1e-300)  # a perfect record weighs most
            weights[competing] = (scored.min() / scored) ** self.power
            weights /= weights.sum()
            self.path_[h - 1] = weights[competing] @ forecast[competing]
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        if horizon > self.horizons:
            raise ForecastError(f"{self.name}: forecasts up to {self.horizons} months ahead")
        return self.path_[:horizon].copy()

    def describe(self, h: int) -> tuple[str, str]:
        """The model and the reason of the forecast at horizon ``h``, in words: how many
        candidates weigh and which family weighs most; how they were weighed; the rainfall."""
        weights, history, shares = self.weights_[h - 1], self.history_, dict[str, float]()
        for candidate, weight in zip(self.candidates, weights, strict=True):
            family = candidate.family or candidate.name
            shares[family] = shares.get(family, 0.0) + weight
        family = max(shares, key=shares.__getitem__)
        most = "mostly" if shares[family] >= 0.5 else "led by"
        model = f"weighted mix of {int((weights > 0).sum())} models, {most} {family} ({shares[family]:.0%})"
        reason = (
            f"Each model counts more the better it forecast {h} months ahead over the last "
            f"{self.window} months ({history.months[-self.window]:%Y-%m} to "
            f"{history.months[-1]:%Y-%m}); {rain_reason(history)}."
        )
        return model, reason


def rain_reason(history: History) -> str:
    """How the path candidates handle the rainfall of ``history``, in words."""
    if history.rain_end < SEASON - 1:
        return "there is too little rainfall data, so the models using it get no weight"
    end, lag = f"{history.months[history.rain_end]:%Y-%m}", history.rain_lag
    total = f"keep the rainfall total of the 12 months to {end} for every later month"
    if lag == 0:
        return f"rainfall ahead is unknown, so the models using it {total}"
    return (
        f"rainfall data end {end}, {lag} month(s) before the price, so the models using it "
        f"{total}, and their backtest applied the same delay"
    )


@dataclass(eq=False, repr=False)
class ByHorizon(Forecaster):
    """``first`` one month ahead, ``rest`` beyond, each with its own past errors."""

    first: Forecaster
    rest: Forecaster

    @property
    def name(self) -> str:
        return f"{self.first.name}, then {self.rest.name}"

    @property
    def horizons(self) -> int:  # type: ignore[override]
        return self.rest.horizons

    def fit(self, history: History) -> Self:
        self.first_ = self.first.clone().fit(history)
        self.rest_ = self.rest.clone().fit(history)
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        return np.concatenate([self.first_.predict(1), self.rest_.predict(horizon)[1:]])

    def forecasts_at(self, history: History, origins: np.ndarray, h: int) -> np.ndarray:
        return (self.first if h == 1 else self.rest).forecasts_at(history, origins, h)
