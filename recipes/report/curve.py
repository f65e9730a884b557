"""The best value along a numeric swept axis (e.g. mix.general_fraction), with a CI, and which
grid points to run next to narrow it.

Model: a polynomial least-squares fit of the score against the axis, quadratic by default (the
paper's curve rises to ~10% general data and falls by 25%: one maximum, which a quadratic
has and nothing more; `cubic` allows asymmetry but needs >= 5 grid points to be more than an
interpolation). The fit is linear in its coefficients, so fitting all B bootstrap replicates is
one matrix product: coefficients = replicates @ pinv(V).T, with V the Vandermonde matrix of the
grid (x standardised to [-1, 1] for conditioning). The maximum is located on a dense grid of
401 points over the observed range, so it is restricted to the range the sweep covered (a fit
does not extrapolate); the share of replicates whose maximum sits on an edge is reported,
because then the interval is bounded by the grid, not by the data.

`suggest`: the next K points, chosen greedily by the c-optimal design criterion for the
location of the maximum: the delta-method variance g' I^-1 g of x* = argmax f(x; beta), with
I = V' diag(1/var_c) V the information of the current grid (var_c: each point's bootstrap
variance) plus a candidate point with the median variance, and g = d x*/d beta by implicit
differentiation of f'(x*) = 0. When the fitted curve has no interior maximum the location has
no derivative; then the criterion is the A-optimal one (trace of I^-1: narrow the whole curve).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codemix.recipes.report.stats import DEFAULT_LEVEL

FITS = {"quadratic": 2, "cubic": 3}  # name -> polynomial degree
GRID_POINTS = 401


@dataclass
class BestLocation:
    fit: str
    x: np.ndarray  # the configurations' axis values
    best: float  # argmax of the fit to the point estimates
    ci: tuple[float, float]
    edge_share: float  # share of replicates whose maximum is at the edge of the range
    coefficients: list[float]  # of the fit to the point estimates, in powers of the raw axis value
    curve_x: np.ndarray = field(repr=False)
    curve_y: np.ndarray = field(repr=False)
    resamples: int = 0
    level: float = DEFAULT_LEVEL


class _Design:
    def __init__(self, x: np.ndarray, degree: int):
        self.lo, self.hi = float(x.min()), float(x.max())
        self.mid, self.half = (self.lo + self.hi) / 2, (self.hi - self.lo) / 2 or 1.0
        self.degree = degree

    def t(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mid) / self.half

    def matrix(self, x: np.ndarray) -> np.ndarray:
        return np.vander(self.t(x), self.degree + 1, increasing=True)

    def raw_coefficients(self, beta: np.ndarray) -> list[float]:
        """beta in powers of t = (x - mid)/half -> coefficients in powers of x."""
        poly = np.polynomial.Polynomial(beta)
        return [float(v) for v in poly(np.polynomial.Polynomial([-self.mid / self.half, 1 / self.half])).coef]


def _check(x: np.ndarray, degree: int, fit: str) -> None:
    if len(np.unique(x)) < degree + 1:
        raise ValueError(f"a {fit} fit needs at least {degree + 1} distinct axis values, got {len(np.unique(x))}")


def best_location(x, replicates: np.ndarray, point: np.ndarray, *, fit: str = "quadratic",
                  level: float = DEFAULT_LEVEL) -> BestLocation:
    """x: (C,) axis values; replicates: (B, C) bootstrap replicates of each point's score (the
    same resample across points: paired); point: (C,) the estimates."""
    x = np.asarray(x, dtype=np.float64)
    degree = FITS[fit]
    _check(x, degree, fit)
    d = _Design(x, degree)
    h = np.linalg.pinv(d.matrix(x))  # (degree+1, C)
    grid = np.linspace(d.lo, d.hi, GRID_POINTS)
    g = d.matrix(grid)  # (G, degree+1)
    proj = h.T @ g.T  # (C, G): point values -> fitted values on the grid
    fitted = replicates @ proj  # (B, G)
    where = fitted.argmax(axis=1)
    locations = grid[where]
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(locations, [tail, 100 - tail])
    curve = np.asarray(point, dtype=np.float64) @ proj
    beta = h @ np.asarray(point, dtype=np.float64)
    return BestLocation(fit=fit, x=x, best=float(grid[curve.argmax()]), ci=(float(lo), float(hi)),
                        edge_share=float(np.mean((where == 0) | (where == len(grid) - 1))),
                        coefficients=d.raw_coefficients(beta), curve_x=grid, curve_y=curve,
                        resamples=len(replicates), level=level)


def _argmax_gradient(beta: np.ndarray, design: _Design) -> np.ndarray | None:
    """d t*/d beta at the interior maximum t* of sum beta_j t^j, or None without one."""
    poly = np.polynomial.Polynomial(beta)
    d1, d2 = poly.deriv(1), poly.deriv(2)
    roots = [r.real for r in d1.roots() if abs(r.imag) < 1e-12 and -1 < r.real < 1 and d2(r.real) < 0]
    if not roots:
        return None
    t_star = max(roots, key=poly)
    j = np.arange(len(beta))
    df1_dbeta = np.where(j >= 1, j * t_star ** np.maximum(j - 1, 0), 0.0)
    return -df1_dbeta / d2(t_star)


def candidate_points(x: np.ndarray) -> np.ndarray:
    """Half-steps of the current grid over its range, minus the points it already has."""
    xs = np.unique(np.asarray(x, dtype=np.float64))
    step = float(np.diff(xs).min()) / 2
    cands = np.round(np.arange(xs[0], xs[-1] + step / 2, step), 10)
    return np.array([c for c in cands if not np.any(np.isclose(c, xs))])


def suggest(x, replicates: np.ndarray, point: np.ndarray, k: int, *, fit: str = "quadratic") -> list[float]:
    """The k next axis values that would narrow the CI of the best location most (criterion in
    the module docstring), chosen greedily among the half-steps of the current grid."""
    x = np.asarray(x, dtype=np.float64)
    degree = FITS[fit]
    _check(x, degree, fit)
    d = _Design(x, degree)
    var = replicates.var(axis=0)
    positive = var[var > 0]
    floor = float(np.median(positive)) if len(positive) else 1e-6
    var = np.where(var > 0, var, floor)
    v = d.matrix(x)
    info = v.T @ (v / var[:, None])
    new_var = float(np.median(var))
    beta = np.linalg.pinv(v) @ np.asarray(point, dtype=np.float64)
    grad = _argmax_gradient(beta, d)
    cands = list(candidate_points(x))
    chosen: list[float] = []
    for _ in range(min(k, len(cands))):
        best, best_score = None, np.inf
        for c in cands:
            row = d.matrix(np.array([c]))
            cov = np.linalg.pinv(info + row.T @ row / new_var)
            score = float(grad @ cov @ grad) if grad is not None else float(np.trace(cov))
            if score < best_score - 1e-15:
                best, best_score = c, score
        chosen.append(float(best))
        cands.remove(best)
        row = d.matrix(np.array([best]))
        info = info + row.T @ row / new_var
    return chosen
