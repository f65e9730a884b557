"""The mixture fits on the simplex (codemix.recipes.report.simplex): the models against direct
computations, and the region's coverage of a known optimum on synthetic sweeps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.ensemble import GradientBoostingRegressor

from codemix.recipes.report.simplex import MODELS, fit_mixture, simplex_grid, suggest_mixtures
from codemix.recipes.report.simplex_models import GBT_PARAMS, from_scale, loo_predictions, to_scale
from codemix.recipes.report.stats import group_means, resampled_means, seed_choices

TRUE_BEST = np.array([0.5, 0.3, 0.2])


def true_logit(x: np.ndarray, best: np.ndarray = TRUE_BEST) -> np.ndarray:
    """A smooth Gaussian bump with its top at `best` (NOT a Scheffé polynomial in the shares, so a
    Scheffé fit is biased): pass@1 of an average problem from 82% at the top to 27% far from it."""
    return -1.0 + 2.5 * np.exp(-np.sum((x - best) ** 2, axis=1) / (2 * 0.15 ** 2))


def synthetic_sweep(rng: np.random.Generator, *, cells: int = 24, seeds: int = 2, problems: int = 200,
                    resamples: int = 300, k: int = 3, best: np.ndarray = TRUE_BEST):
    """(shares, measured, replicates (C, B)): Dirichlet(1) mixtures, per-problem difficulty shared
    by all cells (paired), a little training noise per seed, one pass/fail per problem; the
    replicates resample problems (the same draw for every cell) and seeds, as codemix report does."""
    shares = rng.dirichlet(np.ones(k), cells)
    difficulty = rng.normal(0, 1.0, problems)
    runs = []
    for logit_value in true_logit(shares, best):
        for _ in range(seeds):
            p = 1 / (1 + np.exp(-(logit_value + difficulty + rng.normal(0, 0.05))))
            runs.append((rng.random(problems) < p).astype(float))
    runs = np.vstack(runs)
    run_means = resampled_means(runs, resamples, rng)
    replicates = np.vstack([group_means(run_means, list(range(i * seeds, (i + 1) * seeds)),
                                        seed_choices(seeds, resamples, rng)) for i in range(cells)])
    measured = runs.reshape(cells, seeds, problems).mean(axis=(1, 2))
    return shares, measured, replicates


def _fit(shares, measured, replicates, **kw):
    k = shares.shape[1]
    return fit_mixture(shares, measured, replicates, [f"d{i}" for i in range(k)],
                       [f"c{i}" for i in range(len(shares))], **kw)


def _area(fit) -> float:
    """The region's area in the (first k-1 shares) chart; 0 when it is a point or a segment."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(np.unique(fit.region, axis=0)[:, :-1]).volume)
    except (QhullError, ValueError):
        return 0.0


def test_scheffe_coefficients_are_least_squares_of_the_logits():
    rng = np.random.default_rng(3)
    x = rng.dirichlet(np.ones(3), 10)
    measured = rng.uniform(0.2, 0.7, 10)
    fit = _fit(x, measured, np.tile(measured[:, None], (1, 20)) + rng.normal(0, 0.01, (10, 20)), model="scheffe")
    a, b, c = x.T
    design = np.column_stack([a, b, c, a * b, a * c, b * c])  # Scheffé quadratic, written out by hand
    expected = np.linalg.lstsq(design, np.log(measured / (1 - measured)), rcond=None)[0]
    np.testing.assert_allclose(fit.coefficients, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.predict(x), 1 / (1 + np.exp(-design @ expected)), rtol=1e-8)


def test_loo_spearman_and_rmse_match_refits_without_each_configuration():
    rng = np.random.default_rng(4)
    shares, measured, replicates = synthetic_sweep(rng, cells=14, problems=100, resamples=50)
    fit = _fit(shares, measured, replicates, model="logratio")
    z = np.log(np.clip(measured, 0.005, 0.995) / (1 - np.clip(measured, 0.005, 0.995)))
    logs = np.log(np.maximum(shares, 0.005))
    design = np.column_stack([np.ones(14), logs[:, :2] - logs[:, 2:]])
    loo = np.empty(14)
    for j in range(14):
        keep = np.arange(14) != j
        loo[j] = design[j] @ np.linalg.lstsq(design[keep], z[keep], rcond=None)[0]
    loo = 1 / (1 + np.exp(-loo))
    assert fit.cv["logratio"]["spearman"] == pytest.approx(spearmanr(loo, measured)[0], abs=1e-12)
    assert fit.cv["logratio"]["rmse"] == pytest.approx(np.sqrt(np.mean((loo - measured) ** 2)), abs=1e-12)
    assert fit.cv["scheffe"]["spearman"] is not None  # 14 >= 6 + 2: also cross-validated
    assert fit.cv["gbt"] == {"spearman": None, "rmse": None}  # a fixed model other than gbt does not pay for gbt's LOO


