"""The train stage: evaluate, choose, forecast the next month, write the outputs.

The chosen model is the *adaptive seasonal ridge*: for every month it forecasts, it picks
among the seasonal ridge candidates (``models.py``) the one with the lowest one-step RMSE
(log) over the selection window before that month, then refits it on every earlier month.
For the first backtest month that window is ``selection_start .. selection_end``; it
slides one month per month after that. The backtest window is never seen by a choice made
for an earlier month. Interval widths come from the model's own one-step log errors over
the same number of months before the month forecast (for the next month: the backtest).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from milk_forecast.checks import check_monthly
from milk_forecast.contracts import (
    ACTUAL,
    BACKTEST,
    CLEAN_FILE,
    FEATURES_FILE,
    FORECAST,
    IN_SAMPLE,
    KIND,
    LOWER,
    METRICS_FILE,
    MODEL,
    MODEL_FILE,
    MONTH,
    MSE,
    PREDICTED,
    PREDICTION_COLUMNS,
    PREDICTIONS_FILE,
    PRICE_COLUMN,
    SHUFFLED,
    SPLIT,
    TEST,
    UNIT,
    UPPER,
    WALK_FORWARD,
    interval_column,
    level_label,
)
from milk_forecast.data.features import feature_columns
from milk_forecast.model import backtest as bt
from milk_forecast.model import metrics as mt
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

CHOSEN = "adaptive_seasonal_ridge"
PRICE_ONLY = "adaptive_seasonal_ridge_price_only"


class TrainingError(ValueError):
    """Inputs or parameters the train stage cannot work with; the message says which."""


@dataclass
class TrainingResult:
    """What ``train`` produced: the fitted forecast model and the tables to show and write."""

    model: Any
    metrics: dict[str, Any]
    predictions: pd.DataFrame
    backtest: pd.DataFrame
    comparison: pd.DataFrame


@dataclass(frozen=True)
class Windows:
    history_start: pd.Timestamp
    selection: pd.DatetimeIndex
    backtest: pd.DatetimeIndex
    gap: int
    last: pd.Timestamp

    @property
    def length(self) -> int:
        return len(self.selection)

    @property
    def forecast(self) -> pd.Timestamp:
        return self.last + pd.DateOffset(months=1)

    @property
    def trailing(self) -> pd.DatetimeIndex:
        """The months before the backtest whose errors size the first backtest intervals."""
        first = bt.selection_window(self.backtest[0], self.length, self.gap)[0]
        return bt.month_range(first, self.backtest[0] - pd.DateOffset(months=1))

    @property
    def chosen(self) -> pd.DatetimeIndex:
        """Every month the adaptive choice is made for: trailing, backtest, next month."""
        return self.trailing.append(self.backtest).append(pd.DatetimeIndex([self.forecast]))


def months_between(start: pd.Timestamp, end: pd.Timestamp) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def resolve_windows(params: TrainParams, monthly: pd.DataFrame) -> Windows:
    """The windows as months, checked against each other and against the data."""
    ts = {
        name: pd.Timestamp(getattr(params, name))
        for name in (
            "history_start",
            "selection_start",
            "selection_end",
            "backtest_start",
            "backtest_end",
        )
    }
    prices = monthly.loc[monthly[PRICE_COLUMN].notna(), MONTH]
    first, last = prices.min(), prices.max()
    order = ["history_start", "selection_start", "selection_end", "backtest_start", "backtest_end"]
    for before, after in itertools.pairwise(order):
        if ts[before] > ts[after] or (before == "selection_end" and ts[before] >= ts[after]):
            raise TrainingError(
                f"parameters: {before}={ts[before]:%Y-%m} must come before {after}={ts[after]:%Y-%m}"
            )
    if ts["backtest_end"] > last:
        raise TrainingError(
            f"{CLEAN_FILE}: the price ends {last:%Y-%m}, before backtest_end="
            f"{ts['backtest_end']:%Y-%m}; pass windows inside {first:%Y-%m}..{last:%Y-%m}"
        )
    if ts["history_start"] < first:
        raise TrainingError(
            f"{CLEAN_FILE}: the price starts {first:%Y-%m}, after history_start="
            f"{ts['history_start']:%Y-%m}"
        )
    return Windows(
        ts["history_start"],
        bt.month_range(ts["selection_start"], ts["selection_end"]),
        bt.month_range(ts["backtest_start"], ts["backtest_end"]),
        months_between(ts["selection_end"], ts["backtest_start"]),
        last,
    )


def check_inputs(monthly: pd.DataFrame, features: pd.DataFrame) -> None:
    """The two parquet inputs have what the train stage reads."""
    check_monthly(monthly, CLEAN_FILE, required=[PRICE_COLUMN])
    check_monthly(features, FEATURES_FILE, required=[PRICE_COLUMN, SPLIT], contiguous=False)


def shift(month: pd.Timestamp, months: int) -> pd.Timestamp:
    return month + pd.DateOffset(months=months)


def run_candidates(monthly: pd.DataFrame, specs: list[CandidateSpec], w: Windows) -> pd.DataFrame:
    """One-step forecasts of every candidate, from the selection window of the first month
    chosen (``w.chosen[0]``) to the next month."""
    first = bt.selection_window(w.chosen[0], w.length, w.gap)[0]
    if months_between(w.history_start, first) < 36:
        raise TrainingError(
            f"parameters: the first one-step forecast ({first:%Y-%m}, two selection windows "
            f"before backtest_start) leaves less than 36 months after "
            f"history_start={w.history_start:%Y-%m}"
        )
    months = bt.month_range(first, w.forecast)
    design_columns = monthly[DESIGN_COLUMNS]  # slicing history is the loop's main cost
    return bt.walk_forward(design_columns, months, bt.candidate_forecaster(specs, w.history_start))


def with_intervals(
    choice: pd.DataFrame, months: pd.DatetimeIndex, widths: dict[float, pd.Series]
) -> pd.DataFrame:
    """Chosen forecast, candidate and interval bounds for ``months`` (widths: log half-width by level)."""
    rows = []
    for month in months:
        predicted = float(choice.at[month, "predicted"])
        row = {MONTH: month, PREDICTED: predicted, MODEL: choice.at[month, "candidate"]}
        for level, width in widths.items():
            lower, upper = bt.interval(predicted, width[month])
            row[interval_column(LOWER, level)], row[interval_column(UPPER, level)] = lower, upper
        rows.append(row)
    return pd.DataFrame(rows)


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
    """Evaluate (walk-forward and shuffled split), forecast the next month, build the outputs."""
    check_inputs(monthly, features)
    monthly = monthly.sort_values(MONTH).reset_index(drop=True)
    monthly = monthly[monthly[MONTH] <= monthly.loc[monthly[PRICE_COLUMN].notna(), MONTH].max()]
    w = resolve_windows(params, monthly)
    specs = candidate_specs(params.input_sets, params.half_lives_years, params.ridge_alpha)
    price = price_series(monthly)
    candidates = run_candidates(monthly, specs, w)
    choices = adaptive_choices(candidates, price, specs, w)
    backtest = backtest_with_intervals(choices[CHOSEN], price, w, params.interval_levels)
    forecast, reason, model = next_month(monthly, price, candidates, choices, specs, w, params)
    evaluations = {
        WALK_FORWARD: walk_forward_evaluation(choices, price, w),
        SHUFFLED: shuffled_evaluation(monthly, price, features, specs, w, params),
    }
    time_ordered_coverage = time_ordered(choices[CHOSEN], price, w, params.interval_levels)
    metrics = build_metrics(
        evaluations,
        backtest,
        forecast.iloc[0],
        reason,
        params.interval_levels,
        time_ordered_coverage,
    )
    predictions = build_predictions(in_sample(model, monthly, w), backtest, forecast, price)
    return TrainingResult(
        model,
        metrics,
        predictions,
        pd.concat([backtest, forecast], ignore_index=True),
        comparison_frame(evaluations),
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


def backtest_with_intervals(
    choice: pd.DataFrame, price: pd.Series, w: Windows, levels: tuple[float, ...]
) -> pd.DataFrame:
    """The backtest forecasts with leave-one-out intervals from the backtest's own errors."""
    errors = bt.log_errors(price, choice["predicted"].reindex(w.backtest))
    widths = {level: bt.leave_one_out_half_width(errors, level) for level in levels}
    backtest = with_intervals(choice, w.backtest, widths)
    return backtest.assign(**{KIND: BACKTEST, ACTUAL: price.reindex(w.backtest).to_numpy()})


