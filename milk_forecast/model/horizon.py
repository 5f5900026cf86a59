"""The candidates of the 12-month path: each forecasts the whole path of the log price
from the months up to an origin (the last month it is given), and nothing else.

- ``seasonal_ridge[...]``: the seasonal ridge of ``models.py`` (monthly log change on
  unpenalised calendar dummies and standardised, penalised inputs, recent years weighted
  more) run *recursively*: each predicted month feeds the inputs of the next. Inputs:
  ``price`` = y(t-1), the log change over the year before t (y(t) = log p(t) - log p(t-12));
  ``rain`` = log(1 + rainfall of the 8 regions over t-12..t-1); ``acc3`` = y(t-1) - y(t-4),
  the three-month change of the yearly change (seasonally adjusted momentum).
- ``sar[...]``: least-squares autoregression of y(t) on its lags 1..p, seasonal lags and
  a constant, recursive.
- ``arima(p,0,q)(0,1,1)[12]+drift``: ``arima.py``.
- ``seasonal_drift``: the last price times the average same-calendar-month log changes.

Rainfall not observed up to a month (the future, or rain data ending before the price)
is *held*: such months use the last complete 12-month rainfall sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model import arima
from milk_forecast.model.arima import ArimaSpec
from milk_forecast.model.models import (
    DUMMY_PENALTY,
    PERSISTENCE,
    SEASONAL_NAIVE,
    lag,
    lagged_window_sum,
)
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.predictions import FORECAST_HORIZON

SEASON = 12
SEASONAL_DRIFT = "seasonal_drift"
BASELINES = (PERSISTENCE, SEASONAL_NAIVE, SEASONAL_DRIFT)
RIDGE_INPUTS = ("price", "rain", "acc3")
MIN_TRAINING_MONTHS = 36
# The recursion reads the 16 months before a forecast month (acc3: y(t-4) = lp(t-4) - lp(t-16)).
LOOKBACK = 16


class HorizonError(ValueError):
    """Data or settings the path models cannot work with; the message says which."""


@dataclass(frozen=True)
class SeriesData:
    """The monthly series as arrays, months contiguous; rain is NaN after ``rain_end``.

    ``log_price[i]`` and ``rain_total[i]`` belong to ``months[i]``; ``up_to`` gives what a
    model may see at an origin.
    """

    months: pd.DatetimeIndex
    log_price: np.ndarray
    rain_total: np.ndarray
    rain_end: int  # position of the last month with complete rainfall (-1: none)

    @property
    def last(self) -> int:
        return len(self.months) - 1

    @property
    def calendar(self) -> np.ndarray:
        """Calendar month 0..11 of each month."""
        return np.asarray(self.months.month) - 1

    def up_to(self, position: int, rain_lag: int = 0) -> SeriesData:
        """Months ``0..position``; rainfall up to ``position - rain_lag`` at most."""
        rain_end = min(self.rain_end, position - rain_lag)
        rain = self.rain_total[: position + 1].copy()
        rain[rain_end + 1 :] = np.nan
        return SeriesData(
            self.months[: position + 1], self.log_price[: position + 1], rain, rain_end
        )

    def position(self, month: str | pd.Timestamp) -> int:
        """Index of ``month``; an error names the month and the data's span."""
        month = pd.Timestamp(month)
        found = int(self.months.get_indexer([month])[0])
        if found < 0:
            raise HorizonError(
                f"month {month:%Y-%m} is outside the price series "
                f"({self.months[0]:%Y-%m}..{self.months[-1]:%Y-%m})"
            )
        return found

    def start(self, history_start: str | pd.Timestamp) -> int:
        """Position of the first month models learn from."""
        return int(self.months.searchsorted(pd.Timestamp(history_start)))