def test_gbt_predictions_equal_sklearns():
    rng = np.random.default_rng(5)
    shares, measured, replicates = synthetic_sweep(rng, cells=16, problems=100, resamples=20)
    fit = _fit(shares, measured, replicates, model="gbt", seed=7)
    at = rng.dirichlet(np.ones(3), 50)
    direct = GradientBoostingRegressor(**GBT_PARAMS, random_state=7).fit(shares, to_scale(measured, "logit")).predict(at)
    np.testing.assert_allclose(fit.predict(at), from_scale(direct, "logit"), rtol=1e-12)
    np.testing.assert_allclose(loo_predictions("gbt", shares, to_scale(measured, "logit"), 7)[:1],
                               GradientBoostingRegressor(**GBT_PARAMS, random_state=7)
                               .fit(shares[1:], to_scale(measured[1:], "logit")).predict(shares[:1]), rtol=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_a_logit_fit_never_leaves_zero_one(model):
    rng = np.random.default_rng(6)
    shares = rng.dirichlet(np.ones(3), 16)
    measured = np.where(shares[:, 0] > 0.5, 1.0, 0.0)  # a cliff: 0% and 100% only
    measured[0] = 0.5
    replicates = np.clip(measured[:, None] + rng.normal(0, 0.05, (16, 40)), 0, 1)
    fit = _fit(shares, measured, replicates, model=model)
    values = fit.predict(simplex_grid(3, 2000))
    assert values.min() >= 0 and values.max() <= 1
    assert 0 <= fit.best_score_ci[0] <= fit.best_score <= 1 and fit.best_score_ci[1] <= 1


def test_a_loss_is_minimised_on_the_log_scale():
    rng = np.random.default_rng(7)
    shares = rng.dirichlet(np.ones(3), 20)
    loss = np.exp(0.5 + 3 * np.sum((shares - TRUE_BEST) ** 2, axis=1))  # lowest at TRUE_BEST
    fit = _fit(shares, loss, loss[:, None] * np.exp(rng.normal(0, 0.01, (20, 50))), model="scheffe", scale="log",
               maximize=False)
    assert np.abs(fit.best - TRUE_BEST).max() < 0.05
    assert fit.predict(simplex_grid(3, 500)).min() > 0


def _coverage(trials: int, model: str) -> int:
    covered = 0
    for trial in range(trials):
        fit = _fit(*synthetic_sweep(np.random.default_rng(1000 + trial)), model=model)
        covered += bool(fit.in_region(TRUE_BEST[None])[0])
    return covered


def test_the_region_covers_a_known_optimum_that_no_model_has_exactly():
    # 24 Dirichlet mixtures x 2 seeds x 200 problems, 300 resamples; Scheffé is biased for the
    # Gaussian bump, so the measured neighbourhood must carry the coverage (20 trials: ~2 s)
    assert _coverage(20, "scheffe") >= 18


@pytest.mark.slow
@pytest.mark.parametrize("model", ["auto", "scheffe"])
def test_the_region_covers_a_known_optimum_in_90_of_100_sweeps(model):
    assert _coverage(100, model) >= 90


def test_the_region_shrinks_as_problems_grow():
    areas = {}
    for problems in (50, 2000):
        areas[problems] = np.mean([_area(_fit(*synthetic_sweep(np.random.default_rng(t), problems=problems),
                                               model="scheffe")) for t in range(4)])
    assert areas[2000] < 0.7 * areas[50]


def test_suggestions_are_new_mixtures_in_or_near_the_region():
    shares, measured, replicates = synthetic_sweep(np.random.default_rng(8))
    fit = _fit(shares, measured, replicates, model="scheffe")
    picks = suggest_mixtures(fit, 4)
    assert picks.shape == (4, 3)
    np.testing.assert_allclose(picks.sum(axis=1), 1)
    assert picks.min() >= 0
    gaps = np.linalg.norm(picks[:, None] - shares[None], axis=2).min(axis=1)
    assert gaps.min() >= 0.01  # never a measured mixture again
    assert len(np.unique(picks.round(6), axis=0)) == 4
    apart = np.linalg.norm(picks[:, None] - picks[None], axis=2) + np.eye(4)
    assert apart.min() >= 0.05  # spread: not four neighbours of the optimum
    assert fit.in_region(picks).all()


def test_too_few_configurations_is_a_clear_error_not_a_traceback():
    rng = np.random.default_rng(9)
    shares = rng.dirichlet(np.ones(3), 4)
    with pytest.raises(ValueError, match="4 mixture configurations of 3 domains are too few"):
        _fit(shares, rng.uniform(0.2, 0.5, 4), rng.uniform(0.2, 0.5, (4, 10)))
    with pytest.raises(ValueError, match=r"needed: scheffe 8"):
        _fit(rng.dirichlet(np.ones(3), 6), rng.uniform(0.2, 0.5, 6), rng.uniform(0.2, 0.5, (6, 10)), model="scheffe")


@pytest.mark.parametrize("k, cells", [(2, 8), (5, 30)])
def test_two_and_five_domains_use_the_same_code(k, cells):
    best = np.full(k, 1 / k) if k == 2 else np.array([0.35, 0.25, 0.2, 0.1, 0.1])
    shares, measured, replicates = synthetic_sweep(np.random.default_rng(10), cells=cells, k=k, best=best,
                                                   problems=300, resamples=100)
    fit = _fit(shares, measured, replicates)
    assert fit.best.shape == (k,) and fit.best.sum() == pytest.approx(1)
    assert fit.in_region(fit.best[None])[0]
    assert set(fit.share_ci) == {f"d{i}" for i in range(k)}
    assert all(lo <= share <= hi for (lo, hi), share in zip(fit.share_ci.values(), fit.best, strict=True))
    picks = suggest_mixtures(fit, 2)
    assert picks.shape == (2, k) and np.allclose(picks.sum(axis=1), 1)
    assert fit.to_dict()["best"].keys() == set(fit.share_ci)


def test_simplex_grid():
    grid = simplex_grid(3, 2000)
    assert len(grid) == 1953 and np.allclose(grid.sum(axis=1), 1) and grid.min() >= 0  # steps of 1/61
    assert len(simplex_grid(2, 11)) == 11
    five = simplex_grid(5, 300)
    assert len(five) == 300 and np.allclose(five[:5], np.eye(5))


def _mixture_study(cells: int = 12, seeds: int = 2, problems: int = 120, extra: dict | None = None):
    from codemix.recipes.report.data import Cell, Outcome
    from codemix.recipes.report.study import Study

    rng = np.random.default_rng(11)
    shares = rng.dirichlet(np.ones(3), cells).round(3)
    shares[:, 2] = 1 - shares[:, :2].sum(axis=1)
    out = []
    for i, row in enumerate(shares):
        mix = dict(zip(("code", "general", "symbolic"), (float(v) for v in row), strict=True))
        for seed in range(1, seeds + 1):
            outcomes = {}
            for b, bench in enumerate(("humaneval", "mbpp")):
                p = 1 / (1 + np.exp(-(true_logit(row[None])[0] + np.random.default_rng(b).normal(0, 1, problems))))
                scores = (rng.random(problems) < p).astype(float)
                tasks = tuple(f"{bench}/{j}" for j in range(problems))
                outcomes[bench] = Outcome(bench, "pass@1", float(scores.mean()), None, problems, "h", tasks, scores, True)
            values = {"mix.domain_shares": mix, "seed": seed, **(extra or {})}
            out.append(Cell(f"mix{i},seed={seed}", values, outcomes=outcomes))
    return Study("mixture", out, out[0].name)


def test_analyse_fits_a_mixture_sweep_per_benchmark_and_on_the_average():
    from codemix.recipes.report.analysis import AVERAGE, analyse

    out = analyse(_mixture_study(), resamples=200, suggest_k=3, fit="logratio")
    assert set(out.mixture) == {"humaneval", "mbpp", AVERAGE}
    fit = out.mixture[AVERAGE]
    assert fit.labels == ["code", "general", "symbolic"] and fit.model == "logratio" and fit.resamples == 200
    assert fit.measured == pytest.approx([out.row(n, AVERAGE).value for n in fit.names])
    assert out.mixture_suggestions.shape == (3, 3)
    summary = json.loads(json.dumps(fit.to_dict()))  # what report's mixture_fit.json can hold as is
    assert summary["best"].keys() == {"code", "general", "symbolic"} and len(summary["configurations"]) == 12
    assert out.best == {} and out.axis is None  # no one-axis fit on a mixture sweep
    assert not any("not numeric" in n for n in out.notes)


def test_analyse_rejects_a_one_axis_fit_for_a_mixture_sweep_and_notes_too_few_configs():
    from codemix.core.errors import CodemixError
    from codemix.recipes.report.analysis import analyse

    with pytest.raises(CodemixError, match="--fit 'quadratic': for a mixture sweep .* choose one of auto, scheffe"):
        analyse(_mixture_study(), resamples=50, fit="quadratic")
    out = analyse(_mixture_study(cells=4), resamples=50)
    assert out.mixture == {}
    assert any("4 mixture configurations of 3 domains are too few" in n for n in out.notes)
