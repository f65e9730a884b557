"""The best mixture of k >= 2 domains (shares on the simplex), a region for it, and which
mixtures to run next to narrow it: curve.py's discipline for one axis, on the simplex.

Models (recipes/report/simplex_models.py), all fitted on the score's scale (logit of clipped
rates, log of losses) so a fit cannot leave the metric's bounds:

- `scheffe`: sum b_i x_i + sum_{i<j} b_ij x_i x_j, no intercept, least squares; only with at
  least two configurations more than its k(k+1)/2 parameters;
- `logratio`: intercept + linear in the additive log-ratios log(x_i / x_k), shares floored at
  0.005 (which also bounds it at the edges);
- `gbt`: gradient boosting (50 trees of depth 2, learning rate 0.2, random_state = the seed) on
  the shares.

`auto` picks the model with the smallest leave-one-configuration-out error, each squared error
(in the score's own units) divided by that configuration's bootstrap variance, as curve.py does:
a configuration measured on few problems or seeds counts less. Spearman's rank correlation of the
same LOO predictions with the measured scores is reported for every model (`cv`) but does not
choose: it ignores how far off a prediction is, and the optimum is decided by the values near
the top, not by the ranks of the poor mixtures.

The optimum is the argmax (argmin for a loss) of the chosen fit over a dense grid on the simplex
(simplex_grid, plus the measured mixtures): no extrapolation beyond the simplex. Where a fit is
flat at its top (gbt is piecewise constant) the optimum is the centroid of the tied points.

The region: the chosen model refitted to every bootstrap replicate (one matrix product for the
linear models; at most 100 replicates for gbt) and each replicate's optimum taken; the `level`
share of those optima nearest the fitted one. That spread alone is too narrow when the model is
wrong, so, like curve.py's bracket, the region is widened by the neighbourhood of each
replicate's best MEASURED mixture: the mixtures best in the most replicates until they cover
`level` of them, with their Delaunay neighbours among the measured mixtures, and, for a mixture
on the hull of the measured ones, the point where the ray from the measured centroid through it
leaves the simplex (nothing measured beyond it bounds the optimum there). The region is the
convex hull of all these points (`in_region`, with a tolerance of 1e-6; a ball around them when
they span less than k-1 dimensions). Checked on a smooth bump that is not a Scheffé polynomial
(tests/recipes/report/test_simplex.py).

`suggest_mixtures`: greedy I-optimal design restricted to the region. Under the Scheffé
quadratic's information I = F' diag(1/var_c) F of the measured mixtures (var_c: each one's
bootstrap variance on the scale), the criterion is the average prediction variance over the
region's points, trace(I^-1 M) with M = mean f(q) f(q)' over them; each step adds the candidate
(with the median variance) that lowers it most (Sherman-Morrison), among the grid points inside
the region (or, when fewer than K are, the ones nearest it), never within 0.01 of a measured
mixture nor within 0.05 of an already chosen one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import ConvexHull, Delaunay, QhullError
from scipy.stats import spearmanr

from codemix.recipes.report.simplex_models import (
    GBT_RESAMPLES,
    SCALES,
    coefficients,
    features,
    from_scale,
    loo_predictions,
    min_configs,
    predict_many,
    simplex_grid,
    to_scale,
)
from codemix.recipes.report.stats import DEFAULT_LEVEL

MODELS = ("scheffe", "logratio", "gbt")
CHOICES = ("auto", *MODELS)  # what --fit accepts for a mixture sweep (besides none)
# ~2,000 candidates: k=3 in steps of 1/61 (1.6 points of share), k=4 in steps of 1/20; 2,000
# replicates x 2,000 candidates is 32 MB of predictions per benchmark.
GRID_POINTS = 2_000
TOLERANCE = 1e-6  # membership slack: a point on the hull's face is in the region
DISTINCT = 0.01  # suggestions at least this far (Euclidean, in shares) from measured and chosen ones
# Suggestions at least this far apart (Euclidean, in shares): the replicate optima that make up
# the region crowd near the optimum, so the greedy criterion alone put all three suggestions of
# the bundled mixture-3way proxy fit within 0.035 of one another (0.738 / 0.721 / 0.705 code);
# 0.05 is one step of a 20-division lattice.
SUGGESTION_SPACING = 0.05
TIE = 1e-9  # predictions within this of the top (on the scale) are tied


@dataclass
class MixtureFit:
    labels: list[str]
    model: str
    scale: str
    maximize: bool
    shares: np.ndarray
    measured: np.ndarray
    names: list[str]
    cv: dict[str, dict[str, float | None]]
    best: np.ndarray
    best_score: float
    best_score_ci: tuple[float, float]
    region: np.ndarray
    share_ci: dict[str, tuple[float, float]]
    resamples: int
    level: float = DEFAULT_LEVEL
    notes: list[str] = field(default_factory=list)
    coefficients: list[float] = field(default_factory=list)  # linear models: on the scale, in features() order
    variances: np.ndarray | None = field(default=None, repr=False)  # (C,) bootstrap variance on the scale
    seed: int = 0  # gbt's random_state
    _scaled: np.ndarray | None = field(default=None, repr=False, compare=False)  # the measured on the scale
    _member: Any = field(default=None, repr=False, compare=False)

    def predict(self, shares: np.ndarray) -> np.ndarray:
        """(N, k) -> (N,) the fit to the point estimates, on the score's own scale."""
        at = _normalised(np.atleast_2d(shares), len(self.labels), "shares")
        z = self._scaled if self._scaled is not None else to_scale(self.measured, self.scale)
        return from_scale(predict_many(self.model, self.shares, z[None], at, self.seed)[0], self.scale)

    def in_region(self, shares: np.ndarray) -> np.ndarray:
        """(N, k) -> (N,) bool: inside the region's convex hull (or ball)."""
        q = np.atleast_2d(np.asarray(shares, dtype=np.float64))
        if self._member is None:
            self._member = _membership(self.region)
        return self._member(q)

    def region_hull(self) -> np.ndarray:
        """The region's corner points (its convex hull's vertices; all points when degenerate)."""
        pts = np.unique(self.region, axis=0)
        if len(pts) <= len(self.labels) or len(self.labels) == 2:
            return pts if len(self.labels) > 2 else pts[[pts[:, 0].argmin(), pts[:, 0].argmax()]]
        try:
            return pts[ConvexHull(pts[:, :-1]).vertices]
        except (QhullError, ValueError):
            return pts

    def to_dict(self) -> dict:
        """JSON-ready summary (shares as {label: share})."""
        def named(row: np.ndarray) -> dict[str, float]:
            return {lab: round(float(v), 6) for lab, v in zip(self.labels, row, strict=True)}

        return {"labels": list(self.labels), "model": self.model, "scale": self.scale, "maximize": self.maximize,
                "best": named(self.best), "best_score": self.best_score, "best_score_ci": list(self.best_score_ci),
                "share_ci": {k: list(v) for k, v in self.share_ci.items()}, "cv": self.cv,
                "region_hull": [named(r) for r in self.region_hull()], "resamples": self.resamples,
                "level": self.level, "coefficients": self.coefficients, "notes": list(self.notes),
                "configurations": [{"name": n, "shares": named(s), "measured": float(m)}
                                   for n, s, m in zip(self.names, self.shares, self.measured, strict=True)]}


