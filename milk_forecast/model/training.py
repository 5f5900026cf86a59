"""The train stage: evaluate, choose, forecast the next 12 months, build the outputs.

One month ahead, the model is the *adaptive seasonal ridge*: for every month it forecasts,
it picks among the seasonal ridge candidates (``models.py``) the one with the lowest
one-step RMSE (log) over the selection window before that month, then refits it on every
earlier month. For the first backtest month that window is ``selection_start ..
selection_end``; it slides one month per month after that. The backtest window is never
seen by a choice made for an earlier month. Two to twelve months ahead, the path is the
combination of path candidates (``combination.py``); every interval is sized in time
order from the serving model's own errors (``path.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from milk_forecast.data.checks import check_monthly
from milk_forecast.data.columns import PRICE_COLUMN, SPLIT, TEST
from milk_forecast.data.features import feature_columns
from milk_forecast.model import backtest as bt
from milk_forecast.model import combination as cb
from milk_forecast.model import metrics as mt
from milk_forecast.model import outputs
from milk_forecast.model import path as served_path
from milk_forecast.model.horizon import BASELINES
from milk_forecast.model.models import (
    DESIGN_COLUMNS,
    PERSISTENCE,
    PROTOTYPE,
    SEASONAL_NAIVE,
    CandidateSpec,
    build_design,
    candidate_specs,
    fit_candidate,
    persistence,
    price_series,
    prototype_search,
    seasonal_naive,
)
from milk_forecast.model.params import TrainParams
from milk_forecast.model.track_record import TrackRecord
from milk_forecast.model.windows import Windows, months_between, resolve, shift
from milk_forecast.run_folder.layout import CLEAN_FILE, FEATURES_FILE, MONTH
from milk_forecast.run_folder.metrics import EVALUATED_HORIZONS, SHUFFLED, walk_forward_key
from milk_forecast.run_folder.predictions import (
    BACKTEST,
    FORECAST_HORIZON,
    HORIZON,
    IN_SAMPLE,
    KIND,
    MODEL,
    PREDICTED,
)

CHOSEN = "adaptive_seasonal_ridge"
PRICE_ONLY = "adaptive_seasonal_ridge_price_only"


class TrainingError(ValueError):
    """Inputs or parameters the train stage cannot work with; the message says which."""


@dataclass
class TrainingResult:
    """What ``train`` produced: the fitted one-step model and the tables to show and write.

    ``backtest``: the one-step backtest rows; ``path``: the FORECAST_HORIZON forecast rows;
    ``horizon_backtest``: the combination and the baselines by origin and horizon;
    ``calibration``: the served forecasts and intervals over the calibration window.
    """

    model: Any
    metrics: dict[str, Any]
    predictions: pd.DataFrame
    backtest: pd.DataFrame
    path: pd.DataFrame
    horizon_backtest: pd.DataFrame
    calibration: pd.DataFrame
    comparison: pd.DataFrame


def check_inputs(monthly: pd.DataFrame, features: pd.DataFrame) -> None:
    """The two parquet inputs have what the train stage reads."""
    check_monthly(monthly, CLEAN_FILE, required=[PRICE_COLUMN])
    check_monthly(features, FEATURES_FILE, required=[PRICE_COLUMN, SPLIT], contiguous=False)


def run_candidates(monthly: pd.DataFrame, specs: list[CandidateSpec], w: Windows) -> pd.DataFrame:
    """One-step forecasts of every candidate, from the selection window of the first month
    chosen (``w.chosen[0]``) to the next month."""
    first = bt.selection_window(w.chosen[0], w.length, w.gap)[0]
    if months_between(w.history_start, first) < 36:
        raise TrainingError(
            f"parameters: the first one-step forecast needed ({first:%Y-%m}: the selection "
            f"window of the first of the {w.interval_window} months before the calibration "
            f"and backtest windows) leaves less than 36 months after "
            f"history_start={w.history_start:%Y-%m}"
        )
    months = bt.month_range(first, w.forecast)
    design_columns = monthly[DESIGN_COLUMNS]  # slicing history is the loop's main cost
    return bt.walk_forward(design_columns, months, bt.candidate_forecaster(specs, w.history_start))


def forecast_reason(
    candidates: pd.DataFrame, specs: list[CandidateSpec], monthly: pd.DataFrame, w: Windows
) -> tuple[str, str]:
    """Which pool forecasts the next month and why."""
    missing = [s.name for s in specs if not np.isfinite(candidates.at[w.forecast, s.name])]
    window = f"{shift(w.forecast, -w.gap - w.length + 1):%Y-%m}..{shift(w.forecast, -w.gap):%Y-%m}"
    if not missing:
        return (
            CHOSEN,
            f"all inputs available through {w.last:%Y-%m}: lowest one-step RMSE over {window} among all candidates",
        )
    rain = monthly.set_index(MONTH).filter(like="rain_").dropna(how="any")
    rain_end = f"{rain.index.max():%Y-%m}" if len(rain) else "nowhere"
    return PRICE_ONLY, (
        f"rainfall ends {rain_end}, the forecast of {w.forecast:%Y-%m} needs it through {w.last:%Y-%m}: "
        f"fallback to the price-history-only candidates, lowest one-step RMSE over {window}"
    )


def evaluation(
    description: str, months: pd.DatetimeIndex, actual: pd.Series, predictions: dict[str, pd.Series]
) -> dict[str, Any]:
    return {
        "description": description,
        "months": [f"{m:%Y-%m}" for m in months],
        "models": {
            name: mt.evaluate(actual.reindex(months), p.reindex(months))
            for name, p in predictions.items()
        },
    }


def shuffled_split_ours(
    monthly: pd.DataFrame, specs: list[CandidateSpec], test: pd.DatetimeIndex, w: Windows
) -> tuple[pd.Series, str]:
    """Our model on the shuffled split: chosen on the selection window's train months, fit on all train months."""
    price = price_series(monthly)
    months = w.selection.difference(test)
    one_step = bt.walk_forward(
        monthly[DESIGN_COLUMNS], months, bt.candidate_forecaster(specs, w.history_start, test)
    )
    best = bt.rmse_log(price, one_step).idxmin()
    spec = next(s for s in specs if s.name == best)
    design = build_design(monthly)
    train = np.asarray((design.months >= w.history_start) & ~design.months.isin(test))
    fitted = fit_candidate(design, spec, train, w.forecast)
    change = fitted.predict_log_change(design, np.asarray(design.months.isin(test)))
    return pd.Series(persistence(price, test).to_numpy() * np.exp(change), index=test), best


