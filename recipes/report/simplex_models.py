"""The mixture models behind recipes/report/simplex.py: the score scales, the candidate models
on the simplex, their leave-one-configuration-out predictions, and the candidate grid.

Every model is fitted on the score's `scale` (logit of clipped rates, log of losses), so a fit
mapped back cannot leave the metric's bounds. Scheffé and log-ratio are least squares, hence
linear smoothers: the fits of all B bootstrap replicates are one matrix product. Gradient
boosting is fitted once per replicate, so its replicates are capped (GBT_RESAMPLES).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from math import comb

import numpy as np

from codemix.recipes.report.curve import EPS, expit, logit

SCALES = ("logit", "log", "identity")
# Shares are floored at half a percent before a log-ratio: the median smallest share in a 64-cell
# Dirichlet(1) design of 3 domains is 0.0018 (0.0001 in 1 design of 20), whose log-ratio -6.3
# would sit 0.9 beyond the floor's -5.3 and, as the most extreme point, steer a least-squares
# slope alone. A trace and an absence of a domain read the same at the floor, which one sweep
# cannot tell apart anyway; the floor also bounds the model at the simplex's edges.
LOGRATIO_FLOOR = 0.005
# Small on purpose: 24-64 configurations support little more; depth 2 lets two shares interact.
# 50 trees at learning rate 0.2 rather than 100 at 0.1: on 6 synthetic sweeps of 40 mixtures
# (tests' Gaussian bump, 300 problems) their LOO RMSE is 6.50 against 6.33 points of pass@1, at
# 0.59 of the time, and gbt's refits are what decide `codemix report`'s time on a mixture sweep.
GBT_PARAMS = {"n_estimators": 50, "max_depth": 2, "learning_rate": 0.2}  # random_state: fit_mixture's seed
# 4 leaves per tree need a couple of points each, and two more to cross-validate.
GBT_MIN_CONFIGS = 10
# One gbt fit on 64 configurations with predictions at 2,000 candidates takes ~10 ms on a free
# core: the fitted part of gbt's region comes from the first 100 replicates (95 optima at 95%)
# so that 3 benchmarks and the average take ~6 s, not ~120 s at 2,000; the measured
# neighbourhood still uses every replicate.
GBT_RESAMPLES = 100
GBT_THREADS = 4  # at most; the machine's cores otherwise
LOSS_FLOOR = 1e-12  # a loss of exactly 0 still has a finite log


def to_scale(values: np.ndarray, scale: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if scale == "logit":
        return logit(v)
    if scale == "log":
        return np.log(np.maximum(v, LOSS_FLOOR))
    return v


def from_scale(z: np.ndarray, scale: str) -> np.ndarray:
    if scale == "logit":
        return expit(z)
    if scale == "log":
        return np.exp(z)
    return np.asarray(z, dtype=np.float64)


def n_params(model: str, k: int) -> int | None:
    if model == "scheffe":
        return k + k * (k - 1) // 2
    if model == "logratio":
        return k  # intercept + k-1 additive log-ratios
    return None


def min_configs(model: str, k: int) -> int:
    """Configurations a model needs: its parameters plus two, so that leaving one out still
    leaves a point beyond an exact fit (as curve.py asks of its polynomials)."""
    p = n_params(model, k)
    return GBT_MIN_CONFIGS if p is None else p + 2


def features(model: str, shares: np.ndarray) -> np.ndarray:
    """(N, p) design matrix of a linear model at the shares (N, k)."""
    x = np.asarray(shares, dtype=np.float64)
    if model == "scheffe":  # no intercept: sum_i x_i = 1 already spans it
        pairs = [x[:, i] * x[:, j] for i, j in itertools.combinations(range(x.shape[1]), 2)]
        return np.column_stack([x, *pairs])
    if model == "logratio":
        logs = np.log(np.maximum(x, LOGRATIO_FLOOR))
        return np.column_stack([np.ones(len(x)), logs[:, :-1] - logs[:, -1:]])
    raise ValueError(f"{model} is not a linear model")


def _gbt_predict(train: np.ndarray, z: np.ndarray, at: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import GradientBoostingRegressor

    return GradientBoostingRegressor(**GBT_PARAMS, random_state=seed).fit(train, z).predict(at)


def predict_many(model: str, train: np.ndarray, zs: np.ndarray, at: np.ndarray, seed: int = 0) -> np.ndarray:
    """(B, N) fits of the model to each row of zs (B, C) (on the scale), evaluated at `at` (N, k)."""
    zs = np.atleast_2d(np.asarray(zs, dtype=np.float64))
    if model == "gbt":
        if len(zs) == 1:
            return _gbt_predict(train, zs[0], at, seed)[None]
        # sklearn builds trees without the GIL: 2 threads fit 40 replicates in 0.85 s instead of
        # 1.6 s on 2 busy cores (100 trees, 24 mixtures, 2,000 candidates)
        with ThreadPoolExecutor(max_workers=min(GBT_THREADS, os.cpu_count() or 1)) as pool:
            return np.vstack(list(pool.map(lambda z: _gbt_predict(train, z, at, seed), zs)))
    coefficients = zs @ np.linalg.pinv(features(model, train)).T  # (B, p): least squares of every row at once
    return coefficients @ features(model, at).T


def coefficients(model: str, train: np.ndarray, z: np.ndarray) -> list[float]:
    if model == "gbt":
        return []
    return [float(c) for c in np.linalg.pinv(features(model, train)) @ np.asarray(z, dtype=np.float64)]


def loo_predictions(model: str, train: np.ndarray, z: np.ndarray, seed: int = 0) -> np.ndarray:
    """(C,) each configuration's value predicted from all the others (on the scale)."""
    def left_out(j: int) -> float:
        rest = np.delete(np.arange(len(train)), j)
        return float(predict_many(model, train[rest], z[rest][None], train[j:j + 1], seed)[0, 0])

    if model != "gbt":
        return np.array([left_out(j) for j in range(len(train))])
    with ThreadPoolExecutor(max_workers=min(GBT_THREADS, os.cpu_count() or 1)) as pool:
        return np.array(list(pool.map(left_out, range(len(train)))))


def lattice(k: int, m: int) -> np.ndarray:
    """Every point with shares i/m (stars and bars), (comb(m+k-1, k-1), k)."""
    bars = np.array(list(itertools.combinations(range(m + k - 1), k - 1)), dtype=np.int64).reshape(-1, k - 1)
    edges = np.column_stack([np.full(len(bars), -1), bars, np.full(len(bars), m + k - 1)])
    return (np.diff(edges, axis=1) - 1) / m


def simplex_grid(k: int, n: int) -> np.ndarray:
    """About n (at most n, at least k) candidate points on the simplex of k shares: the finest
    {k, m} lattice with at most n points for k <= 4 (k=3, n=2,000: steps of 1/61), else the k
    vertices plus seeded uniform Dirichlet draws (a lattice of 5 shares in 2,000 points has steps
    of 1/11 only)."""
    if k < 2:
        raise ValueError(f"a mixture needs at least 2 shares, got {k}")
    if k <= 4:
        m = 1
        while comb(m + 1 + k - 1, k - 1) <= n:
            m += 1
        return lattice(k, m)
    draws = np.random.default_rng(0).dirichlet(np.ones(k), max(n - k, 0))
    return np.vstack([np.eye(k), draws])


__all__ = ["EPS", "SCALES", "from_scale", "to_scale", "features", "predict_many", "loo_predictions",
           "simplex_grid", "min_configs", "n_params", "coefficients", "lattice"]
