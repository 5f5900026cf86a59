from __future__ import annotations

import numpy as np
import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_TOTAL_COLUMN
from milk_forecast.model import arima
from milk_forecast.model.history import History
from milk_forecast.run_folder.layout import MONTH


def simulated_log_price(n: int = 360, phi: float = 0.6, seasonal_ma: float = -0.5) -> np.ndarray:
    """log p with yearly changes w(t) = mu + phi (w(t-1) - mu) + e(t) + Theta e(t-12)."""
    rng = np.random.default_rng(11)
    e = 0.01 * rng.standard_normal(n)
    w = np.zeros(n)
    for t in range(13, n):
        w[t] = 0.03 + phi * (w[t - 1] - 0.03) + e[t] + seasonal_ma * e[t - 12]
    season = 0.05 * np.sin(2 * np.pi * np.arange(n) / 12)
    log_price = np.zeros(n)
    log_price[:12] = 4 + season[:12]
    for t in range(12, n):
        log_price[t] = log_price[t - 12] + w[t]
    return log_price


def history_of(log_price: np.ndarray) -> History:
    months = pd.date_range("1990-01", periods=len(log_price), freq="MS")
    frame = pd.DataFrame(
        {MONTH: months, PRICE_COLUMN: np.exp(log_price), RAIN_TOTAL_COLUMN: np.nan}
    )
    return History.from_table(frame, "1990-01")


def test_fit_recovers_the_parameters_of_a_simulated_series():
    log_price = simulated_log_price()
    model = arima.Arima(1, 0, iterations=20).fit(history_of(log_price))
    mu, phi, big_theta = model.params_
    assert abs(mu - 0.03) < 0.01 and abs(phi - 0.6) < 0.15 and abs(big_theta + 0.5) < 0.2
    path = model.predict(12)
    assert np.isfinite(path).all()
    assert abs((path[-1] - log_price[-1]) - 0.03) < 0.05  # far ahead: the drift


def test_residuals_are_the_shocks_of_the_model():
    rng = np.random.default_rng(5)
    shocks = rng.standard_normal(200)
    w = shocks.copy()
    w[12:] += 0.4 * shocks[:-12]  # a pure seasonal MA(1) with Theta = 0.4
    par = np.array([0.0, 0.4])  # mu, Theta (p = q = 0)
    np.testing.assert_allclose(arima.residuals(par, w, 0, 0)[12:], shocks[12:], atol=1e-9)


def test_a_short_series_gives_no_forecast():
    model = arima.Arima(2, 1).fit(history_of(np.linspace(4, 5, 60)))
    assert model.params_ is None and np.isnan(model.predict(12)).all()