def prototype_shuffled(features: pd.DataFrame, random_state: int) -> pd.Series:
    """The prototype's grid search fit on the split's train rows, predicting its test rows."""
    columns = feature_columns(features)
    train, test = features[features[SPLIT] != TEST], features[features[SPLIT] == TEST]
    search = prototype_search(random_state, KFold(3, shuffle=True, random_state=random_state))
    search.fit(train[columns].to_numpy(), train[PRICE_COLUMN].to_numpy())
    return pd.Series(search.predict(test[columns].to_numpy()), index=pd.DatetimeIndex(test[MONTH]))


def in_sample(fitted: Any, monthly: pd.DataFrame, w: Windows) -> pd.DataFrame:
    """Fitted values of the forecast model on its training months."""
    design = build_design(monthly)
    rows = np.asarray((design.months >= w.history_start) & (design.months <= w.last))
    previous = persistence(price_series(monthly), design.months[rows])
    predicted = previous.to_numpy() * np.exp(fitted.predict_log_change(design, rows))
    frame = pd.DataFrame({MONTH: design.months[rows], PREDICTED: predicted})
    return frame.dropna().assign(**{KIND: IN_SAMPLE, MODEL: fitted.spec.name})


def train(monthly: pd.DataFrame, features: pd.DataFrame, params: TrainParams) -> TrainingResult:
    """Evaluate (walk-forward by horizon, shuffled split), calibrate the intervals,
    forecast the next 12 months, build the outputs."""
    check_inputs(monthly, features)
    monthly = monthly.sort_values(MONTH).reset_index(drop=True)
    monthly = monthly[monthly[MONTH] <= monthly.loc[monthly[PRICE_COLUMN].notna(), MONTH].max()]
    w = resolve(params, monthly)
    levels = params.interval_levels
    specs = candidate_specs(params.input_sets, params.half_lives_years, params.ridge_alpha)
    price = price_series(monthly)
    one = one_step(monthly, price, specs, w)
    track = served_path.run_track(monthly, w, params)
    served = served_path.Served(one.served["predicted"], track, price)
    backtest = one_step_backtest(one, track, price, w, levels)
    path = served_path.forecast_path(served, w, levels, one.model_name, one.reason)
    by_horizon = cb.backtest_rows(
        track, [track.data.position(o) for o in w.origins], range(1, FORECAST_HORIZON + 1)
    )
    calibration = served_path.calibration_rows(served, w, levels)
    evaluations = {
        **horizon_evaluations(one.choices, price, by_horizon, w),
        SHUFFLED: shuffled_evaluation(monthly, price, features, specs, w, params),
    }
    model = refit(monthly, one.served, specs, w)
    method = served_path.CALIBRATION_METHOD.format(window=w.interval_window)
    block = outputs.calibration_block(calibration, w.calibration, levels, method)
    metrics = outputs.build_metrics(evaluations, CHOSEN, path, block, levels)
    predictions = outputs.build_predictions(in_sample(model, monthly, w), backtest, path, price)
    return TrainingResult(
        model,
        metrics,
        predictions,
        backtest,
        path,
        by_horizon,
        calibration,
        comparison_frame(evaluations),
    )


