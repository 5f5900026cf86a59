"""Walk-forward evaluation: one month ahead, expanding window, refit at every month.

``walk_forward`` is generic: it hands a ``fit_predict(history, month)`` callable only the
rows strictly before ``month``. The seasonal ridge candidates are run through it, then the
adaptive choice among them is made for each month from their errors on earlier months only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from milk_forecast.contracts import MONTH, PRICE_COLUMN
from milk_forecast.model.models import CandidateSpec, build_design, fit_candidate

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
        design = build_design(
            pd.concat([history, pd.DataFrame({MONTH: [month]})], ignore_index=True)
        )
        train = (design.months >= history_start) & (design.months < month)
        train = np.asarray(train & ~design.months.isin(excluded_months))
        previous_price = float(history[PRICE_COLUMN].iloc[-1])
        out = {}
        for spec in specs:
            change = fit_candidate(design, spec, train, month).predict_log_change(
                design, slice(-1, None)
            )
            out[spec.name] = previous_price * float(np.exp(change[0]))
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


def half_width(errors: pd.Series, level: float) -> float:
    """Empirical ``level`` quantile of the absolute log errors: the interval's half-width in log."""
    if errors.isna().any() or len(errors) < 2:
        raise BacktestError(
            f"interval widths need at least 2 complete errors, got {errors.notna().sum()}"
        )
    return float(np.quantile(np.abs(errors.to_numpy()), level))


def leave_one_out_half_width(errors: pd.Series, level: float) -> pd.Series:
    """For each month: ``half_width`` of the other months' errors (its own never sizes its interval)."""
    return pd.Series(
        [half_width(errors.drop(month), level) for month in errors.index], index=errors.index
    )


def trailing_coverage(
    errors: pd.Series, months: pd.DatetimeIndex, length: int, gap: int, level: float
) -> float:
    """Share of ``months`` whose absolute log error is within the ``half_width`` of the errors
    over the ``length`` months ending ``gap`` months before it: the interval as it was shown."""
    covered = [
        abs(errors[month])
        <= half_width(errors.reindex(selection_window(month, length, gap)), level)
        for month in months
    ]
    return float(np.mean(covered))


def interval(predicted: float, half_width_log: float) -> tuple[float, float]:
    """``predicted`` times ``exp(-h)`` and ``exp(h)``: (lower, upper)."""
    return predicted * float(np.exp(-half_width_log)), predicted * float(np.exp(half_width_log))
