"""The evaluations in ``metrics.json``: walk-forward by horizon (``walk_forward``, one month
ahead, is the headline), each forecast from the months up to its origin only, and the
prototype's shuffled 80/20 split, kept to compare with it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from milk_forecast.data.columns import SPLIT, TEST
from milk_forecast.model import metrics as mt
from milk_forecast.model.candidates import Persistence, SeasonalNaive
from milk_forecast.model.ensembles import AdaptiveChoice
from milk_forecast.model.forecaster import ORIGIN, Forecaster, walk
from milk_forecast.model.history import History
from milk_forecast.model.prototype import PROTOTYPE
from milk_forecast.model.windows import Windows
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.metrics import EVALUATED_HORIZONS, walk_forward_key
from milk_forecast.run_folder.predictions import FORECAST_HORIZON, HORIZON, PREDICTED


def evaluation(
    description: str,
    months: pd.DatetimeIndex,
    actual: pd.Series,
    predictions: Mapping[str, pd.Series],
) -> dict[str, Any]:
    return {
        "description": description,
        "months": [f"{m:%Y-%m}" for m in months],
        "models": {
            name: mt.evaluate(actual.reindex(months), p.reindex(months))
            for name, p in predictions.items()
        },
    }


def horizon_rows(
    history: History, origins: np.ndarray, served: Forecaster, baselines: Sequence[Forecaster]
) -> pd.DataFrame:
    """``served.forecast_rows`` at every horizon whose target is observed, by origin, with
    the baselines' forecasts (CLP/L) by name."""
    horizons = range(1, FORECAST_HORIZON + 1)
    rows = served.forecast_rows(history, origins, horizons)
    for baseline in baselines:
        rows[baseline.name] = baseline.forecast_rows(history, origins, horizons)[PREDICTED]
    observed = rows[rows[MONTH] <= history.months[-1]]
    return observed.sort_values([ORIGIN, HORIZON], kind="stable", ignore_index=True)


def horizon_evaluations(
    history: History,
    one_step: Iterable[Forecaster],
    served: Forecaster,
    baselines: Sequence[Forecaster],
    rows: pd.DataFrame,
    w: Windows,
) -> dict[str, Any]:
    """``walk_forward`` and ``walk_forward_h<h>`` from the horizon rows (``served`` and the
    baselines); one month ahead, the ``one_step`` forecasters come first."""
    evaluations = {}
    price = history.price_by_month()
    for h in EVALUATED_HORIZONS:
        at = rows[rows[HORIZON] == h].set_index(MONTH)
        if at.empty:
            continue
        months = pd.DatetimeIndex(at.index)
        models = {served.name: at[PREDICTED]} | {b.name: at[b.name] for b in baselines}
        description = (
            f"{h} month(s) ahead from each origin {at[ORIGIN].min():%Y-%m}.."
            f"{at[ORIGIN].max():%Y-%m}: the path candidates refit on the months up to the "
            f"origin, combined by their errors at h={h} with targets at or before it"
        )
        if h == 1:
            origins = history.positions(months) - 1
            models = {
                f.name: pd.Series(np.exp(f.forecasts_at(history, origins, 1)), index=months)
                for f in one_step
            } | models
            description = (
                f"one month ahead, expanding window from {w.history_start:%Y-%m}, refit and "
                f"re-chosen every month on the {w.length} months ending {w.gap} month(s) before "
                f"it; {served.name}: the path's combination at h=1, for comparison"
            )
        evaluations[walk_forward_key(h)] = evaluation(description, months, price, models)
    return evaluations


def shuffled_split_ours(
    history: History, pool: AdaptiveChoice, test: pd.DatetimeIndex, w: Windows
) -> tuple[pd.Series, str]:
    """The pool on the shuffled split: its candidates never learn from the test months;
    the one with the lowest one-step RMSE (log) on the selection window's other months,
    fit on every other month, forecasts each test month from the month before."""
    held_out = tuple(f"{m:%Y-%m}" for m in test)
    candidates = [c.clone(held_out=held_out) for c in pool.candidates]
    targets = history.positions(w.selection.difference(test))
    paths = walk(candidates, history, targets - 1, 1, 0)[:, :, 0]
    scores = np.sqrt(np.mean((paths - history.log_price[targets]) ** 2, axis=1))
    best = candidates[int(np.nanargmin(scores))].fit(history)
    return pd.Series(np.exp(best.in_sample(history.positions(test))), index=test), best.name


def shuffled_evaluation(
    history: History,
    pool: AdaptiveChoice,
    features: pd.DataFrame,
    prototype: pd.Series | None,
    w: Windows,
) -> dict[str, Any]:
    """The pool, persistence, seasonal naive (and the prototype's fit) on the split's test months."""
    test = pd.DatetimeIndex(features.loc[features[SPLIT] == TEST, MONTH]).sort_values()
    ours, choice = shuffled_split_ours(history, pool, test, w)
    origins = history.positions(test) - 1
    models = {pool.name: ours} | {
        b.name: pd.Series(np.exp(b.forecasts_at(history, origins, 1)), index=test)
        for b in (Persistence(), SeasonalNaive())
    }
    if prototype is not None:
        models[PROTOTYPE] = prototype
    description = (
        f"the prototype's shuffled 80/20 split (random_state 42): {len(test)} test months; our "
        f"model trained on every other month from {w.history_start:%Y-%m}, candidate {choice} "
        "chosen on the selection window's train months"
    )
    return evaluation(description, test, history.price_by_month(), models)


def comparison_frame(evaluations: dict[str, Any]) -> pd.DataFrame:
    """Tidy table: one row per evaluation and model."""
    rows = [
        {"evaluation": e, "model": m, **values}
        for e, ev in evaluations.items()
        for m, values in ev["models"].items()
    ]
    return pd.DataFrame(rows)
