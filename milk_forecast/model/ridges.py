"""The seasonal ridges: the monthly log change of the price on 12 unpenalised calendar-month
indicators (no intercept) and standardised, ridge-penalised inputs, a training month ``a``
years old weighing ``0.5 ** (a / half_life_years)`` (``None``: equal weights).

Inputs of month t, with y(t) = log p(t) - log p(t-12): ``price`` = y(t-1), the price's
change over the last year; ``rain`` = log(1 + rainfall of the 8 regions over t-12..t-1), a
drought gauge; ``acc3`` = y(t-1) - y(t-4), a seasonally adjusted momentum (paths only).
``OneStepRidge`` forecasts the next month, ages counting from it; ``RecursiveRidge`` a
path, ages counting from the origin. Each family fits its members together."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from milk_forecast.model.forecaster import Forecaster, ForecastError
from milk_forecast.model.history import SEASON, History

ONE_STEP_INPUTS = ("price", "rain")
PATH_INPUTS = ("price", "rain", "acc3")
DUMMY_PENALTY = 1e-8  # keeps the system solvable when a calendar month has no training row
MIN_ONE_STEP_MONTHS = 24
MIN_PATH_MONTHS = 36
LOOKBACK = 16  # the recursion reads 16 months back (acc3: y(t-4) = lp(t-4) - lp(t-16))


def lag(values: np.ndarray, periods: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    out[periods:] = values[:-periods]
    return out


def rain_inputs(history: History) -> np.ndarray:
    """log(1 + rainfall over t-12..t-1) for t = 0..last+1 (NaN where not fully observed)."""
    values = np.append(history.rain_total, np.nan)
    out = np.full(len(values), np.nan)
    if len(values) > SEASON:
        windows = np.lib.stride_tricks.sliding_window_view(values[:-1], SEASON)
        out[SEASON:] = windows.sum(axis=1)
    return np.log1p(out)


@dataclass(eq=False, repr=False)
class Ridge(Forecaster):
    """Both ridges' parameters: inputs (checked when fitted), the weights' half-life, the penalty."""

    known_inputs: ClassVar[tuple[str, ...]]
    inputs: tuple[str, ...] = ("price",)
    half_life_years: float | None = None
    alpha: float = 1.0

    @property
    def name(self) -> str:
        half_life = "none" if self.half_life_years is None else f"{self.half_life_years:g}y"
        return f"seasonal_ridge[{'+'.join(self.inputs)}, half-life {half_life}]"

    def check_inputs(self) -> None:
        unknown = sorted(set(self.inputs) - set(self.known_inputs))
        if unknown or not self.inputs:
            raise ForecastError(
                f"{self.name}: unknown input(s) {unknown}, known: {self.known_inputs}"
            )


# --- one month ahead --------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """Per month 0..last+1 (the month forecast last): log change, inputs, calendar one-hot."""

    target: np.ndarray
    inputs: dict[str, np.ndarray]
    calendar: np.ndarray

    @classmethod
    def of(cls, history: History) -> Design:
        log_price = np.append(history.log_price, np.nan)
        months = np.append(history.calendar, (history.calendar[-1] + 1) % SEASON)
        inputs = {"price": lag(log_price, 1) - lag(log_price, 13), "rain": rain_inputs(history)}
        calendar = np.equal.outer(months, np.arange(SEASON)).astype("float64")
        return cls(log_price - lag(log_price, 1), inputs, calendar)

    def matrix(self, inputs: tuple[str, ...]) -> np.ndarray:
        return np.column_stack([self.inputs[name] for name in inputs])


@dataclass(eq=False, repr=False)
class OneStepRidge(Ridge):
    """``held_out``: months (``YYYY-MM``) never learnt from, e.g. a split's test months."""

    known_inputs = ONE_STEP_INPUTS
    horizons = 1
    replays_rain_lag = False  # it needs the rainfall up to the month before
    held_out: tuple[str, ...] = ()

    def fit(self, history: History) -> Self:
        fit_one_step([self], history)
        return self

    def predict(self, horizon: int = 1) -> np.ndarray:
        if horizon != 1:
            raise ForecastError(f"{self.name}: forecasts one month ahead, not {horizon}")
        return self.in_sample(np.array([self.history_.last + 1]))

    def in_sample(self, positions: np.ndarray) -> np.ndarray:
        """Log forecasts of the months at ``positions`` (up to last + 1), each from the month
        before it (NaN where an input is missing)."""
        inputs = (self.design_.matrix(self.inputs)[positions] - self.mean_) / self.scale_
        changes = np.hstack([inputs, self.design_.calendar[positions]]) @ self.coef_
        return self.history_.log_price[positions - 1] + changes

    @classmethod
    def fit_predict_many(
        cls, forecasters: Sequence[Forecaster], history: History, horizon: int
    ) -> np.ndarray:
        fitted = [ridge.clone() for ridge in forecasters]
        fit_one_step(fitted, history)
        return np.array([ridge.predict(horizon) for ridge in fitted])


