"""recipes/stats.py and recipes/stats_curve.py against known values."""

import numpy as np
import pytest
from scipy.stats import binomtest

from codemix.eval.passk import estimate_pass_at_k
from codemix.recipes.report.stats import (
    compare_runs,
    group_means,
    holm,
    mcnemar_exact,
    pass_at_k_scores,
    problem_weights,
    resampled_means,
    rng_for,
    seed_choices,
    verdict,
)


def _outcomes(n_problems: int, solved: int, seed: int = 0) -> np.ndarray:
    out = np.zeros(n_problems)
    out[np.random.default_rng(seed).choice(n_problems, solved, replace=False)] = 1
    return out


def test_identical_outcomes_give_delta_zero_ci_with_zero_and_p_one():
    a = _outcomes(164, 70)
    c = compare_runs(a, a.copy(), single_sample=True, resamples=2000)
    assert c.delta == 0 and c.a == c.b == 70 / 164
    assert c.ci[0] <= 0 <= c.ci[1]
    assert c.test == "mcnemar" and c.p_value == 1.0 and (c.b_only, c.a_only) == (0, 0)
    assert c.verdict() == "no detectable difference"
    boot = compare_runs(np.vstack([a, a]), np.vstack([a, a]), single_sample=True, resamples=2000)
    assert boot.test == "two-level bootstrap" and boot.p_value == 1.0 and boot.ci == (0.0, 0.0)


def test_twenty_more_solved_and_none_lost_matches_scipy_binomtest():
    a = _outcomes(164, 60)
    b = a.copy()
    b[np.flatnonzero(a == 0)[:20]] = 1
    c = compare_runs(a, b, single_sample=True, resamples=4000)
    expected = binomtest(20, 20, 0.5).pvalue
    assert c.p_value == pytest.approx(expected, rel=1e-12) and c.p_value < 0.001
    assert expected == pytest.approx(2 * 0.5 ** 20)
    assert (c.b_only, c.a_only) == (20, 0)
    assert c.delta == pytest.approx(20 / 164)
    assert 0 < c.ci[0] < c.delta < c.ci[1]
    assert c.verdict() == "better"
    assert compare_runs(b, a, single_sample=True, resamples=4000).verdict() == "worse"


def test_mcnemar_counts_both_directions():
    a = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    b = np.array([1, 0, 1, 1, 1, 1, 0, 0])
    p, b_only, a_only = mcnemar_exact(a, b)
    assert (b_only, a_only) == (3, 1)
    assert p == pytest.approx(binomtest(3, 4, 0.5).pvalue) == pytest.approx(0.625)


def test_holm_on_hand_computed_values():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([0.02, np.nan, 0.01])  # NaN is no test: m = 2
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_verdict_rules():
    assert verdict(0.05, 0.01) == "better" and verdict(-0.05, 0.01) == "worse"
    assert verdict(0.05, 0.05) == "no detectable difference"
    assert verdict(0.05, 0.2, alpha=0.3) == "better"


def test_weights_are_the_per_resample_loop():
    x = np.random.default_rng(3).random(37)
    w = problem_weights(37, 50, rng_for(5, "t"))
    idx = rng_for(5, "t").integers(0, 37, size=(50, 37))
    assert w @ x == pytest.approx(np.array([x[i].mean() for i in idx]), abs=1e-6)
    assert np.allclose(w.sum(axis=1), 1.0)
    # in blocks, the same draws: resampled_means is the loop over resamples too
    xs = np.vstack([x, 1 - x])
    means = resampled_means(xs, 5000, rng_for(5, "t"))
    gen = rng_for(5, "t")
    idx = np.vstack([gen.integers(0, 37, size=(n, 37)) for n in (2000, 2000, 1000)])
    assert means[:, 0] == pytest.approx(np.array([x[i].mean() for i in idx]), abs=1e-6)
    assert means[:, 1] == pytest.approx(1 - means[:, 0], abs=1e-6)


def test_same_inputs_same_intervals_and_seed_changes_them():
    a, b = _outcomes(100, 40, 1), _outcomes(100, 48, 2)
    one = compare_runs(a, b, single_sample=True, resamples=1000, seed=4)
    assert one == compare_runs(a, b, single_sample=True, resamples=1000, seed=4)
    assert one.ci != compare_runs(a, b, single_sample=True, resamples=1000, seed=5).ci


def test_pass_at_k_scores_equal_the_scalar_estimator():
    n = np.array([10, 10, 5, 20, 3])
    c = np.array([0, 3, 5, 19, 1])
    for k in (1, 2, 3):
        assert pass_at_k_scores(n, c, k) == pytest.approx([estimate_pass_at_k(a, b, k) for a, b in zip(n, c, strict=True)])
    with pytest.raises(ValueError, match="pass@5"):
        pass_at_k_scores(n, c, 5)


def test_two_level_bootstrap_widens_the_interval_when_seeds_disagree():
    rng = np.random.default_rng(0)
    p = 300
    base = (rng.random(p) < 0.5).astype(float)
    # three seeds of the same configuration that disagree: +2, +12 and -6 points
    seeds = []
    for shift in (0.02, 0.12, -0.06):
        s = base.copy()
        flip = rng.choice(p, int(abs(shift) * p), replace=False)
        s[flip] = 1.0 if shift > 0 else 0.0
        seeds.append(s)
    seeds = np.vstack(seeds)
    two = compare_runs(base, seeds, single_sample=True, resamples=4000)
    one = compare_runs(base, seeds.mean(axis=0), single_sample=False, resamples=4000)
    assert two.test == "two-level bootstrap" and one.test == "bootstrap"
    assert two.delta == pytest.approx(one.delta)
    assert (two.ci[1] - two.ci[0]) > 1.5 * (one.ci[1] - one.ci[0])


def test_group_means_resamples_seeds_within_each_replicate():
    run_means = np.array([[0.1, 0.5, 0.9], [0.2, 0.4, 0.6]])
    choices = np.array([[0, 0], [1, 1]])
    assert group_means(run_means, [0, 2], choices) == pytest.approx([0.1, 0.6])
    assert group_means(run_means, [1], None) == pytest.approx([0.5, 0.4])
    assert seed_choices(1, 10, rng_for(0)) is None


