"""The train stage's charts, drawn from tiny frames: any number of interval levels, every
band named, date labels that do not overlap (wide and phone-sized), the SVG written."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from milk_forecast.model import figures
from milk_forecast.run_folder.predictions import interval_column, level_label

NINE = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MONTHS = pd.date_range("2014-01-01", "2020-04-01", freq="MS")
PRICE = pd.Series(200 + 30 * np.sin(np.arange(len(MONTHS)) / 2), index=MONTHS)


def forecasts(months: pd.DatetimeIndex, levels: tuple[float, ...]) -> pd.DataFrame:
    frame = pd.DataFrame({"month": months, "predicted_clp_per_l": 250.0})
    for k, level in enumerate(sorted(levels), 1):
        frame[interval_column("lower", level)] = 250.0 - k
        frame[interval_column("upper", level)] = 250.0 + k
    return frame


def fan(levels: tuple[float, ...], **size: float) -> Figure:
    backtest = forecasts(MONTHS[-24:], levels)
    path = forecasts(pd.date_range("2020-05-01", periods=12, freq="MS"), levels)
    return figures.fan_chart(PRICE, backtest, path, levels, **size)


def track_record() -> Figure:
    record = pd.DataFrame(
        {
            "month": MONTHS[-8:],
            "horizon": [1, 3, 6, 1, 3, 6, 1, 1],
            "predicted_clp_per_l": 240.0,
            "actual_clp_per_l": PRICE.iloc[-8:].to_numpy(),
        }
    )
    return figures.track_record_chart(record, PRICE)


@pytest.mark.parametrize("levels", [(0.8,), (0.8, 0.95), NINE, (*NINE, 0.95, 0.99)])
def test_any_number_of_levels_draws_a_band_each_named_in_the_legend(levels) -> None:
    fig = fan(levels)
    bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2 * len(levels)  # the backtest's and the path's
    names = {text.get_text() for text in fig.legends[0].get_texts()}
    for what in ("backtest", "forecast"):
        assert {f"{what} {level_label(level)}% interval" for level in levels} <= names
    plt.close(fig)


def overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Neighbouring date labels of ``fig`` whose boxes overlap, as drawn."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in fig.axes[0].get_xticklabels() if t.get_visible() and t.get_text()]
    boxes = sorted((tuple(t.get_window_extent(renderer).extents), t.get_text()) for t in labels)
    return [(a, b) for (x, a), (y, b) in itertools.pairwise(boxes) if x[2] > y[0]]


@pytest.mark.parametrize(
    "draw",
    [
        lambda: fan((0.8, 0.95)),
        lambda: fan((0.8, 0.95), months=figures.PHONE_MONTHS, width=figures.PHONE_WIDTH),
        lambda: fan((0.8,), months=120, width=figures.PHONE_WIDTH),  # ten years, narrow
        track_record,
    ],
    ids=["fan", "phone", "ten-years-narrow", "track-record"],
)
def test_date_labels_do_not_overlap(draw) -> None:
    fig = draw()
    assert len(fig.axes[0].get_xticklabels()) >= 3
    assert overlaps(fig) == []
    plt.close(fig)


def test_the_phone_chart_shows_the_last_months_and_the_whole_path() -> None:
    fig = fan((0.8, 0.95), months=figures.PHONE_MONTHS, width=figures.PHONE_WIDTH)
    left, right = (mdates.num2date(x).replace(tzinfo=None) for x in fig.axes[0].get_xlim())
    assert pd.Timestamp("2019-03-01") <= left <= pd.Timestamp("2019-05-01")
    assert right >= pd.Timestamp("2021-04-01")
    assert fig.get_figwidth() == figures.PHONE_WIDTH
    plt.close(fig)


def test_save_svg_writes_an_svg_into_a_new_folder(tmp_path: Path) -> None:
    fig = track_record()
    path = figures.save_svg(fig, tmp_path / "figures" / "track_record.svg")
    assert path.read_bytes().lstrip().startswith(b"<?xml")
    plt.close(fig)
