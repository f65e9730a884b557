"""Paired statistics for runs scored on the same problems: bootstrap CIs, exact McNemar, Holm.

Everything works on per-problem scores: for pass@k the unbiased per-problem estimate (c/n for
pass@1), for accuracy the per-problem share correct. Two runs scored on the same problems are
*paired*: problem difficulty is shared, so the difference is resampled problem by problem
(a paired bootstrap), not as two independent means; that alone narrows a typical HumanEval CI on
a difference by a factor of ~2 versus treating the runs as independent.

Vectorised design (the speed target is 60 cells x 3 benchmarks x 500 problems x 10,000
resamples in <= 10 s on 2 cores): one bootstrap resample of P problems is a row of multinomial
counts; all resamples are a (B, P) weight matrix W, and the resampled means of *every* run at
once are one matrix product W @ X.T. All runs of one benchmark share W (the same resampled
problem sets), which is also what makes the differences paired. Several training seeds per
configuration add a second level: seeds are resampled with replacement inside each bootstrap
replicate (two-level bootstrap: seeds, then problems), so training noise widens the interval.

Every random draw comes from `rng_for(seed, *key)`: the same inputs give the same intervals.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 10_000
DEFAULT_LEVEL = 0.95
DEFAULT_ALPHA = 0.05
VERDICTS = ("better", "worse", "no detectable difference")


def rng_for(seed: int, *key: int | str) -> np.random.Generator:
    """A generator seeded by `seed` and a key (strings via crc32), so each benchmark / config
    draws its own stream and adding a benchmark does not change another's intervals."""
    parts = [int(seed)] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in key]
    return np.random.default_rng(parts)


def pass_at_k_scores(n: np.ndarray, c: np.ndarray, k: int = 1) -> np.ndarray:
    """Per-problem unbiased pass@k, 1 - C(n-c, k)/C(n, k), vectorised over problems. For k = 1
    this is c/n. Computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i) (no overflowing binomials)."""
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    if np.any(c < 0) or np.any(c > n):
        raise ValueError("need 0 <= c <= n for every problem")
    if k < 1 or np.any(n < k):
        raise ValueError(f"pass@{k} needs at least {k} samples per problem (smallest n is {int(n.min())})")
    if k == 1:
        return c / n
    out = np.ones(len(n), dtype=np.float64)
    for j, (nj, cj) in enumerate(zip(n, c, strict=True)):
        if nj - cj >= k:
            out[j] = 1.0 - np.prod(1.0 - k / np.arange(nj - cj + 1, nj + 1, dtype=np.float64))
    return out


