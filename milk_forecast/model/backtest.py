"""Walk-forward evaluation: one month ahead, expanding window, refit at every month.

``walk_forward`` is generic: it hands a ``fit_predict(history, month)`` callable only the
rows strictly before ``month``. The seasonal ridge candidates are run through it, then the
adaptive choice among them is made for each month from their errors on earlier months only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model.models import CandidateSpec, design_of, fit_candidates
from milk_forecast.run_folder.layout import MONTH

FitPredict = Callable[[pd.DataFrame, pd.Timestamp], Mapping[str, float]]


class BacktestError(ValueError):
    """A backtest that cannot run on the data given (window outside the data, no candidate)."""


def month_range(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """Month starts from ``start`` to ``end`` inclusive."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS")


def walk_forward(
    frame: pd.DataFrame, months: Iterable[pd.Timestamp], fit_predict: FitPredict
) -> pd.DataFrame:
    """One row per month: what ``fit_predict`` returns when given only the rows before it."""
    rows = {}
    for month in months:
        history = frame[frame[MONTH] < month]
        rows[month] = dict(fit_predict(history, month))
    result = pd.DataFrame.from_dict(rows, orient="index")
    result.index = pd.DatetimeIndex(result.index, name=MONTH)
    return result


def candidate_forecaster(
    specs: list[CandidateSpec], history_start: pd.Timestamp, excluded: Iterable[pd.Timestamp] = ()
) -> FitPredict:
    """A ``fit_predict`` giving each candidate's price forecast (NaN if it lacks an input).

    Training months: from ``history_start``, not in ``excluded`` (the held-out months of a split).
    """
    excluded_months = pd.DatetimeIndex(list(excluded))

    def fit_predict(history: pd.DataFrame, month: pd.Timestamp) -> dict[str, float]:
        if history.empty or history[MONTH].iloc[-1] != month - pd.DateOffset(months=1):
            raise BacktestError(
                f"forecast of {month:%Y-%m}: the history does not end the month before"
            )
        design = design_of(  # the history and the month forecast, its price unknown
            pd.DatetimeIndex(history[MONTH]).append(pd.DatetimeIndex([month])),
            np.append(history[PRICE_COLUMN].to_numpy(dtype="float64"), np.nan),
            np.append(history[RAIN_COLUMNS].to_numpy(dtype="float64").sum(axis=1), np.nan),
        )
        train = (design.months >= history_start) & (design.months < month)
        train = np.asarray(train & ~design.months.isin(excluded_months))
        previous_price = float(history[PRICE_COLUMN].iloc[-1])
        out = {}
        for fitted in fit_candidates(design, specs, train, month):
            change = fitted.predict_log_change(design, slice(-1, None))
            out[fitted.spec.name] = previous_price * float(np.exp(change[0]))
        return out

    return fit_predict


def selection_window(month: pd.Timestamp, length: int, gap: int) -> pd.DatetimeIndex:
    """The ``length`` months ending ``gap`` months before ``month`` (gap >= 1)."""
    end = month - pd.DateOffset(months=gap)
    return month_range(end - pd.DateOffset(months=length - 1), end)


def rmse_log(actual: pd.Series, predicted: pd.DataFrame) -> pd.Series:
    """Root mean squared log error of each column (NaN if a column misses a month)."""
    errors = np.log(predicted).sub(np.log(actual.reindex(predicted.index)), axis=0)
    return np.sqrt((errors**2).mean(skipna=False))


def adaptive_choice(
    candidates: pd.DataFrame,
    actual: pd.Series,
    months: pd.DatetimeIndex,
    length: int,
    gap: int,
    pool: list[str],
) -> pd.DataFrame:
    """For each month: the pool's candidate with the lowest RMSE (log) over its selection window.

    Only candidates with a forecast for every month of the window and for the month itself
    compete; the window ends ``gap`` months before the month, so the choice never sees it.
    """
    table = candidates[pool]
    errors = np.log(table.to_numpy()) - np.log(actual.reindex(table.index).to_numpy())[:, None]
    rows = {}
    for month in months:
        window = selection_window(month, length, gap)
        positions = table.index.get_indexer(window)
        if (positions < 0).any() or month not in table.index:
            absent = window[positions < 0][0] if (positions < 0).any() else month
            raise BacktestError(
                f"selection for {month:%Y-%m}: no candidate forecast for {absent:%Y-%m}"
            )
        forecasts = table.loc[month].to_numpy()
        scores = np.sqrt(np.mean(errors[positions] ** 2, axis=0))
        scores[~np.isfinite(forecasts)] = np.nan
        if np.isnan(scores).all():
            raise BacktestError(
                f"selection for {month:%Y-%m}: no candidate of the pool can forecast it"
            )
        best = int(np.nanargmin(scores))
        rows[month] = {
            "candidate": pool[best],
            "predicted": float(forecasts[best]),
            "window_rmse_log": float(scores[best]),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(MONTH)


def log_errors(actual: pd.Series, predicted: pd.Series) -> pd.Series:
    """``log(actual) - log(predicted)`` on the months of ``predicted``."""
    return np.log(actual.reindex(predicted.index)) - np.log(predicted)


def time_ordered_half_widths(
    errors: pd.Series, horizon: int, window: int, levels: Sequence[float], months: pd.DatetimeIndex
) -> pd.DataFrame:
    """Interval half-widths (log) of forecasts ``horizon`` months ahead of ``months``, one
    column per level.

    ``errors``: log errors of forecasts at that horizon, indexed by target month. A forecast
    of month m was made at origin m - ``horizon``; its half-width is the level-quantile of
    the absolute values of the ``window`` errors whose target is at or before that origin
    (targets m - horizon - window + 1 .. m - horizon): only errors known when it was made.
    """
    if len(months) == 0:
        return pd.DataFrame(columns=list(levels), index=months, dtype="float64")
    origins = months - pd.DateOffset(months=horizon)
    span = month_range(origins.min() - pd.DateOffset(months=window - 1), origins.max())
    known = np.lib.stride_tricks.sliding_window_view(errors.reindex(span).to_numpy(), window)
    known = known[span.get_indexer(origins) - window + 1]  # row i: the window ending at origin i
    incomplete = np.isnan(known).any(axis=1)
    if incomplete.any():
        month, origin = months[incomplete][0], origins[incomplete][0]
        raise BacktestError(
            f"interval of the {horizon}-month forecast of {month:%Y-%m}: needs the errors of "
            f"the {window} targets up to {origin:%Y-%m}, {int(np.isnan(known[incomplete][0]).sum())} "
            "of them are missing"
        )
    widths = np.quantile(np.abs(known), list(levels), axis=1).T
    return pd.DataFrame(widths, index=months, columns=list(levels))