def fit_one_step(ridges: Sequence[OneStepRidge], history: History) -> None:
    """Fit each ridge in place: weighted ridge on the months from ``start`` to the last
    with a target and every input; ridges with the same inputs and held-out months share
    their standardised rows."""
    design = Design.of(history)
    positions = np.arange(len(design.target))
    learnt = (positions >= history.start) & (positions <= history.last)
    shared: dict[tuple, tuple[np.ndarray, ...]] = {}
    for ridge in ridges:
        ridge.check_inputs()
        if (ridge.inputs, ridge.held_out) not in shared:
            raw_all = design.matrix(ridge.inputs)
            rows = learnt & np.isfinite(design.target) & np.isfinite(raw_all).all(axis=1)
            if ridge.held_out:
                held_out = pd.to_datetime(list(ridge.held_out), format="%Y-%m")
                rows &= ~np.append(history.months.isin(held_out), False)
            if rows.sum() < MIN_ONE_STEP_MONTHS:
                raise ForecastError(
                    f"{ridge.name}: only {int(rows.sum())} usable training month(s) before "
                    f"{history.month_at(history.last + 1):%Y-%m}, at least "
                    f"{MIN_ONE_STEP_MONTHS} needed"
                )
            raw = raw_all[rows]
            mean, scale = raw.mean(axis=0), raw.std(axis=0)
            scale[scale == 0] = 1.0
            x = np.hstack([(raw - mean) / scale, design.calendar[rows]])
            shared[ridge.inputs, ridge.held_out] = rows, mean, scale, x
        rows, mean, scale, x = shared[ridge.inputs, ridge.held_out]
        weight = np.ones(len(x))
        if ridge.half_life_years is not None:
            age_years = (history.last + 1 - positions[rows]) / 12
            weight = 0.5 ** (age_years / ridge.half_life_years)
        penalty = np.r_[np.full(len(ridge.inputs), ridge.alpha), np.full(SEASON, DUMMY_PENALTY)]
        xw = x * weight[:, None]
        coef = np.linalg.solve(x.T @ xw + np.diag(penalty), xw.T @ design.target[rows])
        ridge.mean_, ridge.scale_, ridge.coef_ = mean, scale, coef
        ridge.design_, ridge.history_ = design, history


# --- the whole path, recursively --------------------------------------------------------


@dataclass(frozen=True)
class Steps:
    """Each ridge's one-month step, linear in the raw inputs: the log change of month t is
    ``slope @ [y(t-1), rain(t), acc3(t)] + intercept + calendar[month of t]``."""

    slope: np.ndarray  # (ridges, 3)
    intercept: np.ndarray  # (ridges,)
    calendar: np.ndarray  # (ridges, 12)
    usable: np.ndarray  # (ridges,) False: too few training months


class RecursiveRidge(Ridge):
    known_inputs = PATH_INPUTS
    family = "seasonal regressions"

    def fit(self, history: History) -> Self:
        self.steps_ = fit_steps([self], history)
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        return recursive_paths(self.steps_, self.history_, horizon)[0]

    @classmethod
    def fit_predict_many(
        cls, forecasters: Sequence[Forecaster], history: History, horizon: int
    ) -> np.ndarray:
        return recursive_paths(fit_steps(forecasters, history), history, horizon)


