"""Error metrics of a forecast, keyed and in the units of ``metrics.json`` (CLP per litre)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from milk_forecast.run_folder.metrics import MAE, MAPE, MSE, R2, RMSE

ArrayLike = Sequence[float] | np.ndarray


class MetricsError(ValueError):
    """Actual and predicted values that cannot be compared (length, emptiness, NaN, zeros)."""


def _pair(actual: ArrayLike, predicted: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype="float64")
    p = np.asarray(predicted, dtype="float64")
    if a.shape != p.shape or a.ndim != 1:
        raise MetricsError(f"actual has shape {a.shape}, predicted has shape {p.shape}")
    if a.size == 0:
        raise MetricsError("no value to evaluate: actual is empty")
    for name, values in (("actual", a), ("predicted", p)):
        if missing := int((~np.isfinite(values)).sum()):
            raise MetricsError(f"{name} has {missing} non-finite value(s)")
    return a, p


def evaluate(actual: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """RMSE (``sqrt(MSE)``), MAE, MAPE (in percent of the actual value), R2 (as sklearn's
    ``r2_score``) and MSE."""
    a, p = _pair(actual, predicted)
    if (a == 0).any():
        raise MetricsError("MAPE is undefined: actual has a value of 0")
    total = float(np.sum((a - a.mean()) ** 2))
    if total == 0:
        raise MetricsError("R2 is undefined: actual is constant")
    mse = float(np.mean((a - p) ** 2))
    return {
        RMSE: float(np.sqrt(mse)),
        MAE: float(np.mean(np.abs(a - p))),
        MAPE: float(100 * np.mean(np.abs((a - p) / a))),
        R2: 1 - float(np.sum((a - p) ** 2)) / total,
        MSE: mse,
    }


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of the actual values inside ``[lower, upper]`` (bounds included)."""
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    return float(np.mean((lo <= a) & (a <= hi)))
