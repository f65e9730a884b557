"""The best value along a numeric swept axis (e.g. mix.general_fraction), with a CI, and which
grid points to run next to narrow it.

Scores are rates in [0, 1] (pass@k, accuracy), so every curve is fitted on the logit scale and
mapped back: a fit cannot leave [0, 1] (a quadratic in the rate itself dipped to -2% pass@1 on
the bundled smoke sweep). Candidates, all linear smoothers of the logits (so the fits of all B
bootstrap replicates are one matrix product):

- `linear`, `quadratic`, `cubic`: polynomials in the axis (x standardised to [-1, 1] for
  conditioning), each only with at least two more points than coefficients, so that it can be
  cross-validated;
- `interpolate`: straight lines between neighbouring measured points (no shape assumed).

`auto` (the default) picks the candidate with the smallest leave-one-configuration-out error:
each interior point predicted from the others, the squared error in the rate divided by the
point's bootstrap variance. The best location is the maximum of the chosen fit on a dense grid of 401
points over the observed range (a fit does not extrapolate).

The interval: the percentile range of the fitted maximum over the bootstrap replicates, widened
to the percentile range of the bracket around each replicate's best measured point (from its
left to its right neighbour). For a curve with one peak the true maximum lies in that bracket
whenever the best measured point is the true best, whatever the curve's shape, so the interval
cannot be narrower than the grid resolves: four grid points cannot place a maximum at exactly 0,
with 45.3% measured at 0.1 beside 39.9% at 0. Checked on synthetic curves with a known peak
(tests/recipes/report/test_curve.py): >= 90 of 100 seeded sweeps covered.

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

FITS = {"linear": 1, "quadratic": 2, "cubic": 3}  # polynomial candidates: name -> degree
SMOOTHERS = (*FITS, "interpolate")
CHOICES = ("auto", *SMOOTHERS)  # what --fit accepts (besides none)
GRID_POINTS = 401
# Rates are clipped to [EPS, 1 - EPS] before the logit: 0.5 of a problem in 100, so a replicate
# scoring 0 or 1 stays a finite logit (-5.3) instead of dominating a least-squares fit.
EPS = 0.005


@dataclass
class BestLocation:
    fit: str
    x: np.ndarray  # the configurations' axis values
    best: float  # argmax of the fit to the point estimates
    ci: tuple[float, float]
    edge_share: float  # share of replicates whose maximum is at the edge of the range
    coefficients: list[float]  # polynomial fits: of the logit, in powers of the raw axis value
    curve_x: np.ndarray = field(repr=False)
    curve_y: np.ndarray = field(repr=False)
    resamples: int = 0
    level: float = DEFAULT_LEVEL
    # candidate -> leave-one-configuration-out RMSE of the rate (None: too few points for it)
    cv_rmse: dict[str, float | None] = field(default_factory=dict)
    fit_ci: tuple[float, float] | None = None  # the fit's own percentile range, before widening
    measured_best: float | None = None  # the axis value with the highest measured score


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


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q / (1 - q))


def expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _smoother(x: np.ndarray, at: np.ndarray, fit: str) -> np.ndarray:
    """(len(x), len(at)) matrix S: logits at the points x -> the fit's logits at `at`."""
    if fit == "interpolate":
        out = np.zeros((len(x), len(at)))
        for j, v in enumerate(np.asarray(at, dtype=np.float64)):
            i = int(np.clip(np.searchsorted(x, v) - 1, 0, len(x) - 2))  # the segment (or the end one: extrapolate)
            w = (v - x[i]) / (x[i + 1] - x[i])
            out[i, j], out[i + 1, j] = 1 - w, w
        return out
    d = _Design(x, FITS[fit])
    return np.linalg.pinv(d.matrix(x)).T @ d.matrix(np.asarray(at, dtype=np.float64)).T