def series_data(monthly: pd.DataFrame) -> SeriesData:
    """Arrays from the clean monthly frame, from the first to the last observed price.

    Rainfall is the sum of the regions (all of them needed for a month), kept up to its
    last complete month.
    """
    frame = monthly.sort_values(MONTH).reset_index(drop=True)
    observed = frame[PRICE_COLUMN].notna().to_numpy()
    if not observed.any():
        raise HorizonError(f"{PRICE_COLUMN}: no observed price")
    first, last = int(np.argmax(observed)), int(len(observed) - 1 - np.argmax(observed[::-1]))
    frame = frame.iloc[first : last + 1]
    months = pd.DatetimeIndex(frame[MONTH])
    if not months.equals(pd.date_range(months[0], months[-1], freq="MS")):
        raise HorizonError(f"{MONTH}: months are not contiguous month starts")
    price = frame[PRICE_COLUMN].to_numpy(dtype="float64")
    if np.isnan(price).any() or (price <= 0).any():
        raise HorizonError(f"{PRICE_COLUMN}: a missing or non-positive price inside the series")
    present = [c for c in RAIN_COLUMNS if c in frame]
    rain = frame[present].to_numpy(dtype="float64") if present else np.empty((len(frame), 0))
    complete = ~np.isnan(rain).any(axis=1) if present else np.zeros(len(frame), dtype=bool)
    rain_end = int(len(complete) - 1 - np.argmax(complete[::-1])) if complete.any() else -1
    rain_total = np.where(complete, rain.sum(axis=1), np.nan)
    rain_total[rain_end + 1 :] = np.nan
    return SeriesData(months, np.log(price), rain_total, rain_end)


# --- candidate specifications -----------------------------------------------------------


@dataclass(frozen=True)
class RidgeSpec:
    """Recursive seasonal ridge on the monthly log change."""

    inputs: tuple[str, ...]
    half_life_years: float | None
    alpha: float = 1.0

    @property
    def name(self) -> str:
        half_life = "none" if self.half_life_years is None else f"{self.half_life_years:g}y"
        return f"seasonal_ridge[{'+'.join(self.inputs)}, half-life {half_life}]"


@dataclass(frozen=True)
class SarSpec:
    """Autoregression of the yearly log change on lags 1..p, seasonal lags and a constant."""

    p: int
    seasonal_lags: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"sar[p={self.p}, seasonal lags {','.join(map(str, self.seasonal_lags))}]"


@dataclass(frozen=True)
class DriftSpec:
    """Seasonal drift: the last price times the average same-calendar-month log changes."""

    @property
    def name(self) -> str:
        return SEASONAL_DRIFT


PathSpec = RidgeSpec | SarSpec | ArimaSpec | DriftSpec

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


def default_candidates(alpha: float = 1.0) -> tuple[PathSpec, ...]:
    """The 27 candidates chosen on origins before 2018-04 (README, "The model")."""
    return (
        *(RidgeSpec(inputs, half_life, alpha) for inputs in INPUT_SETS for half_life in HALF_LIVES),
        SarSpec(1, (12, 24)),
        SarSpec(2, (12, 24)),
        SarSpec(3, (12,)),
        ArimaSpec(2, 1),
        ArimaSpec(1, 1),
        DriftSpec(),
    )


@dataclass(frozen=True)
class HorizonConfig:
    """How the path is made: candidates, horizons, and how they are combined."""

    history_start: str = "1990-01"
    horizons: int = FORECAST_HORIZON
    candidates: tuple[PathSpec, ...] = default_candidates()
    weight_window: int = 60
    weight_power: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.horizons <= 2 * SEASON:
            raise HorizonError(f"horizons: {self.horizons}, expected 1..{2 * SEASON}")
        if self.weight_window < 2:
            raise HorizonError(f"weight_window: {self.weight_window}, at least 2 needed")
        for spec in self.candidates:
            if isinstance(spec, RidgeSpec) and set(spec.inputs) - set(RIDGE_INPUTS):
                raise HorizonError(f"{spec.name}: unknown input(s), known {RIDGE_INPUTS}")
        names = self.candidate_names
        if not names or len(set(names)) != len(names):
            raise HorizonError(f"candidates: empty or duplicated names {names}")

    @property
    def candidate_names(self) -> list[str]:
        return [spec.name for spec in self.candidates]


# --- the recursive seasonal ridges ------------------------------------------------------


def yearly_change(log_price: np.ndarray) -> np.ndarray:
    """y(t) = log p(t) - log p(t-12), NaN for the first year."""
    return log_price - lag(log_price, SEASON)


def rain_inputs(data: SeriesData) -> np.ndarray:
    """log(1 + rainfall over t-12..t-1) for t = 0..last+1 (NaN where not fully observed)."""
    return np.log1p(lagged_window_sum(np.append(data.rain_total, np.nan), SEASON))


def held_rain(data: SeriesData) -> float:
    """The last complete 12-month rainfall input: what months after the rain data use."""
    if data.rain_end < SEASON - 1:
        return math.nan
    window = data.rain_total[data.rain_end - SEASON + 1 : data.rain_end + 1]
    return float(np.log1p(window.sum()))


