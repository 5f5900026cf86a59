"""The models: two baselines, the seasonal log-change ridge candidates and the prototype recipe.

The seasonal ridge predicts the month-over-month log change of the price,
``log p(t) - log p(t-1)``, from calendar-month indicators (unpenalised, no intercept)
and standardised, ridge-penalised inputs built only from months before ``t``:

- ``price``: ``log p(t-1) - log p(t-13)``, the price's change over the last year;
- ``rain``: ``log(1 + rainfall of the 8 regions over months t-12 .. t-1)``, a drought gauge.

Recent years weigh more: a training month ``a`` years older than the forecast origin gets
weight ``0.5 ** (a / half_life_years)`` (``None``: equal weights).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, mutual_info_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.run_folder.layout import MONTH

PERSISTENCE = "persistence"
SEASONAL_NAIVE = "seasonal_naive"
PROTOTYPE = "prototype_poly_ridge"

TARGET = "log_change"
INPUT_COLUMNS = {"price": "price_yoy_log_change", "rain": "rain_12m_log_mm"}
# The columns of clean_monthly.parquet that ``build_design`` reads.
DESIGN_COLUMNS = [MONTH, PRICE_COLUMN, *RAIN_COLUMNS]
MONTH_COLUMNS = [f"month_{m:02d}" for m in range(1, 13)]
DUMMY_PENALTY = 1e-8  # keeps the system solvable when a calendar month has no training row

PROTOTYPE_GRID = {
    "select__k": [3, 4, 5, 6, 7, 10],
    "poly__degree": [1, 2, 3, 5, 7],
    "model__alpha": [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
}


class ModelError(ValueError):
    """A model asked to fit or predict on data it cannot use."""


def price_series(monthly: pd.DataFrame) -> pd.Series:
    """The price indexed by month (the clean monthly table has one row per month)."""
    return monthly.set_index(MONTH)[PRICE_COLUMN].astype("float64")


def persistence(price: pd.Series, months: pd.DatetimeIndex) -> pd.Series:
    """Forecast of each month: the price of the month before."""
    return price.shift(1, freq="MS").reindex(months)


def seasonal_naive(price: pd.Series, months: pd.DatetimeIndex) -> pd.Series:
    """Forecast of each month: the price of the same month one year before."""
    return price.shift(12, freq="MS").reindex(months)


@dataclass(frozen=True)
class Design:
    """Per month: target, inputs and calendar indicators, as arrays (fast to slice)."""

    months: pd.DatetimeIndex
    target: np.ndarray
    inputs: dict[str, np.ndarray]
    calendar: np.ndarray
    ordinal: np.ndarray  # months since year 0, to age training rows

    def frame(self) -> pd.DataFrame:
        """The design as a table, for display."""
        columns = {TARGET: self.target} | {INPUT_COLUMNS[k]: v for k, v in self.inputs.items()}
        frame = pd.DataFrame(columns, index=self.months)
        return frame.join(pd.DataFrame(self.calendar, index=self.months, columns=MONTH_COLUMNS))


def lagged_window_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of ``values`` over the ``window`` positions before each position (NaN if incomplete)."""
    out = np.full(len(values), np.nan)
    if len(values) > window:
        out[window:] = np.lib.stride_tricks.sliding_window_view(values[:-1], window).sum(axis=1)
    return out


