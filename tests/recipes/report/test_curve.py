"""The best value along one axis: fits on the logit scale chosen by cross-validation, and
intervals whose coverage of a known maximum is checked on simulated sweeps."""

import numpy as np
import pytest

from codemix.recipes.report.curve import best_location, candidate_points, cv_errors, expit, logit, suggest
from codemix.recipes.report.stats import problem_weights, rng_for

X = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.25])
SMOKE_GRID = np.array([0.0, 0.1, 0.25, 0.5])


def _curve(x):
    return 0.65 - 4.0 * (x - 0.1) ** 2  # maximum 0.65 at 0.1 (a quadratic in the rate, not in its logit)


def _sweep(grid, curve, problems, seed, resamples=500):
    """One simulated sweep: per-problem difficulty shared across cells (paired), Bernoulli
    outcomes around `curve`; (replicates, point estimates)."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1.5, problems)
    scores = np.vstack([(rng.random(problems) < expit(logit(curve(x)) + difficulty)).astype(float) for x in grid])
    return problem_weights(problems, resamples, rng_for(seed)) @ scores.T, scores.mean(axis=1)


def _coverage(grid, curve, peak, problems, trials=100):
    covered, widths = 0, []
    for seed in range(trials):
        reps, point = _sweep(grid, curve, problems, seed)
        best = best_location(grid, reps, point)
        covered += best.ci[0] <= peak <= best.ci[1]
        widths.append(best.ci[1] - best.ci[0])
    return covered, float(np.median(widths))


def test_intervals_cover_a_known_maximum_in_at_least_90_of_100_sweeps():
    covered, width = _coverage(X, _curve, 0.1, 500)
    assert covered >= 90, f"95% intervals covered the true maximum in only {covered}/100 sweeps"
    assert width <= 0.2, "the interval should be narrower than the whole 0-0.25 range"


def test_coverage_on_a_coarse_grid_with_an_asymmetric_peak():
    # the smoke sweep's grid; a peak at 0.08 that rises steeply and falls slowly (like the paper's)
    curve = lambda x: 0.3 + 0.25 * np.exp(-((x - 0.08) / (0.06 if x < 0.08 else 0.3)) ** 2)  # noqa: E731
    covered, _ = _coverage(SMOKE_GRID, curve, 0.08, 164)
    assert covered >= 90, f"covered the true maximum in only {covered}/100 sweeps"


def test_a_sweep_like_the_smoke_one_gets_an_interval_the_data_support():
    # measured 39.9% at 0 and 45.3% at 0.1, falling after: the old quadratic in the rate said
    # "best 0 [0, 0]" and dipped below 0%
    point = np.array([0.399, 0.453, 0.40, 0.14])
    rng = np.random.default_rng(0)
    reps = np.clip(point + rng.normal(0, 0.045, (1000, 4)), 0, 1)
    best = best_location(SMOKE_GRID, reps, point)
    assert best.ci[1] - best.ci[0] >= 0.1 and best.ci[0] <= 0.1 <= best.ci[1]
    assert 0 < best.curve_y.min() and best.curve_y.max() < 1
    for fit in ("quadratic", "linear", "interpolate"):
        forced = best_location(SMOKE_GRID, reps, point, fit=fit)
        assert forced.fit == fit and 0 < forced.curve_y.min() and forced.curve_y.max() < 1


def test_an_exact_logit_quadratic_is_chosen_and_its_vertex_found():
    y = expit(0.5 - 40.0 * (X - 0.12) ** 2)
    best = best_location(X, y + np.random.default_rng(1).normal(0, 0.01, (200, len(X))), y)
    assert best.fit == "quadratic" and best.cv_rmse["quadratic"] == pytest.approx(0, abs=1e-9)
    assert best.best == pytest.approx(0.12, abs=0.25 / 400)
    assert best.coefficients == pytest.approx([0.5 - 40 * 0.0144, 40 * 0.24, -40.0], abs=1e-6)
    assert best.ci[0] <= 0.12 <= best.ci[1]


def test_cross_validation_against_hand_values():
    # 4 points on a line in the logit: every candidate predicts the interior points exactly but
    # interpolation, which predicts x=1 from x=0 and x=3 (straight line in the logit, exact too)
    x = np.array([0.0, 1.0, 2.0, 3.0])
    point = expit(-1.0 + 0.5 * x)
    rmse, weighted = cv_errors(x, point, np.full(4, 1e-3))
    assert rmse["linear"] == pytest.approx(0, abs=1e-12) and rmse["interpolate"] == pytest.approx(0, abs=1e-12)
    assert rmse["cubic"] is None and "cubic" not in weighted  # 4 coefficients need 6 points to cross-validate
    # a bump at x=1: leaving it out, the line through x = 0, 2, 3 (all at 0.5) predicts 0.5 there,
    # so that point's error is 0.3; x=2 left out is predicted from 0.5, 0.8, 0.5 at x = 0, 1, 3
    bump = np.array([0.5, 0.8, 0.5, 0.5])
    rmse, _ = cv_errors(x, bump, np.full(4, 1e-3))
    z = logit(np.array([0.5, 0.8, 0.5]))
    slope, intercept = np.polyfit([0.0, 1.0, 3.0], z, 1)
    at_x2 = expit(intercept + 2 * slope)
    assert rmse["linear"] == pytest.approx(np.sqrt((0.3 ** 2 + (at_x2 - 0.5) ** 2) / 2))


def test_best_location_needs_enough_points():
    with pytest.raises(ValueError, match="at least 3 distinct"):
        best_location(np.array([0.0, 0.1]), np.zeros((5, 2)), np.zeros(2))


def test_suggest_picks_new_half_steps_deterministically():
    rng = np.random.default_rng(2)
    y = _curve(X)
    reps = y + rng.normal(0, 0.02, (2000, len(X)))
    picks = suggest(X, reps, y, 3)
    assert picks == suggest(X, reps, y, 3) == suggest(X, reps, y, 3, fit="interpolate")
    assert len(set(picks)) == 3
    assert all(0 < v < 0.25 and not np.any(np.isclose(v, X)) for v in picks)
    assert set(picks) <= set(candidate_points(X))
    assert candidate_points(X) == pytest.approx([0.025, 0.075, 0.125, 0.175, 0.225])
