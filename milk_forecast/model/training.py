"""The train stage as a recipe of named steps, from 03_preprocess's tables to the outputs.

One month ahead, the model is the *adaptive seasonal ridge*: an ``AdaptiveChoice`` among
the one-step ridges by their RMSE (log) over the selection window before each month, which
slides one month per month from ``selection_start..selection_end``, so the backtest window
is never seen by a choice made for an earlier month. Two to twelve months ahead, the path
is the ``Combination`` of the path candidates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from milk_forecast.data.checks import check_monthly
from milk_forecast.data.columns import PRICE_COLUMN, RAIN_TOTAL_COLUMN, SPLIT
from milk_forecast.model import evaluation as ev
from milk_forecast.model import outputs
from milk_forecast.model.candidates import BASELINES, path_candidates
from milk_forecast.model.ensembles import AdaptiveChoice, ByHorizon, Combination
from milk_forecast.model.forecaster import ORIGIN, walk
from milk_forecast.model.history import History
from milk_forecast.model.params import TrainParams
from milk_forecast.model.prototype import prototype_shuffled
from milk_forecast.model.ridges import OneStepRidge
from milk_forecast.model.windows import Windows, resolve, shift
from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.layout import FEATURES_FILE, MONTH, SERIES_FILE
from milk_forecast.run_folder.metrics import CALIBRATED_HORIZONS, SHUFFLED

CHOSEN = "adaptive_seasonal_ridge"
PRICE_ONLY = "adaptive_seasonal_ridge_price_only"
INPUT_WORDS = {"price": "past prices", "rain": "rainfall"}  # a one-step ridge's inputs
CALIBRATION_METHOD = (
    "each origin's interval at horizon h is predicted * exp(+-q), q the level-quantile of the "
    "absolute log errors of the model serving h (h=1: the adaptive seasonal ridge, h>=2: the "
    "horizon combination) over its last {window} forecasts at h whose target is at or before "
    "the origin: the interval a user saw then; q never falls below that of a shorter horizon "
    "from the same origin, so intervals widen with the horizon. The rule was chosen once, on "
    "origins 2008-2013 of the real data (windows 24/36/48, plain or conformal quantile)"
)


class TrainingError(ValueError):
    """Inputs or parameters the train stage cannot work with; the message says which."""


@dataclass
class TrainingResult:
    """What ``train`` produced: the tables to show and write."""

    metrics: dict[str, Any]
    predictions: pd.DataFrame
    backtest: pd.DataFrame
    path: pd.DataFrame
    calibration: pd.DataFrame
    comparison: pd.DataFrame


def check_inputs(series: pd.DataFrame, features: pd.DataFrame) -> None:
    """The two tables of 03_preprocess have what the train stage reads."""
    check_monthly(
        series, SERIES_FILE, required=[PRICE_COLUMN, RAIN_TOTAL_COLUMN], no_nan=[PRICE_COLUMN]
    )
    check_monthly(features, FEATURES_FILE, required=[PRICE_COLUMN, SPLIT], contiguous=False)


def one_step_pools(params: TrainParams, w: Windows) -> dict[str, AdaptiveChoice]:
    """The adaptive choice among all one-step ridges, and among those of the price alone."""
    ridges = [
        OneStepRidge(tuple(inputs), half_life, params.ridge_alpha)
        for inputs in params.input_sets
        for half_life in params.half_lives_years
    ]
    pools = {CHOSEN: ridges, PRICE_ONLY: [r for r in ridges if set(r.inputs) <= {"price"}]}
    return {
        name: AdaptiveChoice(tuple(members), w.length, w.gap, name)
        for name, members in pools.items()
        if members
    }


def serving_one_step(
    pools: dict[str, AdaptiveChoice], history: History, w: Windows
) -> tuple[AdaptiveChoice, str, str]:
    """The pool serving the next month (all candidates if each can forecast it, else the
    price-only ones), fitted, with the model and the reason shown, in words."""
    first, last = shift(w.forecast, -w.gap - w.length + 1), shift(w.forecast, -w.gap)
    pool = pools[CHOSEN]
    why = f"Of the {len(pool.candidates)} seasonal regressions"
    if not np.isfinite(walk(pool.candidates, history, [history.last], 1, 0)).all():
        rain = "missing"
        if history.rain_end >= 0:
            rain = f"known only through {history.months[history.rain_end]:%Y-%m}"
        if PRICE_ONLY not in pools:
            raise TrainingError(
                f"forecast of {w.forecast:%Y-%m}: rainfall is {rain}, it needs rainfall through "
                f"{w.last:%Y-%m}, but input_sets has no price-only set"
            )
        pool = pools[PRICE_ONLY]
        why = (
            f"Rainfall is {rain} and this forecast needs it through {w.last:%Y-%m}, so only "
            f"the {len(pool.candidates)} regressions on past prices alone competed; of them"
        )
    fitted = pool.clone().fit(history)
    reason = (
        f"{why}, this one forecast one month ahead best over the {w.length} months from "
        f"{first:%Y-%m} to {last:%Y-%m}."
    )
    return fitted, plain_name(fitted.chosen), reason


def plain_name(ridge: OneStepRidge) -> str:
    """A one-step ridge in words: ``seasonal regression on rainfall (weights halve every 2
    years back)``."""
    inputs = " and ".join(INPUT_WORDS.get(name, name) for name in ridge.inputs)
    weights = "all years weigh the same"
    if (years := ridge.half_life_years) is not None:
        weights = f"weights halve every {years:g} years back"
    return f"seasonal regression on {inputs} ({weights})"


def train(series: pd.DataFrame, features: pd.DataFrame, params: TrainParams) -> TrainingResult:
    """Evaluate (walk-forward by horizon, shuffled split), calibrate the intervals,
    forecast the next 12 months, build the outputs."""
    check_inputs(series, features)
    w = resolve(params, series)
    history = History.from_table(series, params.history_start)
    levels, window = params.interval_levels, params.interval_window
    pools = one_step_pools(params, w)
    one_step, model, reason = serving_one_step(pools, history, w)
    combination = Combination(
        path_candidates(params.ridge_alpha), params.combination_window, params.combination_power
    )
    served = ByHorizon(pools[one_step.name], combination).fit(history)
    path = forecast_path(served, model, reason, levels, window)
    origins = history.positions(w.origins)
    backtest = one_step_backtest(pools[CHOSEN], history, origins, levels, window)
    by_horizon = ev.horizon_rows(history, origins, combination, BASELINES)
    calibration = served.backtest(
        history, history.positions(w.calibration), CALIBRATED_HORIZONS, levels, window
    )
    calibration = calibration[calibration[MONTH] <= w.last].reset_index(drop=True)
    prototype = None
    if params.fit_prototype:
        prototype = prototype_shuffled(features, params.mutual_info_random_state)
    evaluations = {
        **ev.horizon_evaluations(history, pools.values(), combination, BASELINES, by_horizon, w),
        SHUFFLED: ev.shuffled_evaluation(history, pools[CHOSEN], features, prototype, w),
    }
    method = CALIBRATION_METHOD.format(window=w.interval_window)
    block = outputs.calibration_block(calibration, w.calibration, levels, method)
    metrics = outputs.build_metrics(evaluations, CHOSEN, path, block, levels)
    fitted = in_sample(one_step, history)
    predictions = outputs.build_predictions(fitted, backtest, path, history.price_by_month())
    comparison = ev.comparison_frame(evaluations)
    return TrainingResult(metrics, predictions, backtest, path, calibration, comparison)


def forecast_path(
    served: ByHorizon, model: str, reason: str, levels: tuple[float, ...], window: int
) -> pd.DataFrame:
    """The FORECAST_HORIZON months after the history ``served`` was fit on: prediction,
    interval, model and reason (one month ahead: ``model`` and ``reason``)."""
    path = served.forecast(p.FORECAST_HORIZON, levels, window).assign(**{p.KIND: p.FORECAST})
    described = [(model, reason)]
    described += [served.rest_.describe(h) for h in range(2, p.FORECAST_HORIZON + 1)]
    path[p.MODEL], path[p.REASON] = [m for m, _ in described], [r for _, r in described]
    return path


def one_step_backtest(
    pool: AdaptiveChoice,
    history: History,
    origins: np.ndarray,
    levels: tuple[float, ...],
    window: int,
) -> pd.DataFrame:
    """The month after each origin as forecast by ``pool``, intervals from its own errors,
    ``model`` the candidate chosen for it."""
    lag = pool.replay_lag(history)
    chosen = [plain_name(pool.clone().fit(history.up_to(o, lag)).chosen) for o in origins]
    rows = pool.backtest(history, origins, [1], levels, window)
    return rows.drop(columns=[p.HORIZON, ORIGIN]).assign(**{p.KIND: p.BACKTEST, p.MODEL: chosen})


def in_sample(pool: AdaptiveChoice, history: History) -> pd.DataFrame:
    """Fitted values of the candidate ``pool`` chose, refit on every month up to the last."""
    model = pool.chosen.clone().fit(history)
    positions = np.arange(max(history.start, 1), history.last + 1)
    frame = pd.DataFrame(
        {MONTH: history.months[positions], p.PREDICTED: np.exp(model.in_sample(positions))}
    )
    return frame.dropna().assign(**{p.KIND: p.IN_SAMPLE, p.MODEL: plain_name(model)})