@dataclass(frozen=True)
class OneStep:
    """The one-month-ahead choices of each pool and which pool serves the next month, why."""

    choices: dict[str, pd.DataFrame]
    forecaster: str
    reason: str
    next_month: pd.Timestamp

    @property
    def served(self) -> pd.DataFrame:
        return self.choices[self.forecaster]

    @property
    def model_name(self) -> str:
        return f"{self.forecaster}: {self.served.at[self.next_month, 'candidate']}"


def one_step(
    monthly: pd.DataFrame, price: pd.Series, specs: list[CandidateSpec], w: Windows
) -> OneStep:
    """The one-step candidates run and chosen for every month of ``w.chosen``."""
    candidates = run_candidates(monthly, specs, w)
    choices = adaptive_choices(candidates, price, specs, w)
    forecaster, reason = forecast_reason(candidates, specs, monthly, w)
    if forecaster not in choices:
        raise TrainingError(
            f"forecast of {w.forecast:%Y-%m}: {reason}, but input_sets has no price-only set"
        )
    return OneStep(choices, forecaster, reason, w.forecast)


def one_step_backtest(
    one: OneStep, track: cb.Track, price: pd.Series, w: Windows, levels: tuple[float, ...]
) -> pd.DataFrame:
    """The backtest months as forecast by the headline model, intervals from its own errors."""
    chosen = one.choices[CHOSEN]
    origins = w.backtest - pd.DateOffset(months=1)
    rows = served_path.Served(chosen["predicted"], track, price).rows(
        origins, [1], levels, w.interval_window
    )
    return rows.drop(columns=[HORIZON, cb.ORIGIN]).assign(
        **{KIND: BACKTEST, MODEL: chosen["candidate"].reindex(w.backtest).to_numpy()}
    )