@dataclass(frozen=True)
class RidgeSteps:
    """Each candidate's one-month step, linear in the raw inputs: the log change of month t
    is ``slope @ [y(t-1), rain(t), acc3(t)] + intercept + calendar[month of t]``."""

    slope: np.ndarray  # (candidates, 3)
    intercept: np.ndarray  # (candidates,)
    calendar: np.ndarray  # (candidates, 12)
    usable: np.ndarray  # (candidates,) False: too few training months


def fit_ridge_steps(data: SeriesData, specs: Sequence[RidgeSpec], start: int) -> RidgeSteps:
    """All ridge candidates fitted at once on months ``start..last``.

    Candidates share Gram matrices per (training rows, half-life); an input a candidate
    does not use gets a zero row and column and a unit diagonal, so its coefficient is 0.
    Inputs are standardised on the candidate's training rows (rain rows end with the rain).
    """
    lp, origin = data.log_price, data.last
    t = np.arange(max(start, LOOKBACK), origin + 1)
    y = yearly_change(lp)
    raw = np.column_stack([y[t - 1], rain_inputs(data)[t], y[t - 1] - y[t - 4]])
    target = lp[t] - lp[t - 1]
    calendar = np.zeros((len(t), SEASON))
    calendar[np.arange(len(t)), data.calendar[t]] = 1.0
    age_years = (origin - t) / SEASON
    use = np.array([[name in spec.inputs for name in RIDGE_INPUTS] for spec in specs])
    needs_rain = use[:, RIDGE_INPUTS.index("rain")]
    price_rows = np.isfinite(raw[:, [0, 2]]).all(axis=1)
    n_in, n_col = len(RIDGE_INPUTS), len(RIDGE_INPUTS) + SEASON
    mean, scale = np.zeros((len(specs), n_in)), np.ones((len(specs), n_in))
    gram, rhs = np.tile(np.eye(n_col), (len(specs), 1, 1)), np.zeros((len(specs), n_col))
    usable = np.zeros(len(specs), dtype=bool)
    for with_rain in (False, True):
        rows = price_rows & np.isfinite(raw[:, 1]) if with_rain else price_rows
        members = np.flatnonzero(needs_rain == with_rain)
        if rows.sum() < MIN_TRAINING_MONTHS or not len(members):
            continue
        x_raw = np.nan_to_num(raw[rows])
        mu, sd = x_raw.mean(axis=0), x_raw.std(axis=0)
        sd[sd == 0] = 1.0
        x = np.hstack([(x_raw - mu) / sd, calendar[rows]])
        for half_life in {specs[c].half_life_years for c in members}:
            weight = np.ones(len(x)) if half_life is None else 0.5 ** (age_years[rows] / half_life)
            xw = x.T * weight
            group = [c for c in members if specs[c].half_life_years == half_life]
            gram[group], rhs[group] = xw @ x, xw @ target[rows]
        mean[members], scale[members], usable[members] = mu, sd, True
    keep = np.hstack([use, np.ones((len(specs), SEASON), dtype=bool)])
    gram *= keep[:, :, None] & keep[:, None, :]
    rhs *= keep
    alpha = np.array([spec.alpha for spec in specs])
    penalty = np.hstack(
        [np.where(use, alpha[:, None], 1.0), np.full((len(specs), SEASON), DUMMY_PENALTY)]
    )
    diagonal = np.arange(n_col)
    gram[:, diagonal, diagonal] += penalty
    gram[~usable] = np.eye(n_col)
    beta = np.linalg.solve(gram, rhs[..., None])[..., 0]
    slope = beta[:, :n_in] * use / scale
    return RidgeSteps(slope, -(slope * mean).sum(axis=1), beta[:, n_in:], usable)


