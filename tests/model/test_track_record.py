"""Scoring the published forecasts, their summary and the drift warning, on tiny frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milk_forecast.model import track_record as tr

LEVELS = (0.8,)


def month(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"{text}-01")


def published(rows: list[tuple[str, str, str, str, int, float, float]]) -> pd.DataFrame:
    """(run_id, published_at, origin, month, horizon, predicted, half_width)."""
    return pd.DataFrame(
        [
            {
                tr.RUN_ID: run,
                tr.PUBLISHED_AT: at,
                tr.ORIGIN: month(origin),
                "month": month(target),
                "horizon": horizon,
                "predicted_clp_per_l": predicted,
                "lower_80_clp_per_l": predicted - half,
                "upper_80_clp_per_l": predicted + half,
            }
            for run, at, origin, target, horizon, predicted, half in rows
        ]
    )


PRICE = pd.Series(
    [100.0, 110.0, 120.0],
    index=pd.DatetimeIndex([month(m) for m in ("2020-01", "2020-02", "2020-03")]),
)


def test_scores_equal_actual_minus_published_forecast() -> None:
    record = tr.score(
        published(
            [
                ("A", "t1", "2020-01", "2020-02", 1, 105.0, 3.0),
                ("A", "t1", "2020-01", "2020-03", 2, 118.0, 5.0),
            ]
        ),
        PRICE,
        LEVELS,
    )
    assert record["error_clp_per_l"].tolist() == [5.0, 2.0]
    assert record["in_80"].tolist() == [False, True]
    assert record["actual_clp_per_l"].tolist() == [110.0, 120.0]


def test_runs_with_the_same_origin_count_once_the_last_published() -> None:
    record = tr.score(
        published(
            [
                ("B", "t2", "2020-01", "2020-02", 1, 109.0, 3.0),
                ("A", "t1", "2020-01", "2020-02", 1, 90.0, 3.0),
            ]
        ),
        PRICE,
        LEVELS,
    )
    assert record["run_id"].tolist() == ["B"]


def test_months_without_a_known_price_are_not_scored() -> None:
    record = tr.score(published([("A", "t1", "2020-03", "2020-04", 1, 125.0, 3.0)]), PRICE, LEVELS)
    assert record.empty
    assert "in_80" in record.columns


def test_summary_per_horizon() -> None:
    record = tr.score(
        published(
            [
                ("A", "t1", "2020-01", "2020-02", 1, 106.0, 3.0),
                ("B", "t2", "2020-02", "2020-03", 1, 118.0, 3.0),
            ]
        ),
        PRICE,
        LEVELS,
    )
    summary = tr.summarize(record, LEVELS)
    assert summary["1"]["count"] == 2
    assert summary["1"]["rmse_clp_per_l"] == pytest.approx(np.sqrt((16 + 4) / 2))
    assert summary["1"]["mae_clp_per_l"] == pytest.approx(3.0)
    assert summary["1"]["inside"]["80"] == pytest.approx(0.5)


def one_month_record(errors: list[float], inside: list[bool]) -> pd.DataFrame:
    origins = pd.date_range("2019-01-01", periods=len(errors), freq="MS")
    return pd.DataFrame({tr.ORIGIN: origins, "horizon": 1, tr.ERROR: errors, "in_80": inside})


def test_drift_is_quiet_when_errors_are_as_promised() -> None:
    rng = np.random.default_rng(1)
    errors = list(rng.normal(0, 5.0, 6))
    status = tr.drift_status(one_month_record(errors, [True] * 5 + [False]), 5.0, LEVELS)
    assert status["status"] == "ok" and status["reasons"] == []


def test_drift_warns_on_errors_beyond_chance() -> None:
    status = tr.drift_status(
        one_month_record([12.0, -11.0, 10.0, -12.0, 11.0, 9.0], [True] * 6), 5.0, LEVELS
    )
    assert status["status"] == "warning"
    assert "above" in status["reasons"][0]
    assert status["rmse_limit_clp_per_l"] == pytest.approx(5.0 * 1.449, abs=0.01)


def test_drift_warns_on_too_many_interval_misses() -> None:
    status = tr.drift_status(
        one_month_record([1.0] * 6, [False, False, False, False, True, True]), 5.0, LEVELS
    )
    assert status["status"] == "warning"
    assert "missed 4 of the last 6" in status["reasons"][0]
    three = tr.drift_status(
        one_month_record([1.0] * 6, [False, False, False, True, True, True]), 5.0, LEVELS
    )
    assert three["status"] == "ok"  # 3 misses of 6 happen by chance about 1 time in 10


def test_drift_needs_a_full_window() -> None:
    status = tr.drift_status(one_month_record([30.0] * 5, [False] * 5), 5.0, LEVELS)
    assert status["status"] == "not_enough_history"