def problem_counts(n_problems: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n_problems) float32: row b holds the multiplicity of each problem in bootstrap
    resample b. (Counts, and their sums with 0/1 scores, are integers below 2**24 and so exact in
    float32; it halves the memory traffic, which is the cost.)"""
    idx = rng.integers(0, n_problems, size=(resamples, n_problems))
    flat = idx + (np.arange(resamples, dtype=np.int64) * n_problems)[:, None]
    counts = np.bincount(flat.ravel(), minlength=resamples * n_problems)
    return counts.reshape(resamples, n_problems).astype(np.float32)


def problem_weights(n_problems: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """problem_counts / n_problems, so `W @ x` is the resampled mean of x."""
    return (problem_counts(n_problems, resamples, rng) / np.float32(n_problems)).astype(np.float32)


CHUNK = 2_000  # resamples per weight block: 2,000 x 500 float32 = 4 MB stays in cache (40 MB did not)


def resampled_means(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, R) bootstrap means over problems of each row of x (R runs x P problems),
    every run resampled with the same problem draws (paired)."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    xt = x.T.astype(np.float32)
    out = np.empty((resamples, len(x)))
    for start in range(0, resamples, CHUNK):
        stop = min(resamples, start + CHUNK)
        out[start:stop] = problem_counts(x.shape[1], stop - start, rng) @ xt
    # Divided in float64: with 0/1 scores the means come out exact (-7/30, not float32's
    # -0.23333333432674408 that a weighted float32 product gives).
    return out / x.shape[1]


def seed_choices(n_seeds: int, resamples: int, rng: np.random.Generator) -> np.ndarray | None:
    """(resamples, n_seeds) indices of the seeds drawn with replacement in each replicate, or
    None for a single seed (nothing to resample)."""
    if n_seeds <= 1:
        return None
    return rng.integers(0, n_seeds, size=(resamples, n_seeds))


def group_means(run_means: np.ndarray, columns: list[int], choices: np.ndarray | None) -> np.ndarray:
    """Bootstrap replicates of a configuration's score from its runs' resampled means
    (run_means: (B, R), one column per run): the mean over its seeds as drawn by `choices`."""
    sub = run_means[:, columns]
    if choices is None:
        return sub.mean(axis=1)
    return np.take_along_axis(sub, choices, axis=1).mean(axis=1)


def percentile_ci(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """The bounds to 7 significant digits: with fractional per-problem scores (pass@k of several
    samples) the replicates carry float32's ~7 (resampled_means), and JSON would print the
    float32 noise in full (-0.23333333432674408)."""
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return float(f"{lo:.7g}"), float(f"{hi:.7g}")


def bootstrap_p_value(delta_replicates: np.ndarray) -> float:
    """Two-sided p-value of "no difference" from the bootstrap distribution of the difference:
    twice the smaller tail share at 0, with the +1 correction so it is never exactly 0. It is
    the smallest alpha at which the percentile CI would exclude 0, so p and CI agree."""
    d = np.asarray(delta_replicates)
    b = len(d)
    below = (np.count_nonzero(d <= 0) + 1) / (b + 1)
    above = (np.count_nonzero(d >= 0) + 1) / (b + 1)
    return float(min(1.0, 2 * min(below, above)))


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """Exact McNemar test on paired pass/fail outcomes (one greedy sample per problem):
    (p, problems only b solves, problems only a solves). Under "no difference" each discordant
    problem is equally likely to go either way, so the count is Binomial(discordant, 1/2);
    scipy.stats.binomtest gives the exact two-sided p. No discordant problems -> p = 1."""
    from scipy.stats import binomtest

    a = np.asarray(a) > 0.5
    b = np.asarray(b) > 0.5
    b_only = int(np.count_nonzero(b & ~a))
    a_only = int(np.count_nonzero(a & ~b))
    if b_only + a_only == 0:
        return 1.0, 0, 0
    return float(binomtest(b_only, b_only + a_only, 0.5).pvalue), b_only, a_only


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment (controls the family-wise error rate, no independence
    assumption): the i-th smallest p times (m - i + 1), made monotone, capped at 1. NaNs (no
    test) stay NaN and do not count towards m."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def verdict(delta: float, p_value: float, alpha: float = DEFAULT_ALPHA) -> str:
    """better / worse when the (adjusted) p-value is below alpha, else no detectable difference."""
    if p_value is None or np.isnan(p_value) or p_value >= alpha or delta == 0:
        return VERDICTS[2]
    return VERDICTS[0] if delta > 0 else VERDICTS[1]


@dataclass(frozen=True)
class Comparison:
    """B versus A on the same problems; scores are fractions."""

    n_problems: int
    a: float
    b: float
    delta: float
    ci: tuple[float, float]
    test: str  # "mcnemar" | "bootstrap" | "two-level bootstrap"
    p_value: float
    b_only: int | None = None  # McNemar's discordant counts
    a_only: int | None = None
    resamples: int = DEFAULT_RESAMPLES
    level: float = DEFAULT_LEVEL

    def verdict(self, alpha: float = DEFAULT_ALPHA, p_value: float | None = None) -> str:
        return verdict(self.delta, self.p_value if p_value is None else p_value, alpha)


def compare_runs(a: np.ndarray, b: np.ndarray, *, single_sample: bool, resamples: int = DEFAULT_RESAMPLES,
                 seed: int = 0, level: float = DEFAULT_LEVEL) -> Comparison:
    """Paired comparison of per-problem scores a and b, each (P,) for one run or (S, P) for S
    training seeds. One run each with one sample per problem -> exact McNemar; otherwise the
    bootstrap p-value. The CI is always the paired (two-level with seeds) percentile bootstrap."""
    a2, b2 = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"paired comparison needs the same problems: {a2.shape[1]} vs {b2.shape[1]}")
    p = a2.shape[1]
    runs = resampled_means(np.vstack([a2, b2]), resamples, rng_for(seed, "problems"))  # (B, Sa + Sb)
    na, nb = len(a2), len(b2)
    boot_a = group_means(runs, list(range(na)), seed_choices(na, resamples, rng_for(seed, "seeds", "a")))
    boot_b = group_means(runs, list(range(na, na + nb)), seed_choices(nb, resamples, rng_for(seed, "seeds", "b")))
    mean_a, mean_b = float(a2.mean()), float(b2.mean())
    deltas = boot_b - boot_a
    ci = percentile_ci(deltas, level)
    if na == nb == 1 and single_sample:
        p_value, b_only, a_only = mcnemar_exact(a2[0], b2[0])
        return Comparison(p, mean_a, mean_b, mean_b - mean_a, ci, "mcnemar", p_value, b_only, a_only,
                          resamples, level)
    test = "two-level bootstrap" if max(na, nb) > 1 else "bootstrap"
    return Comparison(p, mean_a, mean_b, mean_b - mean_a, ci, test, bootstrap_p_value(deltas),
                      resamples=resamples, level=level)