def _loo(x: np.ndarray, fit: str) -> np.ndarray | None:
    """(C, C) matrix L: column j predicts point j's logit from the other points' logits (None:
    too few points to fit without one)."""
    need = FITS.get(fit, 1) + 2  # interpolation needs two points to draw a line through
    if len(x) < need:
        return None
    out = np.zeros((len(x), len(x)))
    for j in range(len(x)):
        rest = np.delete(np.arange(len(x)), j)
        out[rest, j] = _smoother(x[rest], x[j:j + 1], fit)[:, 0]
    return out


def cv_errors(x: np.ndarray, point: np.ndarray, var: np.ndarray) -> tuple[dict[str, float | None], dict[str, float]]:
    """(RMSE of the rate per candidate, variance-weighted mean squared error per candidate) of
    leave-one-configuration-out predictions; candidates with too few points are None / absent."""
    rmse: dict[str, float | None] = {}
    weighted: dict[str, float] = {}
    z = logit(point)
    for fit in SMOOTHERS:
        loo = _loo(x, fit)
        if loo is None:
            rmse[fit] = None
            continue
        # Interior points only: an end point would be predicted by extrapolation, which no fit is
        # used for (the maximum is searched within the swept range).
        err = (expit(z @ loo) - point)[1:-1]
        rmse[fit] = float(np.sqrt(np.mean(err ** 2)))
        weighted[fit] = float(np.mean(err ** 2 / var[1:-1]))
    return rmse, weighted


def best_location(x, replicates: np.ndarray, point: np.ndarray, *, fit: str = "auto",
                  level: float = DEFAULT_LEVEL) -> BestLocation:
    """x: (C,) axis values; replicates: (B, C) bootstrap replicates of each point's score (the
    same resample across points: paired); point: (C,) the estimates, rates in [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, replicates, point = x[order], np.asarray(replicates, dtype=np.float64)[:, order], np.asarray(point, dtype=np.float64)[order]
    if len(np.unique(x)) < 3:
        raise ValueError(f"a best value needs at least 3 distinct axis values, got {len(np.unique(x))}")
    var = replicates.var(axis=0)
    var = np.maximum(var, max(float(np.median(var)), 1e-6) * 1e-2)  # a point with no spread does not get all the weight
    rmse, weighted = cv_errors(x, point, var)
    if fit == "auto":
        least = min(weighted.values())  # ties (within rounding): the simpler candidate
        fit = next(k for k in SMOOTHERS if k in weighted and weighted[k] <= least * (1 + 1e-6) + 1e-12)
    elif fit in FITS:
        _check(x, FITS[fit], fit)
    grid = np.linspace(x[0], x[-1], GRID_POINTS)
    proj = _smoother(x, grid, fit)  # (C, G)
    where = (logit(replicates) @ proj).argmax(axis=1)
    tail = (1.0 - level) / 2 * 100
    fit_lo, fit_hi = np.percentile(grid[where], [tail, 100 - tail])
    top = replicates.argmax(axis=1)  # each replicate's best measured point, and its bracket
    br_lo = np.percentile(x[np.maximum(top - 1, 0)], tail)
    br_hi = np.percentile(x[np.minimum(top + 1, len(x) - 1)], 100 - tail)
    curve = expit(logit(point) @ proj)
    coefficients: list[float] = []
    if fit in FITS:
        d = _Design(x, FITS[fit])
        coefficients = d.raw_coefficients(np.linalg.pinv(d.matrix(x)) @ logit(point))
    return BestLocation(fit=fit, x=x, best=float(grid[curve.argmax()]),
                        ci=(float(min(fit_lo, br_lo)), float(max(fit_hi, br_hi))),
                        edge_share=float(np.mean((where == 0) | (where == len(grid) - 1))),
                        coefficients=coefficients, curve_x=grid, curve_y=curve,
                        resamples=len(replicates), level=level, cv_rmse=rmse,
                        fit_ci=(float(fit_lo), float(fit_hi)), measured_best=float(x[point.argmax()]))


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
    the module docstring), chosen greedily among the half-steps of the current grid. The
    criterion needs a curve with a maximum: a linear or interpolating fit is planned for as a
    quadratic (in the rate: the design criterion only needs the curve's local shape)."""
    x = np.asarray(x, dtype=np.float64)
    fit = fit if fit in ("quadratic", "cubic") else "quadratic"
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
