"""The train stage's charts, shown in 04_train and saved as SVG into the run folder's
``figures/`` for the API's page, which embeds them as images (never as markup)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from milk_forecast.run_folder.layout import MONTH, UNIT
from milk_forecast.run_folder.predictions import (
    ACTUAL,
    HORIZON,
    LOWER,
    PREDICTED,
    UPPER,
    interval_column,
    level_label,
)

HISTORY_MONTHS = 36
TRACK_HORIZONS = (1, 3, 6)


def fan_chart(
    price: pd.Series, backtest: pd.DataFrame, path: pd.DataFrame, levels: Sequence[float]
) -> Figure:
    """The last three years of prices, the one-month backtest and the path, a band per level."""
    start = path[MONTH].iloc[0] - pd.DateOffset(months=HISTORY_MONTHS)
    history = price[price.index >= start].dropna()
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(history.index, history.to_numpy(), color="black", label="actual")
    shown = backtest[backtest[MONTH] >= start]
    for rows, color, label in [
        (shown, "tab:blue", "backtest, 1 month ahead"),
        (path, "tab:red", "forecast path"),
    ]:
        ax.plot(rows[MONTH], rows[PREDICTED], marker=".", color=color, label=label)
        for shade, level in enumerate(sorted(levels, reverse=True)):
            lower, upper = interval_column(LOWER, level), interval_column(UPPER, level)
            ax.fill_between(
                rows[MONTH],
                rows[lower].astype("float64"),
                rows[upper].astype("float64"),
                color=color,
                alpha=0.12 * (shade + 1),
                label=f"{level_label(level)}% interval" if color == "tab:red" else None,
            )
    ax.set_ylabel(f"{UNIT} (nominal, without VAT)")
    ax.set_title("Milk producer price: the last 3 years, the backtest and the 12-month path")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def track_record_chart(record: pd.DataFrame, price: pd.Series) -> Figure:
    """Published forecasts (by horizon) against what happened."""
    if record.empty:  # a small, legible placeholder rather than a blank 11-inch frame
        fig, ax = plt.subplots(figsize=(5, 1))
        ax.text(0.5, 0.5, "no published forecast has met its actual price yet", ha="center",
                va="center", fontsize=11)  # fmt: skip
        ax.set_axis_off()
        return fig
    fig, ax = plt.subplots(figsize=(11, 4))
    start = record[MONTH].min() - pd.DateOffset(months=3)
    actual = price[price.index >= start].dropna()
    ax.plot(actual.index, actual.to_numpy(), color="black", label="actual")
    for horizon, marker in zip(TRACK_HORIZONS, ("o", "s", "^"), strict=True):
        rows = record[record[HORIZON] == horizon]
        if len(rows):
            ax.scatter(
                rows[MONTH],
                rows[PREDICTED],
                marker=marker,
                label=f"published {horizon} month(s) ahead",
            )
    ax.vlines(record[MONTH], record[PREDICTED], record[ACTUAL], color="tab:gray", alpha=0.4)
    ax.set_ylabel(UNIT)
    ax.set_title("Published forecasts against what happened")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_svg(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as SVG (creating its folder); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg")
    return path