def adaptive_choices(
    candidates: pd.DataFrame, price: pd.Series, specs: list[CandidateSpec], w: Windows
) -> dict[str, pd.DataFrame]:
    """Per pool (all candidates, price-only ones), the candidate chosen for each month."""
    pools = {
        CHOSEN: [s.name for s in specs],
        PRICE_ONLY: [s.name for s in specs if set(s.inputs) <= {"price"}],
    }
    return {
        name: bt.adaptive_choice(candidates, price, w.chosen, w.length, w.gap, pool)
        for name, pool in pools.items()
        if pool
    }


def refit(
    monthly: pd.DataFrame, choice: pd.DataFrame, specs: list[CandidateSpec], w: Windows
) -> Any:
    """The candidate chosen for the next month, refit on every month up to the last."""
    spec = next(s for s in specs if s.name == choice.at[w.forecast, "candidate"])
    design = build_design(monthly)
    train_rows = np.asarray((design.months >= w.history_start) & (design.months <= w.last))
    return fit_candidate(design, spec, train_rows, w.forecast)


def horizon_evaluations(
    choices: dict[str, pd.DataFrame], price: pd.Series, by_horizon: pd.DataFrame, w: Windows
) -> dict[str, Any]:
    """``walk_forward`` (one month ahead, the headline) and ``walk_forward_h<h>``: the model
    serving each horizon and the three baselines, from the origins before the backtest months."""
    evaluations = {}
    for h in EVALUATED_HORIZONS:
        rows = by_horizon[by_horizon[HORIZON] == h].set_index(MONTH)
        if rows.empty:
            continue
        months = pd.DatetimeIndex(rows.index)
        models = {cb.COMBINED: rows[PREDICTED]} | {name: rows[name] for name in BASELINES}
        description = (
            f"{h} month(s) ahead from each origin {rows[cb.ORIGIN].min():%Y-%m}.."
            f"{rows[cb.ORIGIN].max():%Y-%m}: the path candidates refit on the months up to the "
            f"origin, combined by their errors at h={h} with targets at or before it"
        )
        if h == 1:
            models = {
                name: choice["predicted"].reindex(months) for name, choice in choices.items()
            } | models
            description = (
                f"one month ahead, expanding window from {w.history_start:%Y-%m}, refit and "
                f"re-chosen every month on the {w.length} months ending {w.gap} month(s) before "
                f"it; {cb.COMBINED}: the path's combination at h=1, for comparison"
            )
        evaluations[walk_forward_key(h)] = evaluation(description, months, price, models)
    return evaluations


def shuffled_evaluation(
    monthly: pd.DataFrame,
    price: pd.Series,
    features: pd.DataFrame,
    specs: list[CandidateSpec],
    w: Windows,
    params: TrainParams,
) -> dict[str, Any]:
    test = pd.DatetimeIndex(features.loc[features[SPLIT] == TEST, MONTH]).sort_values()
    ours, choice = shuffled_split_ours(monthly, specs, test, w)
    models = {
        CHOSEN: ours,
        PERSISTENCE: persistence(price, test),
        SEASONAL_NAIVE: seasonal_naive(price, test),
    }
    if params.fit_prototype:
        models[PROTOTYPE] = prototype_shuffled(features, params.mutual_info_random_state)
    description = (
        f"the prototype's shuffled 80/20 split (random_state 42): {len(test)} test months; our "
        f"model trained on every other month from {w.history_start:%Y-%m}, candidate {choice} "
        "chosen on the selection window's train months"
    )
    return evaluation(description, test, price, models)


def comparison_frame(evaluations: dict[str, Any]) -> pd.DataFrame:
    """Tidy table: one row per evaluation and model."""
    rows = [
        {"evaluation": e, "model": m, **values}
        for e, ev in evaluations.items()
        for m, values in ev["models"].items()
    ]
    return pd.DataFrame(rows)


def write_outputs(result: TrainingResult, run_dir: Path | str, track: TrackRecord) -> list[Path]:
    """Write the stage's products (see ``outputs.write_outputs``)."""
    return outputs.write_outputs(result.metrics, result.predictions, run_dir, track)