def ridge_paths(
    data: SeriesData, specs: Sequence[RidgeSpec], start: int, horizons: int
) -> np.ndarray:
    """Recursive log-price paths (candidates, horizons): each forecast month feeds the
    inputs of the next; rain not observed holds the last complete 12-month sum."""
    steps = fit_ridge_steps(data, specs, start)
    origin = data.last
    rain_in, held = rain_inputs(data), held_rain(data)
    path = np.empty((len(specs), LOOKBACK + horizons))
    path[:, :LOOKBACK] = data.log_price[origin - LOOKBACK + 1 : origin + 1]
    first_month = int(data.calendar[origin])
    for k in range(1, horizons + 1):
        n = LOOKBACK - 1 + k  # the new month's column
        y1 = path[:, n - 1] - path[:, n - 13]
        y4 = path[:, n - 4] - path[:, n - 16]
        rain = rain_in[origin + k] if origin + k < len(rain_in) else math.nan
        rain = rain if np.isfinite(rain) else held
        rain = rain if np.isfinite(rain) else 0.0  # no rainfall at all: rain candidates unusable
        inputs = np.column_stack([y1, np.full(len(specs), rain), y1 - y4])
        path[:, n] = (
            path[:, n - 1]
            + (steps.slope * inputs).sum(axis=1)
            + steps.intercept
            + steps.calendar[:, (first_month + k) % SEASON]
        )
    out = path[:, LOOKBACK:]
    out[~steps.usable] = np.nan
    return out


# --- the other candidates and the baselines ---------------------------------------------


def sar_path(data: SeriesData, spec: SarSpec, start: int, horizons: int) -> np.ndarray:
    """Recursive log-price path of a seasonal autoregression of the yearly change."""
    lp, origin = data.log_price, data.last
    y = yearly_change(lp)
    lags = [*range(1, spec.p + 1), *spec.seasonal_lags]
    t = np.arange(max(start, SEASON + max(lags)), origin + 1)
    if len(t) < MIN_TRAINING_MONTHS:
        return np.full(horizons, np.nan)
    x = np.column_stack([y[t - j] for j in lags] + [np.ones(len(t))])
    beta = np.linalg.lstsq(x, y[t], rcond=None)[0]
    changes = list(y[origin - max(lags) + 1 : origin + 1])
    levels = list(lp[origin - SEASON + 1 : origin + 1])
    out = np.empty(horizons)
    for k in range(horizons):
        change = float(np.dot([changes[-j] for j in lags], beta[:-1]) + beta[-1])
        changes.append(change)
        levels.append(levels[-SEASON] + change)
        out[k] = levels[-1]
    return out


def baseline_paths(data: SeriesData, start: int, horizons: int) -> dict[str, np.ndarray]:
    """Log-price paths of persistence, seasonal naive and seasonal drift from the last month."""
    lp, origin, calendar = data.log_price, data.last, data.calendar
    t = np.arange(max(start, 1), origin + 1)
    counts = np.bincount(calendar[t], minlength=SEASON)
    sums = np.bincount(calendar[t], weights=lp[t] - lp[t - 1], minlength=SEASON)
    average = np.divide(sums, counts, out=np.zeros(SEASON), where=counts > 0)
    ahead = np.arange(1, horizons + 1)
    return {
        PERSISTENCE: np.full(horizons, lp[origin]),
        SEASONAL_NAIVE: lp[origin + ahead - SEASON * np.ceil(ahead / SEASON).astype(int)],
        SEASONAL_DRIFT: lp[origin] + np.cumsum(average[(calendar[origin] + ahead) % SEASON]),
    }


def fit_candidates(data: SeriesData, config: HorizonConfig) -> np.ndarray:
    """Log-price paths (candidates, horizons) of every candidate, from ``data`` only.

    A walk-forward hands this function (its ``fit`` argument) the data cut at each origin;
    it reads no month after ``data.months[-1]``. A NaN row: a candidate that cannot be fit.
    """
    start, horizons = data.start(config.history_start), config.horizons
    out = np.full((len(config.candidates), horizons), np.nan)
    ridges = [i for i, spec in enumerate(config.candidates) if isinstance(spec, RidgeSpec)]
    if ridges:
        specs = [config.candidates[i] for i in ridges]
        out[ridges] = ridge_paths(data, specs, start, horizons)  # type: ignore[arg-type]
    for i, spec in enumerate(config.candidates):
        if isinstance(spec, SarSpec):
            out[i] = sar_path(data, spec, start, horizons)
        elif isinstance(spec, ArimaSpec):
            out[i] = arima.forecast_path(
                data.log_price[max(start, SEASON) - SEASON :], spec, horizons
            )
        elif isinstance(spec, DriftSpec):
            out[i] = baseline_paths(data, start, horizons)[SEASONAL_DRIFT]
    return out


FitCandidates = Callable[[SeriesData, HorizonConfig], np.ndarray]
