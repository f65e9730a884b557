"""pass@k: the unbiased estimator of Chen et al. (2021, the Codex paper) and a bootstrap CI.

For a task with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that
at least one of k samples drawn without replacement passes. The binomials overflow floats
long before n gets large (C(200, 100) ~ 9e58), so the ratio is computed as the product
prod_{i=n-c+1}^{n} (1 - k/i), which stays in [0, 1] throughout.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with n samples, c of them correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0  # every draw of k samples contains a correct one
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def per_task_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> np.ndarray:
    return np.array([estimate_pass_at_k(n, c, k) for n, c in counts], dtype=np.float64)


def usable_k(counts: Sequence[tuple[int, int]], ks: Iterable[int]) -> list[int]:
    """The k values every task has enough samples for; the others are left out with a
    warning rather than reported as a meaningless number."""
    if not counts:
        return []
    n_min = min(n for n, _ in counts)
    usable, dropped = [], []
    for k in sorted(set(ks)):
        (usable if k <= n_min else dropped).append(k)
    if dropped:
        warnings.warn(f"pass@{','.join(map(str, dropped))} left out: some tasks have only {n_min} "
                      f"sample(s) and pass@k needs k <= n", stacklevel=2)
    return usable


def bootstrap_ci(values: np.ndarray, *, samples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap over tasks of the mean of per-task values. Seeded, so the same
    verdicts always give the same interval."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(samples, len(values)))
    means = values[idx].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return (float(lo), float(hi))


def pass_at_k_report(counts: Sequence[tuple[int, int]], ks: Iterable[int]) -> tuple[dict, dict]:
    """({"pass@k": mean}, {"pass@k": [lo, hi]}) over tasks, for the usable k."""
    means, cis = {}, {}
    for k in usable_k(counts, ks):
        values = per_task_pass_at_k(counts, k)
        means[f"pass@{k}"] = float(values.mean())
        cis[f"pass@{k}"] = list(bootstrap_ci(values))
    return means, cis