def next_month(
    monthly: pd.DataFrame,
    price: pd.Series,
    candidates: pd.DataFrame,
    choices: dict[str, pd.DataFrame],
    specs: list[CandidateSpec],
    w: Windows,
    params: TrainParams,
) -> tuple[pd.DataFrame, str, Any]:
    """The forecast row (with intervals), why that pool made it, and its model refit on all months."""
    forecaster, reason = forecast_reason(candidates, specs, monthly, w)
    if forecaster not in choices:
        raise TrainingError(
            f"forecast of {w.forecast:%Y-%m}: {reason}, but input_sets has no price-only set"
        )
    own = bt.log_errors(price, choices[forecaster]["predicted"].reindex(w.backtest))
    month = pd.DatetimeIndex([w.forecast])
    widths = {
        level: pd.Series(bt.half_width(own, level), index=month) for level in params.interval_levels
    }
    forecast = with_intervals(choices[forecaster], month, widths)
    forecast = forecast.assign(
        **{KIND: FORECAST, MODEL: f"{forecaster}: {forecast.at[0, MODEL]}", ACTUAL: np.nan}
    )
    spec = next(s for s in specs if s.name == choices[forecaster].at[w.forecast, "candidate"])
    design = build_design(monthly)
    train_rows = np.asarray((design.months >= w.history_start) & (design.months <= w.last))
    return forecast, reason, fit_candidate(design, spec, train_rows, w.forecast)