def _normalised(shares: np.ndarray, k: int, what: str) -> np.ndarray:
    x = np.asarray(shares, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != k:
        raise ValueError(f"{what}: expected (N, {k}) shares, got shape {x.shape}")
    if np.any(x < 0) or np.any(x.sum(axis=1) <= 0) or not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: shares must be finite, >= 0 and not all zero")
    return x / x.sum(axis=1, keepdims=True)


def _membership(region: np.ndarray):
    pts = np.unique(region, axis=0)
    k = pts.shape[1]
    if k == 2:
        lo, hi = pts[:, 0].min() - TOLERANCE, pts[:, 0].max() + TOLERANCE
        return lambda q: (q[:, 0] >= lo) & (q[:, 0] <= hi)
    chart = pts[:, :-1]  # shares sum to 1: the first k-1 are an affine chart, and hulls are affine-invariant
    try:
        corners = chart[ConvexHull(chart).vertices]
        tri = Delaunay(corners)
        return lambda q: tri.find_simplex(q[:, :-1], tol=TOLERANCE) >= 0
    except (QhullError, ValueError):  # fewer than k points, or all on a line / plane
        centre = pts.mean(axis=0)
        radius = float(np.max(np.linalg.norm(pts - centre, axis=1))) + TOLERANCE
        return lambda q: np.linalg.norm(q - centre, axis=1) <= radius


def _top(pred: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(B, k): per row of pred (B, G), the centroid of the grid points tied at its maximum."""
    tied = pred >= pred.max(axis=1, keepdims=True) - TIE
    return (tied @ grid) / tied.sum(axis=1, keepdims=True)


def _neighbours(shares: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """(per measured mixture: its neighbours' indices, bool: which lie on the measured hull)."""
    c, k = shares.shape
    if k == 2:
        order = np.argsort(shares[:, 0], kind="stable")
        rank = np.empty(c, dtype=np.int64)
        rank[order] = np.arange(c)
        hood = [order[max(r - 1, 0):r + 2] for r in rank]
        return hood, np.isin(np.arange(c), [order[0], order[-1]])
    try:
        tri = Delaunay(shares[:, :-1])
        indptr, indices = tri.vertex_neighbor_vertices
        hood = [indices[indptr[i]:indptr[i + 1]] for i in range(c)]
        return hood, np.isin(np.arange(c), np.unique(tri.convex_hull))
    except (QhullError, ValueError):  # degenerate designs: the 2(k-1) nearest mixtures, all treated as edge points
        d = np.linalg.norm(shares[:, None] - shares[None], axis=2)
        return [np.argsort(row)[1:2 * (k - 1) + 1] for row in d], np.ones(c, dtype=bool)


def _ray_exit(point: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Where the ray from `centre` through `point` leaves the simplex."""
    step = point - centre
    shrinking = step < -1e-12
    if not np.any(shrinking):
        return point
    t = float(np.min(point[shrinking] / -step[shrinking]))
    return np.clip(point + t * step, 0, 1)


def _region(shares, rep_optima, best, rep_best_measured, level) -> np.ndarray:
    near = np.linalg.norm(rep_optima - best, axis=1)
    fitted = rep_optima[near <= np.quantile(near, level)]
    counts = np.bincount(rep_best_measured, minlength=len(shares))
    order = np.argsort(-counts, kind="stable")
    covered = np.cumsum(counts[order]) / counts.sum()
    chosen = order[:int(np.searchsorted(covered, level - 1e-12)) + 1]
    hood, on_hull = _neighbours(shares)
    centre = shares.mean(axis=0)
    extra = [shares[i] for c in chosen for i in [c, *hood[c]]]
    extra += [_ray_exit(shares[c], centre) for c in chosen if on_hull[c]]
    return np.unique(np.vstack([best[None], fitted, *[e[None] for e in extra]]), axis=0)


def fit_mixture(shares: np.ndarray, measured: np.ndarray, replicates: np.ndarray, labels: list[str],
                names: list[str], *, model: str = "auto", scale: str = "logit", maximize: bool = True,
                level: float = DEFAULT_LEVEL, seed: int = 0) -> MixtureFit:
    """shares: (C, k); measured: (C,) point estimates; replicates: (C, B) bootstrap replicates of
    each configuration's score, paired across configurations. Raises ValueError (a message for
    a report note) when the configurations are too few for the model asked for."""
    k = len(labels)
    if k < 2:
        raise ValueError(f"a mixture needs at least 2 domains, got {labels}")
    if model not in CHOICES:
        raise ValueError(f"unknown mixture model {model!r}: choose one of {', '.join(CHOICES)}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    x = _normalised(shares, k, "shares")
    measured = np.asarray(measured, dtype=np.float64)
    replicates = np.atleast_2d(np.asarray(replicates, dtype=np.float64))
    c = len(x)
    if measured.shape != (c,) or replicates.shape[0] != c or len(names) != c:
        raise ValueError(f"{c} mixtures but {measured.shape} scores, {replicates.shape} replicates, {len(names)} names")
    usable = [m for m in MODELS if c >= min_configs(m, k)]
    if not usable or (model != "auto" and model not in usable):
        need = ", ".join(f"{m} {min_configs(m, k)}" for m in (MODELS if model == "auto" else (model,)))
        raise ValueError(f"{c} mixture configurations of {k} domains are too few to fit (needed: {need})")
    z = to_scale(measured, scale)
    z_reps = to_scale(replicates, scale)  # (C, B)
    own_var = replicates.var(axis=1)
    own_var = np.maximum(own_var, max(float(np.median(own_var)), 1e-12) * 1e-2)  # no point takes all the weight
    cv: dict[str, dict[str, float | None]] = {}
    weighted: dict[str, float] = {}
    for m in MODELS:
        if m not in usable or (model != "auto" and m == "gbt" and model != "gbt"):
            # gbt's LOO costs C boosting fits: only when it may be chosen
            cv[m] = {"spearman": None, "rmse": None}
            continue
        pred = from_scale(loo_predictions(m, x, z, seed), scale)
        err = pred - measured
        rho = spearmanr(pred, measured)[0] if np.ptp(pred) > 0 and np.ptp(measured) > 0 else np.nan
        cv[m] = {"spearman": None if np.isnan(rho) else float(rho), "rmse": float(np.sqrt(np.mean(err ** 2)))}
        weighted[m] = float(np.mean(err ** 2 / own_var))
    chosen = min(weighted, key=lambda m: weighted[m]) if model == "auto" else model
    notes: list[str] = []
    grid = np.unique(np.vstack([simplex_grid(k, GRID_POINTS), x]), axis=0)
    sign = 1.0 if maximize else -1.0
    best = _top(sign * predict_many(chosen, x, z[None], grid, seed), grid)[0]
    reps = z_reps.T
    if chosen == "gbt" and len(reps) > GBT_RESAMPLES:
        notes.append(f"gbt: its refitted optima from the first {GBT_RESAMPLES} of {len(reps)} resamples "
                     "(one boosting fit each); the measured neighbourhood from all")
        reps = reps[:GBT_RESAMPLES]
    pred = predict_many(chosen, x, reps, np.vstack([grid, best[None]]), seed)  # (B, G + 1)
    rep_optima = _top(sign * pred[:, :-1], grid)
    rep_best_measured = (sign * replicates).argmax(axis=0)
    region = _region(x, rep_optima, best, rep_best_measured, level)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(from_scale(pred[:, -1], scale), [tail, 100 - tail])
    best_score = float(from_scale(predict_many(chosen, x, z[None], best[None], seed)[0], scale)[0])
    if not np.any(np.linalg.norm(region - best, axis=1) > 0.05):
        notes.append("the region is within 0.05 of the optimum in every share")
    return MixtureFit(labels=list(labels), model=chosen, scale=scale, maximize=maximize, shares=x, measured=measured,
                      names=list(names), cv=cv, best=best, best_score=best_score,
                      best_score_ci=(float(lo), float(hi)), region=region,
                      share_ci={lab: (float(region[:, i].min()), float(region[:, i].max()))
                                for i, lab in enumerate(labels)},
                      resamples=len(reps), level=level, notes=notes,
                      coefficients=coefficients(chosen, x, z), variances=z_reps.var(axis=1), seed=seed, _scaled=z)


def suggest_mixtures(fit: MixtureFit, k: int, *, candidates: np.ndarray | None = None) -> np.ndarray:
    """(K, k) the K mixtures that most lower the average prediction variance over the region
    (criterion in the module docstring); fewer when fewer distinct candidates remain."""
    n = len(fit.labels)
    pool = _normalised(simplex_grid(n, GRID_POINTS) if candidates is None else candidates, n, "candidates")
    fresh = np.min(np.linalg.norm(pool[:, None] - fit.shares[None], axis=2), axis=1) >= DISTINCT
    pool = pool[fresh]
    if k <= 0 or not len(pool):
        return np.empty((0, n))
    region = np.unique(fit.region, axis=0)
    inside = fit.in_region(pool)
    if inside.sum() < k:  # too few grid points inside a narrow region: the nearest ones outside too
        gap = np.min(np.linalg.norm(pool[:, None] - region[None], axis=2), axis=1)
        inside = np.zeros(len(pool), dtype=bool)
        inside[np.argsort(gap, kind="stable")[:max(k * 4, int(fit.in_region(pool).sum()))]] = True
    pool = pool[inside]
    f_region = features("scheffe", region)
    target = f_region.T @ f_region / len(region)  # M
    f_measured = features("scheffe", fit.shares)
    var = fit.variances if fit.variances is not None else np.ones(len(fit.shares))
    var = np.maximum(var, max(float(np.median(var)), 1e-12) * 1e-2)
    info = f_measured.T @ (f_measured / var[:, None])
    # a ridge of 1e-8 of the mean diagonal: fewer mixtures than Scheffé terms still give an inverse
    info += np.eye(len(info)) * 1e-8 * max(float(np.trace(info)) / len(info), 1e-12)
    inv = np.linalg.inv(info)
    new_var = float(np.median(var))
    chosen: list[np.ndarray] = []
    f_pool = features("scheffe", pool)
    alive = np.ones(len(pool), dtype=bool)
    for _ in range(k):
        if not alive.any():
            break
        a = f_pool @ inv  # (N, p)
        gain = np.einsum("np,pq,nq->n", a, target, a) / (new_var + np.einsum("np,np->n", a, f_pool))
        gain[~alive] = -np.inf
        i = int(np.argmax(gain))
        chosen.append(pool[i])
        u = inv @ f_pool[i]
        inv = inv - np.outer(u, u) / (new_var + f_pool[i] @ u)
        alive &= np.linalg.norm(pool - pool[i], axis=1) >= SUGGESTION_SPACING
    return np.array(chosen).reshape(-1, n)


__all__ = ["MODELS", "CHOICES", "MixtureFit", "fit_mixture", "suggest_mixtures", "simplex_grid"]