def lag(values: np.ndarray, periods: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    out[periods:] = values[:-periods]
    return out


def build_design(monthly: pd.DataFrame) -> Design:
    """The design of every month of ``monthly``; a value of month t reads only months < t."""
    rain_total = monthly[RAIN_COLUMNS].to_numpy(dtype="float64").sum(axis=1)
    price = monthly[PRICE_COLUMN].to_numpy(dtype="float64")
    return design_of(pd.DatetimeIndex(monthly[MONTH]), price, rain_total)


def design_of(months: pd.DatetimeIndex, price: np.ndarray, rain_total: np.ndarray) -> Design:
    """The design from the months, their price and their rainfall over the 8 regions."""
    log_price = np.log(price)
    inputs = {
        "price": lag(log_price, 1) - lag(log_price, 13),
        "rain": np.log1p(lagged_window_sum(rain_total, 12)),
    }
    calendar = np.equal.outer(np.asarray(months.month), np.arange(1, 13)).astype("float64")
    ordinal = np.asarray(months.year * 12 + months.month - 1)
    return Design(months, log_price - lag(log_price, 1), inputs, calendar, ordinal)


@dataclass(frozen=True)
class CandidateSpec:
    """One seasonal ridge configuration."""

    inputs: tuple[str, ...]
    half_life_years: float | None
    alpha: float

    @property
    def name(self) -> str:
        half_life = "none" if self.half_life_years is None else f"{self.half_life_years:g}y"
        return f"seasonal_ridge[{'+'.join(self.inputs)}, half-life {half_life}]"


def candidate_specs(
    input_sets: tuple[tuple[str, ...], ...],
    half_lives_years: tuple[float | None, ...],
    alpha: float,
) -> list[CandidateSpec]:
    """The grid of candidates, input set by input set."""
    unknown = sorted({name for inputs in input_sets for name in inputs} - set(INPUT_COLUMNS))
    if unknown:
        raise ModelError(f"input set: unknown input(s) {unknown}, known: {sorted(INPUT_COLUMNS)}")
    return [CandidateSpec(tuple(i), h, alpha) for i in input_sets for h in half_lives_years]


def input_matrix(design: Design, spec: CandidateSpec) -> np.ndarray:
    return np.column_stack([design.inputs[name] for name in spec.inputs])


@dataclass(frozen=True)
class FittedSeasonalRidge:
    """A fitted candidate: enough to predict the log change of any month with its inputs."""

    spec: CandidateSpec
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    origin: pd.Timestamp
    training_months: int

    def predict_log_change(
        self, design: Design, rows: np.ndarray | slice = slice(None)
    ) -> np.ndarray:
        """Predicted log change for the ``rows`` of ``design`` (NaN where an input is missing)."""
        inputs = (input_matrix(design, self.spec)[rows] - self.mean) / self.scale
        return np.hstack([inputs, design.calendar[rows]]) @ self.coef


@dataclass(frozen=True)
class Standardised:
    """The training rows of one input set and their standardised inputs."""

    rows: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    x: np.ndarray  # standardised inputs, then the calendar indicators


def standardise(
    design: Design, spec: CandidateSpec, train: np.ndarray, origin: pd.Timestamp
) -> Standardised:
    """The ``train`` rows with a target and every input of ``spec``, standardised."""
    raw_all = input_matrix(design, spec)
    rows = train & np.isfinite(design.target) & np.isfinite(raw_all).all(axis=1)
    if rows.sum() < 24:
        raise ModelError(
            f"{spec.name}: only {int(rows.sum())} usable training month(s) before "
            f"{origin:%Y-%m}, at least 24 needed"
        )
    raw = raw_all[rows]
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    scale[scale == 0] = 1.0
    return Standardised(rows, mean, scale, np.hstack([(raw - mean) / scale, design.calendar[rows]]))


def fit_candidates(
    design: Design, specs: list[CandidateSpec], train: np.ndarray, origin: pd.Timestamp
) -> list[FittedSeasonalRidge]:
    """Weighted ridge of each spec on the ``train`` rows with target and inputs; weights
    decay with age. Specs with the same inputs share their standardised rows."""
    prepared: dict[tuple[str, ...], Standardised] = {}
    fitted = []
    origin_ordinal = origin.year * 12 + origin.month - 1
    for spec in specs:
        if spec.inputs not in prepared:
            prepared[spec.inputs] = standardise(design, spec, train, origin)
        data = prepared[spec.inputs]
        weight = np.ones(len(data.x))
        if spec.half_life_years is not None:
            age_years = (origin_ordinal - design.ordinal[data.rows]) / 12
            weight = 0.5 ** (age_years / spec.half_life_years)
        penalty = np.r_[np.full(len(spec.inputs), spec.alpha), np.full(12, DUMMY_PENALTY)]
        xw = data.x * weight[:, None]
        coef = np.linalg.solve(data.x.T @ xw + np.diag(penalty), xw.T @ design.target[data.rows])
        fitted.append(
            FittedSeasonalRidge(spec, data.mean, data.scale, coef, origin, int(data.rows.sum()))
        )
    return fitted


def fit_candidate(
    design: Design, spec: CandidateSpec, train: np.ndarray, origin: pd.Timestamp
) -> FittedSeasonalRidge:
    """``fit_candidates`` of one spec."""
    return fit_candidates(design, [spec], train, origin)[0]


class CachedMutualInfo:
    """``mutual_info_regression`` with a fixed ``random_state``, computed once per distinct data.

    In a grid search every candidate of a fold sees the same scaled training data, so the
    mutual information is computed once per fold instead of once per fit. Deep copies
    (sklearn's ``clone``) share the cache.
    """

    def __init__(self, random_state: int = 42, n_neighbors: int = 3) -> None:
        self.random_state = random_state
        self.n_neighbors = n_neighbors
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = np.ascontiguousarray(x, dtype="float64"), np.ascontiguousarray(y, dtype="float64")
        key = hashlib.sha1(str(x.shape).encode() + x.tobytes() + y.tobytes()).hexdigest()
        if key not in self.cache:
            self.cache[key] = mutual_info_regression(
                x, y, n_neighbors=self.n_neighbors, random_state=self.random_state
            )
        return self.cache[key]

    def __deepcopy__(self, memo: dict) -> CachedMutualInfo:
        return self


def prototype_pipeline(score_func: object) -> Pipeline:
    """The prototype: scale, keep the k best features by mutual information, polynomial, ridge."""
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("select", SelectKBest(score_func=score_func)),
            ("poly", PolynomialFeatures()),
            ("model", Ridge()),
        ]
    )


def prototype_search(
    random_state: int = 42, cv: object = 3, grid: dict | None = None
) -> GridSearchCV:
    """The prototype's grid search (scoring R2) with the mutual information cached per fold."""
    return GridSearchCV(
        prototype_pipeline(CachedMutualInfo(random_state)),
        grid or PROTOTYPE_GRID,
        cv=cv,
        scoring="r2",
        n_jobs=1,
    )
