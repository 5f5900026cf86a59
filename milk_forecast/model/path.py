"""The served forecasts by horizon and their intervals, sized in time order.

One month ahead is served by the one-step adaptive seasonal ridge (``training.py``); two to
twelve months ahead by the combination of path candidates (``combination.py``). Every
interval, in the backtest, the calibration and the live path alike, is
``predicted * exp(+-q)``, q the level-quantile of the absolute log errors of *the model
serving that horizon*, at that horizon, over its last ``interval_window`` forecasts whose
target is at or before the forecast's origin (``backtest.time_ordered_half_widths``),
raised where needed to the largest q of the shorter horizons from the same origin, so the
interval widens with the horizon (the issue asks for it; without it a quarter of the
six-month intervals were narrower than an earlier month's). That rule (window 36, plain
quantile) was chosen on origins 2008-2013, before the calibration window, among windows of
24, 36 and 48 months with the plain or the conformal quantile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milk_forecast.model import backtest as bt
from milk_forecast.model import combination as cb
from milk_forecast.model.horizon import HorizonConfig, default_candidates, series_data
from milk_forecast.model.params import TrainParams
from milk_forecast.model.windows import Windows, shift
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.metrics import CALIBRATED_HORIZONS
from milk_forecast.run_folder.predictions import (
    ACTUAL,
    FORECAST,
    FORECAST_HORIZON,
    HORIZON,
    KIND,
    LOWER,
    MODEL,
    PREDICTED,
    REASON,
    UPPER,
    interval_column,
)

CALIBRATION_METHOD = (
    "each origin's interval at horizon h is predicted * exp(+-q), q the level-quantile of the "
    "absolute log errors of the model serving h (h=1: the adaptive seasonal ridge, h>=2: the "
    "horizon combination) over its last {window} forecasts at h whose target is at or before "
    "the origin: the interval a user saw then; q never falls below that of a shorter horizon "
    "from the same origin, so intervals widen with the horizon. The rule was chosen once, on "
    "origins 2008-2013 of the real data (windows 24/36/48, plain or conformal quantile)"
)


def horizon_config(params: TrainParams) -> HorizonConfig:
    """The path models' settings from the train stage's parameters."""
    return HorizonConfig(
        history_start=params.history_start,
        candidates=default_candidates(params.ridge_alpha),
        weight_window=params.combination_window,
        weight_power=params.combination_power,
    )


def run_track(monthly: pd.DataFrame, w: Windows, params: TrainParams) -> cb.Track:
    """The path candidates and their combination from the first origin the backtest, the
    calibration and their intervals need, to the last observed month."""
    data = series_data(monthly)
    first = data.position(min(w.calibration[0], w.origins[0]))
    return cb.track(data, first, data.last, horizon_config(params), error_window=w.interval_window)


def bounds(predicted: pd.Series, widths: pd.DataFrame) -> pd.DataFrame:
    """The interval columns of each level (``widths``: log half-widths, one column a level)."""
    columns = {}
    for level in widths.columns:
        columns[interval_column(LOWER, level)] = predicted * np.exp(-widths[level])
        columns[interval_column(UPPER, level)] = predicted * np.exp(widths[level])
    return pd.DataFrame(columns, index=predicted.index)


@dataclass(frozen=True)
class Served:
    """The forecasts served at each horizon: ``one_step`` (CLP/L, by target month) at one
    month, the combination of ``track`` beyond; ``price`` the observed price by month."""

    one_step: pd.Series
    track: cb.Track
    price: pd.Series

    def predicted(self, h: int, months: pd.DatetimeIndex) -> pd.Series:
        """Forecasts of ``months`` made ``h`` months before each (CLP/L)."""
        if h == 1:
            return self.one_step.reindex(months).astype("float64")
        data = self.track.data
        values = [np.exp(self.track.log_forecast(data.position(shift(m, -h)), h)) for m in months]
        return pd.Series(values, index=months, dtype="float64")

    def errors(self, h: int) -> pd.Series:
        """Log errors of the forecasts at horizon ``h``, by target month."""
        if h == 1:
            return bt.log_errors(self.price, self.one_step)
        return self.track.errors(h)

    def half_widths(
        self, origins: pd.DatetimeIndex, horizons: int, levels: Sequence[float], window: int
    ) -> np.ndarray:
        """Log half-widths of the forecasts from ``origins`` at horizons 1..``horizons``,
        shape (horizons, origins, levels): at each origin the largest of the horizons' own
        quantiles up to h (each from errors known at that origin), so a path's interval
        never narrows, in relative terms, as the horizon grows."""
        own = [
            bt.time_ordered_half_widths(
                self.errors(h), h, window, levels, origins + pd.DateOffset(months=h)
            ).to_numpy()
            for h in range(1, horizons + 1)
        ]
        return np.maximum.accumulate(np.stack(own), axis=0)

    def rows(
        self,
        origins: pd.DatetimeIndex,
        horizons: Sequence[int],
        levels: Sequence[float],
        window: int,
    ) -> pd.DataFrame:
        """Origin, month, horizon, actual, prediction and interval bounds of the forecasts
        from ``origins`` at each of ``horizons`` (horizon by horizon, in the order given),
        each interval from errors known at its origin."""
        widths = self.half_widths(origins, max(horizons), levels, window)
        frames = []
        for h in horizons:
            months = origins + pd.DateOffset(months=h)
            predicted = self.predicted(h, months)
            frame = pd.DataFrame(
                {
                    cb.ORIGIN: origins,
                    MONTH: months,
                    HORIZON: h,
                    ACTUAL: self.price.reindex(months).to_numpy(),
                    PREDICTED: predicted.to_numpy(),
                }
            )
            half = pd.DataFrame(widths[h - 1], index=months, columns=list(levels))
            frames.append(
                pd.concat([frame, bounds(predicted, half).reset_index(drop=True)], axis=1)
            )
        return pd.concat(frames, ignore_index=True)


def calibration_rows(served: Served, w: Windows, levels: Sequence[float]) -> pd.DataFrame:
    """Forecasts from every calibration origin at the calibrated horizons whose target is
    observed, with the intervals shown then."""
    rows = served.rows(w.calibration, CALIBRATED_HORIZONS, levels, w.interval_window)
    return rows[rows[MONTH] <= w.last].reset_index(drop=True)


def forecast_path(
    served: Served, w: Windows, levels: Sequence[float], model: str, reason: str
) -> pd.DataFrame:
    """The FORECAST_HORIZON months after the last observed price: prediction, interval,
    model and reason per horizon (``model``/``reason``: those of the one-step forecast)."""
    horizons = range(1, FORECAST_HORIZON + 1)
    rows = served.rows(pd.DatetimeIndex([w.last]), horizons, levels, w.interval_window)
    path = rows.drop(columns=cb.ORIGIN).assign(**{KIND: FORECAST})
    data = served.track.data
    described = cb.path_rows(served.track, data.last, range(2, FORECAST_HORIZON + 1))
    described = pd.concat(
        [pd.DataFrame({HORIZON: [1], MODEL: [model], REASON: [reason]}), described]
    )
    return path.merge(described[[HORIZON, MODEL, REASON]], on=HORIZON, validate="one_to_one")
