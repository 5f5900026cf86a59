"""The path candidates run at every origin, and their combination per origin and horizon.

At each origin every candidate (``horizon.py``) is fit on the months up to that origin only
and forecasts the next ``horizons`` months. The forecast at (origin, h) is a weighted mean
in log of the candidates' forecasts, weights ``(min MSE / MSE_c) ** power`` where
``MSE_c`` is candidate c's mean squared log error over its last ``weight_window``
forecasts *at horizon h whose target is at or before the origin*. A candidate without a
forecast or a complete track record gets weight 0.

Rainfall is cut ``rain_lag`` months before each origin, the lag the data shows at its end
(the live forecast's situation), so the track records measure what the live path does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from milk_forecast.model.horizon import (
    BASELINES,
    SEASON,
    FitCandidates,
    HorizonConfig,
    HorizonError,
    SeriesData,
    baseline_paths,
    fit_candidates,
)
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.predictions import ACTUAL, HORIZON, MODEL, PREDICTED, REASON

COMBINED = "horizon_combination"
ORIGIN = "origin"  # the last month a forecast was made from
# Months of price history models need before the first origin they are run at.
MIN_HISTORY = 60


@dataclass
class CandidateRuns:
    """Every candidate's and baseline's log path from each origin (positions in ``data``)."""

    data: SeriesData
    origins: np.ndarray  # consecutive positions
    candidates: np.ndarray  # (candidates, origins, horizons)
    baselines: dict[str, np.ndarray]  # name -> (origins, horizons)
    rain_lag: int
    _errors: np.ndarray | None = field(default=None, repr=False)

    def row(self, origin: int) -> int:
        """Row of ``origin`` in the arrays; an error names the months run."""
        i = int(origin - self.origins[0])
        if not 0 <= i < len(self.origins):
            months = self.data.months
            raise HorizonError(
                f"origin {months[origin]:%Y-%m} was not run (runs cover "
                f"{months[self.origins[0]]:%Y-%m}..{months[self.origins[-1]]:%Y-%m})"
            )
        return i

    def errors(self) -> np.ndarray:
        """actual - forecast (log) of every candidate, NaN where the target is not observed."""
        if self._errors is None:
            self._errors = (
                actual_at(self.data, self.origins, self.candidates.shape[-1])[None]
                - self.candidates
            )
        return self._errors


def actual_at(data: SeriesData, origins: np.ndarray, horizons: int) -> np.ndarray:
    """Observed log price of each (origin, horizon) target; NaN after the data."""
    target = np.asarray(origins)[:, None] + np.arange(1, horizons + 1)[None, :]
    actual = np.full(target.shape, np.nan)
    known = target <= data.last
    actual[known] = data.log_price[target[known]]
    return actual


def rain_lag(data: SeriesData) -> int:
    """Months between the last complete rainfall and the last price (0 without rainfall)."""
    return max(0, data.last - data.rain_end) if data.rain_end >= 0 else 0


def run_candidates(
    data: SeriesData,
    first: int,
    last: int,
    config: HorizonConfig,
    fit: FitCandidates = fit_candidates,
) -> CandidateRuns:
    """Fit and forecast at every origin ``first..last``, each from the months up to it only."""
    start = data.start(config.history_start)
    if first - start < MIN_HISTORY:
        raise HorizonError(
            f"the first origin the path models need ({data.months[first]:%Y-%m}) leaves fewer "
            f"than {MIN_HISTORY} months after history_start={config.history_start}"
        )
    origins = np.arange(first, last + 1)
    lag = rain_lag(data)
    candidates = np.full((len(config.candidates), len(origins), config.horizons), np.nan)
    baselines = {name: np.full((len(origins), config.horizons), np.nan) for name in BASELINES}
    for i, origin in enumerate(origins):
        seen = data.up_to(int(origin), lag)
        candidates[:, i] = fit(seen, config)
        for name, path in baseline_paths(seen, start, config.horizons).items():
            baselines[name][i] = path
    return CandidateRuns(data, origins, candidates, baselines, lag)


@dataclass(frozen=True)
class Combination:
    """The combined log forecast at (origin, horizon) and how it was made."""

    log_forecast: float
    weights: np.ndarray  # per candidate, 0 for those that did not compete
    window: tuple[int, int]  # origins whose errors were scored


def combine(runs: CandidateRuns, origin: int, h: int, config: HorizonConfig) -> Combination:
    """Weights from each candidate's last ``weight_window`` errors at horizon ``h`` whose
    target is at or before ``origin`` (origins ``origin-h-L+1 .. origin-h``)."""
    lo, hi = origin - h - config.weight_window + 1, origin - h
    errors = runs.errors()[:, runs.row(lo) : runs.row(hi) + 1, h - 1]
    forecast = runs.candidates[:, runs.row(origin), h - 1]
    mse = np.mean(errors**2, axis=1)
    competing = np.isfinite(mse) & np.isfinite(forecast)
    if not competing.any():
        raise HorizonError(
            f"combination at {runs.data.months[origin]:%Y-%m}, h={h}: no candidate has a "
            "complete track record and a forecast"
        )
    weights = np.zeros(len(mse))
    weights[competing] = (
        mse[competing].min() / np.maximum(mse[competing], 1e-300)
    ) ** config.weight_power
    weights /= weights.sum()
    return Combination(float(weights[competing] @ forecast[competing]), weights, (lo, hi))


@dataclass
class Track:
    """Combined forecasts at consecutive origins, with the runs they came from."""

    runs: CandidateRuns
    config: HorizonConfig
    origins: np.ndarray  # consecutive positions
    combined: np.ndarray  # (origins, horizons) log forecasts

    @property
    def data(self) -> SeriesData:
        return self.runs.data

    def log_forecast(self, origin: int, h: int) -> float:
        i = int(origin - self.origins[0])
        if not 0 <= i < len(self.origins):
            raise HorizonError(f"no combined forecast from {self.data.months[origin]:%Y-%m}")
        return float(self.combined[i, h - 1])

    def errors(self, h: int) -> pd.Series:
        """Log errors (actual - combined) at horizon ``h``, indexed by target month."""
        actual = actual_at(self.data, self.origins, self.config.horizons)[:, h - 1]
        first = self.data.months[self.origins[0]] + pd.DateOffset(months=h)
        targets = pd.date_range(first, periods=len(self.origins), freq="MS", name=MONTH)
        return pd.Series(actual - self.combined[:, h - 1], index=targets)


def track(
    data: SeriesData,
    first_origin: int,
    last_origin: int,
    config: HorizonConfig,
    fit: FitCandidates = fit_candidates,
    error_window: int = 0,
) -> Track:
    """Combined forecasts at origins ``first_origin - horizons - error_window + 1 ..
    last_origin``: from the first origin on, each horizon has ``error_window`` earlier
    errors to size its interval. Candidates run from far enough back for the weights."""
    first_combined = first_origin - config.horizons - error_window + 1
    first_run = first_combined - config.horizons - config.weight_window + 1
    if first_run < 0:
        raise HorizonError(
            f"origins from {data.months[first_origin]:%Y-%m}: the combination and interval "
            f"windows need {-first_run} more month(s) of price before {data.months[0]:%Y-%m}"
        )
    runs = run_candidates(data, first_run, last_origin, config, fit)
    origins = np.arange(first_combined, last_origin + 1)
    combined = np.array(
        [
            [combine(runs, int(o), h, config).log_forecast for h in range(1, config.horizons + 1)]
            for o in origins
        ]
    )
    return Track(runs, config, origins, combined)


def backtest_rows(tr: Track, origins: Sequence[int], horizons: Sequence[int]) -> pd.DataFrame:
    """One row per (origin, horizon) whose target is observed: ``origin``, target ``month``,
    ``horizon``, actual, the combined forecast and the baselines (CLP/L)."""
    data = tr.data
    records = [
        {
            ORIGIN: data.months[o],
            MONTH: data.months[o + h],
            HORIZON: h,
            ACTUAL: float(np.exp(data.log_price[o + h])),
            PREDICTED: float(np.exp(tr.log_forecast(o, h))),
            **{
                name: float(np.exp(tr.runs.baselines[name][tr.runs.row(o), h - 1]))
                for name in BASELINES
            },
        }
        for o in map(int, origins)
        for h in horizons
        if o + h <= data.last
    ]
    return pd.DataFrame(records)


def rain_reason(data: SeriesData, lag: int) -> str:
    """How the path handles rainfall, in words."""
    if data.rain_end < SEASON - 1:
        return "no usable rainfall: the rain candidates cannot be fit and get no weight"
    end = f"{data.months[data.rain_end]:%Y-%m}"
    if lag == 0:
        return (
            f"rainfall observed through {end}, as the price; months after it hold the last "
            "complete 12-month rainfall sum (future rain unknown)"
        )
    return (
        f"rainfall ends {end}, {lag} month(s) before the price: rain inputs hold the last "
        f"complete 12-month sum ({data.months[data.rain_end - SEASON + 1]:%Y-%m}..{end}) for "
        f"every later month; the backtest applies the same {lag}-month lag at each origin"
    )


def combination_reason(
    runs: CandidateRuns, comb: Combination, h: int, config: HorizonConfig, top: int = 3
) -> str:
    """How the forecast at horizon ``h`` was combined: scoring window and largest weights."""
    months, names = runs.data.months, config.candidate_names
    lo, hi = comb.window
    order = [i for i in np.argsort(-comb.weights)[:top] if comb.weights[i] > 0]
    largest = ", ".join(f"{names[i]} {comb.weights[i]:.2f}" for i in order)
    return (
        f"inverse-MSE^{config.weight_power:g} combination of {int((comb.weights > 0).sum())} "
        f"candidates scored on their last {config.weight_window} forecasts at h={h} (targets "
        f"{months[lo + h]:%Y-%m}..{months[hi + h]:%Y-%m}); largest weights: {largest}"
    )


def path_rows(tr: Track, origin: int, horizons: Sequence[int]) -> pd.DataFrame:
    """The combined path after ``origin``: month, horizon, forecast (CLP/L), model (with
    the largest weight) and reason (how it was combined, how rainfall was handled)."""
    data, config = tr.data, tr.config
    rain = rain_reason(data.up_to(origin, tr.runs.rain_lag), tr.runs.rain_lag)
    rows = []
    for h in horizons:
        comb = combine(tr.runs, origin, h, config)
        top = int(np.argmax(comb.weights))
        rows.append(
            {
                MONTH: data.months[origin] + pd.DateOffset(months=h),
                HORIZON: h,
                PREDICTED: float(np.exp(comb.log_forecast)),
                MODEL: f"{COMBINED}: largest weight {config.candidate_names[top]} ({comb.weights[top]:.2f})",
                REASON: f"{combination_reason(tr.runs, comb, h, config)}; {rain}",
            }
        )
    return pd.DataFrame(rows)
