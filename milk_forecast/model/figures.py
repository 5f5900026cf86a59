"""The train stage's charts, shown in 04_train and saved as SVG into the run folder's
``figures/`` for the API's page, which embeds them as images (never as markup). Dates are
labelled concisely (``2020``, ``Apr``: matplotlib's ``date.converter = concise``), so the
labels of a narrow chart do not overlap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.layout import MONTH, UNIT

HISTORY_MONTHS, WIDTH = 36, 11.0  # months of prices before the path, inches
PHONE_MONTHS, PHONE_WIDTH = 12, 4.2  # the fan chart for narrow screens (FAN_CHART_PHONE_FILE)
TRACK_HORIZONS = (1, 3, 6)
BAND_ALPHA = 0.15  # per band: nested bands darken towards the centre, whatever their number
CONCISE_DATES = plt.rc_context({"date.converter": "concise"})


def axes(size: tuple[float, float], title: str, unit: str = UNIT) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    ax.set(title=title, ylabel=unit)
    ax.grid(alpha=0.3)
    return fig, ax


@CONCISE_DATES
def fan_chart(
    price: pd.Series,
    backtest: pd.DataFrame,
    path: pd.DataFrame,
    levels: Sequence[float],
    months: int = HISTORY_MONTHS,
    width: float = WIDTH,
) -> Figure:
    """The last ``months`` of prices, the one-month backtest and the path, a band per level
    (any number of levels), ``width`` inches wide; the legend, below, names every band."""
    start = path[MONTH].iloc[0] - pd.DateOffset(months=months)
    history = price[price.index >= start].dropna()
    fig, ax = axes((width, 4.5), "Milk producer price and its forecast", f"{UNIT} (without VAT)")
    ax.plot(history.index, history.to_numpy(), color="black", label="actual")
    shown = backtest[backtest[MONTH] >= start]
    for rows, color, what in [(shown, "tab:blue", "backtest"), (path, "tab:red", "forecast")]:
        ax.plot(rows[MONTH], rows[p.PREDICTED], marker=".", color=color, label=what)
        for level in sorted(levels, reverse=True):
            band = [
                rows[p.interval_column(side, level)].astype("float64")
                for side in (p.LOWER, p.UPPER)
            ]
            label = f"{what} {p.level_label(level)}% interval"
            ax.fill_between(rows[MONTH], *band, color=color, alpha=BAND_ALPHA, label=label)
    fig.legend(loc="outside lower center", fontsize=8, ncols=max(2, round(width / 2.5)))
    return fig


@CONCISE_DATES
def track_record_chart(record: pd.DataFrame, price: pd.Series) -> Figure:
    """Published forecasts (by horizon) against what happened."""
    if record.empty:  # a small, legible placeholder rather than a blank 11-inch frame
        fig, ax = plt.subplots(figsize=(5, 1))
        ax.text(0.5, 0.5, "no published forecast has met its actual price yet", ha="center",
                va="center", fontsize=11)  # fmt: skip
        ax.set_axis_off()
        return fig
    fig, ax = axes((11, 4), "Published forecasts against what happened")
    actual = price[price.index >= record[MONTH].min() - pd.DateOffset(months=3)].dropna()
    ax.plot(actual.index, actual.to_numpy(), color="black", label="actual")
    for horizon, marker in zip(TRACK_HORIZONS, ("o", "s", "^"), strict=True):
        rows = record[record[p.HORIZON] == horizon]
        if len(rows):
            label = f"published {horizon} month(s) ahead"
            ax.scatter(rows[MONTH], rows[p.PREDICTED], marker=marker, label=label)
    ax.vlines(record[MONTH], record[p.PREDICTED], record[p.ACTUAL], color="tab:gray", alpha=0.4)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def save_svg(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as SVG (creating its folder); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")
    return path