def fit_steps(ridges: Sequence[RecursiveRidge], history: History) -> Steps:
    """All ridges fitted at once on the months from ``start`` to the last.

    Ridges share Gram matrices per (training rows, half-life); an input a ridge does not
    use gets a zero row and column and a unit diagonal, so its coefficient is 0. Inputs
    are standardised on the ridge's training rows (rain rows end with the rain).
    """
    for ridge in ridges:
        ridge.check_inputs()
    lp, origin = history.log_price, history.last
    t = np.arange(max(history.start, LOOKBACK), origin + 1)
    y = lp - lag(lp, SEASON)
    raw = np.column_stack([y[t - 1], rain_inputs(history)[t], y[t - 1] - y[t - 4]])
    target = lp[t] - lp[t - 1]
    calendar = np.zeros((len(t), SEASON))
    calendar[np.arange(len(t)), history.calendar[t]] = 1.0
    age_years = (origin - t) / SEASON
    use = np.array([[name in ridge.inputs for name in PATH_INPUTS] for ridge in ridges])
    needs_rain = use[:, PATH_INPUTS.index("rain")]
    price_rows = np.isfinite(raw[:, [0, 2]]).all(axis=1)
    n_in, n_col = len(PATH_INPUTS), len(PATH_INPUTS) + SEASON
    mean, scale = np.zeros((len(ridges), n_in)), np.ones((len(ridges), n_in))
    gram, rhs = np.tile(np.eye(n_col), (len(ridges), 1, 1)), np.zeros((len(ridges), n_col))
    usable = np.zeros(len(ridges), dtype=bool)
    for with_rain in (False, True):
        rows = price_rows & np.isfinite(raw[:, 1]) if with_rain else price_rows
        members = np.flatnonzero(needs_rain == with_rain)
        if rows.sum() < MIN_PATH_MONTHS or not len(members):
            continue
        x_raw = np.nan_to_num(raw[rows])
        mu, sd = x_raw.mean(axis=0), x_raw.std(axis=0)
        sd[sd == 0] = 1.0
        x = np.hstack([(x_raw - mu) / sd, calendar[rows]])
        for half_life in {ridges[c].half_life_years for c in members}:
            weight = np.ones(len(x)) if half_life is None else 0.5 ** (age_years[rows] / half_life)
            xw = x.T * weight
            group = [c for c in members if ridges[c].half_life_years == half_life]
            gram[group], rhs[group] = xw @ x, xw @ target[rows]
        mean[members], scale[members], usable[members] = mu, sd, True
    keep = np.hstack([use, np.ones((len(ridges), SEASON), dtype=bool)])
    gram *= keep[:, :, None] & keep[:, None, :]
    rhs *= keep
    alpha = np.array([ridge.alpha for ridge in ridges])
    penalty = np.hstack(
        [np.where(use, alpha[:, None], 1.0), np.full((len(ridges), SEASON), DUMMY_PENALTY)]
    )
    diagonal = np.arange(n_col)
    gram[:, diagonal, diagonal] += penalty
    gram[~usable] = np.eye(n_col)
    beta = np.linalg.solve(gram, rhs[..., None])[..., 0]
    slope = beta[:, :n_in] * use / scale
    return Steps(slope, -(slope * mean).sum(axis=1), beta[:, n_in:], usable)


def held_rain(history: History) -> float:
    """The last complete 12-month rainfall input: what months after the rain data use."""
    if history.rain_end < SEASON - 1:
        return math.nan
    window = history.rain_total[history.rain_end - SEASON + 1 : history.rain_end + 1]
    return float(np.log1p(window.sum()))


def recursive_paths(steps: Steps, history: History, horizon: int) -> np.ndarray:
    """Log-price paths (ridges, horizon): each forecast month feeds the inputs of the next;
    rainfall not observed (the future, or rain data ending early) holds ``held_rain``."""
    origin, count = history.last, len(steps.usable)
    rain_in, held = rain_inputs(history), held_rain(history)
    path = np.empty((count, LOOKBACK + horizon))
    path[:, :LOOKBACK] = history.log_price[origin - LOOKBACK + 1 : origin + 1]
    first_month = int(history.calendar[origin])
    for k in range(1, horizon + 1):
        n = LOOKBACK - 1 + k  # the new month's column
        y1 = path[:, n - 1] - path[:, n - 13]
        y4 = path[:, n - 4] - path[:, n - 16]
        rain = rain_in[origin + k] if origin + k < len(rain_in) else math.nan
        rain = rain if np.isfinite(rain) else held
        rain = rain if np.isfinite(rain) else 0.0  # no rainfall at all: rain ridges unusable
        inputs = np.column_stack([y1, np.full(count, rain), y1 - y4])
        path[:, n] = (
            path[:, n - 1]
            + (steps.slope * inputs).sum(axis=1)
            + steps.intercept
            + steps.calendar[:, (first_month + k) % SEASON]
        )
    out = path[:, LOOKBACK:]
    out[~steps.usable] = np.nan
    return out