def walk_forward_evaluation(
    choices: dict[str, pd.DataFrame], price: pd.Series, w: Windows
) -> dict[str, Any]:
    models = {name: choice["predicted"].reindex(w.backtest) for name, choice in choices.items()}
    models |= {
        PERSISTENCE: persistence(price, w.backtest),
        SEASONAL_NAIVE: seasonal_naive(price, w.backtest),
    }
    description = (
        f"one month ahead, expanding window from {w.history_start:%Y-%m}, refit and re-chosen "
        f"every month on the {w.length} months ending {w.gap} month(s) before it"
    )
    return evaluation(description, w.backtest, price, models)


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


def build_metrics(
    evaluations: dict[str, Any],
    backtest: pd.DataFrame,
    forecast: pd.Series,
    reason: str,
    levels: tuple[float, ...],
    time_ordered_coverage: dict[str, Any],
) -> dict[str, Any]:
    """The ``metrics.json`` payload (contracts.md)."""
    headline = {k: v for k, v in evaluations[WALK_FORWARD]["models"][CHOSEN].items() if k != MSE}
    bounds = {
        interval_column(side, level): float(forecast[interval_column(side, level)])
        for level in levels
        for side in (LOWER, UPPER)
    }
    coverage = {
        level_label(level): mt.coverage(
            backtest[ACTUAL],
            backtest[interval_column(LOWER, level)],
            backtest[interval_column(UPPER, level)],
        )
        for level in levels
    }
    return {
        "unit": UNIT,
        "interval_levels": list(levels),
        "headline": {"model": CHOSEN, "evaluation": WALK_FORWARD, **headline},
        "evaluations": evaluations,
        "forecast": {
            "month": f"{forecast[MONTH]:%Y-%m}",
            PREDICTED: float(forecast[PREDICTED]),
            "model": forecast[MODEL],
            "reason": reason,
            **bounds,
        },
        "interval_coverage": coverage,
        "interval_method": (
            "half-widths are empirical quantiles of the absolute one-step log errors of the "
            "backtest; the forecast uses all backtest months, each backtest month's interval "
            "the other backtest months (leave-one-out), so coverage is not strictly time-ordered"
        ),
        "interval_coverage_time_ordered": time_ordered_coverage,
    }


def time_ordered(
    choice: pd.DataFrame, price: pd.Series, w: Windows, levels: tuple[float, ...]
) -> dict[str, Any]:
    """Coverage of the forecast's interval rule applied at each backtest month in turn."""
    errors = bt.log_errors(price, choice["predicted"].reindex(w.trailing.append(w.backtest)))
    coverage = {
        level_label(level): bt.trailing_coverage(errors, w.backtest, w.length, w.gap, level)
        for level in levels
    }
    return {
        **coverage,
        "method": f"each backtest month's interval sized, as the forecast's is, from the chosen "
        f"model's one-step errors over the {w.length} months ending {w.gap} month(s) before it: "
        "the coverage a user would have seen",
    }


def build_predictions(
    fitted: pd.DataFrame, backtest: pd.DataFrame, forecast: pd.DataFrame, price: pd.Series
) -> pd.DataFrame:
    """One row per month: in-sample fit, then the backtest months replaced, then the forecast."""
    fitted = fitted[~fitted[MONTH].isin(backtest[MONTH])]
    frame = pd.concat([fitted, backtest, forecast], ignore_index=True)
    frame = frame.sort_values(MONTH, ignore_index=True)
    frame[ACTUAL] = price.reindex(frame[MONTH]).to_numpy()
    frame[MONTH] = frame[MONTH].astype("datetime64[ns]")
    first = list(PREDICTION_COLUMNS)
    return frame[first + [c for c in frame.columns if c not in first]]


def comparison_frame(evaluations: dict[str, Any]) -> pd.DataFrame:
    """Tidy table: one row per evaluation and model."""
    rows = [
        {"evaluation": e, "model": m, **values}
        for e, ev in evaluations.items()
        for m, values in ev["models"].items()
    ]
    return pd.DataFrame(rows)


def write_outputs(result: TrainingResult, run_dir: Path | str) -> list[Path]:
    """Write ``model.joblib``, ``metrics.json`` and ``predictions.parquet`` into ``run_dir``."""
    run_dir = Path(run_dir)
    paths = [run_dir / MODEL_FILE, run_dir / METRICS_FILE, run_dir / PREDICTIONS_FILE]
    joblib.dump(result.model, paths[0])
    paths[1].write_text(json.dumps(result.metrics, indent=2, allow_nan=False) + "\n")
    result.predictions.to_parquet(paths[2], index=False)
    return paths
