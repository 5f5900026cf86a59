"""Error metrics of a forecast, in the units of ``metrics.json`` (CLP per litre).

RMSE is always reported as ``sqrt(MSE)``; MAPE is in percent of the actual value.
"""

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
        if not np.isfinite(values).all():
            raise MetricsError(
                f"{name} has {int((~np.isfinite(values)).sum())} non-finite value(s)"
            )
    return a, p


def mse(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean squared error."""
    a, p = _pair(actual, predicted)
    return float(np.mean((a - p) ** 2))


def rmse(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Root mean squared error: ``sqrt(mse)``."""
    return float(np.sqrt(mse(actual, predicted)))


def mae(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute error."""
    a, p = _pair(actual, predicted)
    return float(np.mean(np.abs(a - p)))


def mape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute percentage error, in percent of the actual value."""
    a, p = _pair(actual, predicted)
    if (a == 0).any():
        raise MetricsError("MAPE is undefined: actual has a value of 0")
    return float(100 * np.mean(np.abs((a - p) / a)))


def r2(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Coefficient of determination, ``1 - SSE / SST`` (as sklearn's ``r2_score``)."""
    a, p = _pair(actual, predicted)
    total = float(np.sum((a - a.mean()) ** 2))
    if total == 0:
        raise MetricsError("R2 is undefined: actual is constant")
    return 1 - float(np.sum((a - p) ** 2)) / total


def evaluate(actual: ArrayLike, predicted: ArrayLike) -> dict[str, float]:
    """All metrics, keyed as in ``metrics.json``."""
    return {
        RMSE: rmse(actual, predicted),
        MAE: mae(actual, predicted),
        MAPE: mape(actual, predicted),
        R2: r2(actual, predicted),
        MSE: mse(actual, predicted),
    }


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of the actual values inside ``[lower, upper]`` (bounds included)."""
    a, lo = _pair(actual, lower)
    _, hi = _pair(actual, upper)
    return float(np.mean((lo <= a) & (a <= hi)))
