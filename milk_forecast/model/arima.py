"""A seasonal ARIMA(p,0,q)(0,1,1)[12] with drift on the log price, fitted in milliseconds.

The yearly log change ``w(t) = log p(t) - log p(t-12)`` follows an ARMA(p, q) with a
seasonal MA(1) term and a mean (the drift):
``(1 - phi(B)) (w(t) - mu) = (1 + theta(B)) (1 + Theta B^12) e(t)``.
It is estimated by conditional sum of squares: a Hannan-Rissanen linear start, then a few
Levenberg-Marquardt steps; the residual filter runs in ``scipy.signal.lfilter``. One fit
takes about a millisecond (statsmodels' SARIMAX takes about 0.8 s), and its forecasts are
within 0.2 CLP/L of the fully converged CSS optimum at 12 months on the real data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import numpy as np
from scipy.signal import lfilter

from milk_forecast.model.forecaster import Forecaster
from milk_forecast.model.history import SEASON, History

_ONE = np.ones(1)
# Months of yearly changes needed before a fit: the long AR of the start, a year, three years.
MIN_MONTHS = 24 + SEASON + 36
# A forecast farther than this from the last log price (a factor e^2) is a diverged fit.
MAX_LOG_DISTANCE = 2.0


def ma_polynomial(theta: np.ndarray, big_theta: float) -> np.ndarray:
    """Coefficients of ``(1 + theta(B)) (1 + big_theta B^12)``, lag 0 first."""
    seasonal = np.zeros(SEASON + 1)
    seasonal[0], seasonal[SEASON] = 1.0, big_theta
    return np.convolve(np.concatenate([_ONE, theta]), seasonal)


def residuals(par: np.ndarray, w: np.ndarray, p: int, q: int) -> np.ndarray:
    """Conditional residuals of ``w`` for ``par = [mu, phi_1..p, theta_1..q, Theta]``."""
    centred = w - par[0]
    a = centred[p:].copy()
    for i in range(1, p + 1):
        a -= par[i] * centred[p - i : len(centred) - i]
    return lfilter(_ONE, ma_polynomial(par[1 + p : 1 + p + q], par[1 + p + q]), a)


def hannan_rissanen(w: np.ndarray, p: int, q: int, long_ar: int = 24) -> np.ndarray:
    """Starting values: residuals of a long AR, then least squares on lags and residuals."""
    n = len(w)
    t1 = np.arange(long_ar, n)
    x1 = np.column_stack([w[t1 - i] for i in range(1, long_ar + 1)] + [np.ones(len(t1))])
    e = np.zeros(n)
    e[t1] = w[t1] - x1 @ np.linalg.lstsq(x1, w[t1], rcond=None)[0]
    t = np.arange(long_ar + SEASON + 1, n)
    columns = [w[t - i] for i in range(1, p + 1)] + [e[t - j] for j in range(1, q + 1)]
    columns += [e[t - SEASON], np.ones(len(t))]
    c = np.linalg.lstsq(np.column_stack(columns), w[t], rcond=None)[0]
    phi = c[:p]
    mu = c[-1] / (1 - phi.sum()) if abs(1 - phi.sum()) > 0.02 else float(w.mean())
    return np.r_[mu, phi, np.clip(c[p : p + q], -0.95, 0.95), np.clip(c[p + q], -0.95, 0.95)]


def levenberg_marquardt(
    residual: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, iterations: int
) -> np.ndarray:
    """A few damped Gauss-Newton steps on a sum of squares, forward-difference Jacobian."""
    x, r = x0.copy(), residual(x0)
    f, lam = float(r @ r), 1e-3
    for _ in range(iterations):
        jac = np.empty((len(r), len(x)))
        for j in range(len(x)):
            step = 1e-6 * max(1.0, abs(x[j]))
            xj = x.copy()
            xj[j] += step
            jac[:, j] = (residual(xj) - r) / step
        a, g = jac.T @ jac, jac.T @ r
        while lam < 1e8:
            xn = x + np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-12), -g)
            rn = residual(xn)
            fn = float(rn @ rn) if np.isfinite(rn).all() else np.inf
            if fn < f:
                x, r, f, lam = xn, rn, fn, max(lam / 3, 1e-9)
                break
            lam *= 4
        else:
            break
    return x


@dataclass(eq=False, repr=False)
class Arima(Forecaster):
    """ARIMA(p,0,q)(0,1,1)[12] with drift on the log price, ``iterations`` LM steps."""

    family = "seasonal ARIMA"
    p: int = 1
    q: int = 1
    iterations: int = 2

    @property
    def name(self) -> str:
        return f"arima({self.p},0,{self.q})(0,1,1)[12]+drift"

    def fit(self, history: History) -> Self:
        """Conditional sum of squares from ``history_start`` (a year before it for the
        first yearly change); ``params_`` None when too short or diverged."""
        self.log_price_ = history.log_price[max(history.start, SEASON) - SEASON :]
        w = self.log_price_[SEASON:] - self.log_price_[:-SEASON]
        p, q = self.p, self.q
        self.params_ = None
        if len(w) >= MIN_MONTHS:
            start = hannan_rissanen(w, p, q)
            par = levenberg_marquardt(
                lambda x: residuals(x, w, p, q)[SEASON:], start, self.iterations
            )
            self.params_ = par if np.isfinite(par).all() else None
        self.history_ = history
        return self

    def predict(self, horizon: int) -> np.ndarray:
        """Log-price forecasts; all NaN without a fit or when the path diverges."""
        nothing = np.full(horizon, np.nan)
        if self.params_ is None:
            return nothing
        par, p, q, log_price = self.params_, self.p, self.q, self.log_price_
        w = log_price[SEASON:] - log_price[:-SEASON]
        mu, phi = par[0], par[1 : 1 + p]
        ma = ma_polynomial(par[1 + p : 1 + p + q], par[1 + p + q])
        shocks = list(np.concatenate([np.zeros(p), residuals(par, w, p, q)]))
        centred = list(w - mu)
        path = list(log_price[-SEASON:])
        for _ in range(horizon):
            step = sum(phi[i] * centred[-1 - i] for i in range(p))
            step += sum(ma[j] * shocks[-j] for j in range(1, len(ma)))
            centred.append(step)
            shocks.append(0.0)
            path.append(path[-SEASON] + step + mu)
        out = np.array(path[SEASON:])
        if not np.isfinite(out).all() or np.abs(out - log_price[-1]).max() > MAX_LOG_DISTANCE:
            return nothing
        return out
