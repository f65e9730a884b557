"""Diversity in `codemix report`: the rank-correlation statistics against known values, and end to
end on string-rewrite sweeps whose diversity is known by construction (n rules, equally many rows
each: effective number of tasks = n)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from codemix.recipes.cli import main
from codemix.recipes.report.diversity import rank_correlation, rank_interval, spearman_p, spearman_rows
from codemix.recipes.report.stats import resampled_means, rng_for
from helpers.report import write_rewrite_sweep, write_sweep


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEMIX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- statistics, known values

def test_spearman_rows_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, 9).astype(float)  # ties in x and in the rows
    y = rng.integers(0, 5, (50, 9)).astype(float)
    got = spearman_rows(x, y)
    want = [spearmanr(x, row).statistic for row in y]
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert np.isnan(spearman_rows(x, np.ones((1, 9))))[0]  # a constant row has no rank correlation


def test_perfectly_monotone_gives_rho_one_and_the_exact_permutation_p():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = np.log(x) * 0.1 + 0.2  # any increasing function
    rho, ci, p = rank_correlation(x, y, np.tile(y, (10, 1)))
    assert rho == pytest.approx(1.0, abs=1e-12) and ci == pytest.approx((1.0, 1.0), abs=1e-12)
    assert p == pytest.approx(2 / 120)  # of 5! orderings, only the two monotone ones are as extreme
    assert spearman_p(x, -y) == pytest.approx(2 / 120)
    assert rank_correlation(x, -y, np.tile(-y, (10, 1)))[0] == pytest.approx(-1.0, abs=1e-12)


@pytest.mark.parametrize("true_means", [
    (0.30, 0.32, 0.34, 0.36, 0.38, 0.40),   # monotone, steps near the noise: true rho = 1
    (0.20, 0.35, 0.30, 0.50, 0.60, 0.55),   # mostly monotone: true rho = 0.886
])
def test_interval_covers_the_true_rank_correlation(true_means):
    """20 synthetic sweeps of 6 configurations on 400 shared problems: the 95% interval covers
    the true rho (that of the configurations' expected scores) in at least 18 of them. (The
    percentile interval alone covers the monotone case in about half: see rank_interval.)"""
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    truth = spearmanr(x, true_means).statistic
    covered = 0
    for rep in range(20):
        rng = np.random.default_rng([7, rep])
        difficulty = rng.normal(0, 1, 400)  # shared by every configuration: paired, like a benchmark
        p_solve = 1 / (1 + np.exp(-(np.log(np.array(true_means) / (1 - np.array(true_means)))[:, None] + difficulty)))
        assert spearmanr(x, p_solve.mean(axis=1)).statistic == pytest.approx(truth)  # same true order
        scores = (rng.random((6, 400)) < p_solve).astype(float)
        reps = resampled_means(scores, 2000, rng_for(rep, "problems", "t"))
        rho, (lo, hi), _ = rank_correlation(x, scores.mean(axis=1), reps)
        assert -1 <= lo <= hi <= 1 and lo <= rho <= hi
        covered += lo - 1e-12 <= truth <= hi + 1e-12
    assert covered >= 18


# ---------------------------------------------------------------- end to end

def test_report_reads_codemix_diversity_blocks_and_plots_score_vs_vendi(tmp_path, capsys):
    sweep = write_rewrite_sweep(tmp_path / "rewrite", rules=(1, 2, 4, 8), seeds=(1, 2), n_problems=120)
    for mix in sorted((sweep / "mixes").iterdir()):  # what `codemix diversity MIXTURE_DIR` leaves
        assert main(["diversity", str(mix), "--embedding", "tfidf", "--benchmarks", "none", "--no-map"]) == 0
    capsys.readouterr()
    assert main(["report", str(sweep), "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "vendi" in out and "eff.tasks" in out and "diversity embedding: TF-IDF + truncated SVD" in out
    rows = [r for r in _csv(sweep / "report" / "report.csv")]
    assert len(rows) == 8
    for r in rows:
        block = json.loads((sweep / "cells" / r["cell"] / "mix" / "diversity.json").read_text())
        assert float(r["diversity vendi"]) == block["groups"]["all"]["vendi"]
        assert float(r["diversity effective_tasks"]) == pytest.approx(float(r["data.rules"]))  # known by construction
        assert r["diversity embedding"].startswith("TF-IDF")
    vendi = {int(r["data.rules"]): float(r["diversity vendi"]) for r in rows}
    assert [vendi[k] for k in (1, 2, 4, 8)] == sorted(vendi.values()) and vendi[8] > 3 * vendi[1]
    assert (sweep / "report" / "diversity.png").stat().st_size > 10_000
    corr = _csv(sweep / "report" / "diversity.csv")
    assert [(c["benchmark"], c["axis"], c["n_configs"]) for c in corr] == [("rewrite", "vendi", "4")]
    rho, lo, hi = (float(corr[0][k]) for k in ("spearman_rho", "ci_low", "ci_high"))
    assert rho == pytest.approx(1.0, abs=1e-12) and lo <= rho <= hi and float(corr[0]["p_value"]) == pytest.approx(2 / 24)
    points = _csv(sweep / "report" / "diversity_points.csv")
    assert [p["label"] for p in points] == ["rules=1", "rules=2", "rules=4", "rules=8"]
    md = (sweep / "report" / "report.md").read_text()
    assert "## Score against diversity (vendi)" in md and "![diversity](diversity.png)" in md
    assert f"| rewrite | 4 | +1.00 [{lo:+.2f}, {hi:+.2f}] |" in md


def test_report_diversity_measures_missing_blocks_and_effective_tasks_axis(tmp_path, capsys):
    sweep = write_rewrite_sweep(tmp_path / "rewrite", rules=(1, 3, 9), n_problems=100)
    assert main(["report", str(sweep), "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "have no diversity block; `codemix report --diversity` measures them" in out
    assert not (sweep / "report" / "diversity.png").exists()
    assert main(["report", str(sweep), "--diversity", "--diversity-axis", "effective_tasks", "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "measured 3 mixture(s) now" in out and "TF-IDF + truncated SVD (offline)" in out
    for k in (1, 3, 9):  # written beside the shared mixture (cells/<name>/mix is a symlink to it)
        block = json.loads((sweep / "mixes" / f"rules-{k}" / "diversity.json").read_text())
        assert block["embedding"]["used"] == "tfidf" and block["groups"]["all"]["effective_tasks"] == pytest.approx(k)
    corr = _csv(sweep / "report" / "diversity.csv")
    assert corr[0]["axis"] == "effective_tasks" and float(corr[0]["spearman_rho"]) == pytest.approx(1.0, abs=1e-12)
    assert [float(p["x"]) for p in _csv(sweep / "report" / "diversity_points.csv")] == pytest.approx([1, 3, 9])
    assert "accuracy on rewrite vs effective_tasks: Spearman rho +1.00" in out


@pytest.mark.parametrize("args, message", [
    (["--diversity-axis", "beauty"], "--diversity-axis 'beauty': choose one of vendi"),
    (["--embedding", "tfidf"], "--embedding applies with --diversity only"),
])
def test_report_diversity_flag_errors(tmp_path, capsys, args, message):
    sweep = write_rewrite_sweep(tmp_path / "rewrite", rules=(1, 2), n_problems=20)
    assert main(["report", str(sweep), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codemix: error: ") and message in err and "Traceback" not in err


def test_report_diversity_without_mixture_data_says_so_and_still_reports(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "ratios", fractions=(0.0, 0.1, 0.2))  # manifests only, no data files
    assert main(["report", str(sweep), "--diversity", "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "diversity: 3 mixture(s) could not be measured, e.g." in out and "no mixture data" in out
    assert (sweep / "report" / "report.md").is_file() and not (sweep / "report" / "diversity.png").exists()
    assert "diversity vendi" not in (sweep / "report" / "report.csv").read_text()


def _coverage(true_means, n_problems: int, sweeps: int = 100) -> dict[str, float]:
    """Share of synthetic sweeps whose interval covers the true rho: percentile, basic, the hull."""
    x = np.arange(1.0, 1.0 + len(true_means))
    hits = {"percentile": 0, "basic": 0, "hull": 0}
    for rep in range(sweeps):
        rng = np.random.default_rng([7, rep])
        logit = np.log(np.array(true_means) / (1 - np.array(true_means)))[:, None] + rng.normal(0, 1, n_problems)
        p_solve = 1 / (1 + np.exp(-logit))
        truth = spearmanr(x, p_solve.mean(axis=1)).statistic
        scores = (rng.random(p_solve.shape) < p_solve).astype(float)
        reps = spearman_rows(x, resampled_means(scores, 2000, rng_for(rep, "p")))
        reps = reps[~np.isnan(reps)]
        rho = spearmanr(x, scores.mean(axis=1)).statistic
        lo, hi = np.percentile(reps, [2.5, 97.5])
        for name, (a, b) in {"percentile": (lo, hi), "basic": (max(-1, 2 * rho - hi), min(1, 2 * rho - lo)),
                             "hull": rank_interval(reps, rho)}.items():
            hits[name] += a - 1e-9 <= truth <= b + 1e-9
    return {k: v / sweeps for k, v in hits.items()}


@pytest.mark.slow
@pytest.mark.parametrize("true_means, n_problems, worse", [
    ((0.30, 0.32, 0.34, 0.36, 0.38, 0.40), 400, "percentile"),  # true rho 1: percentile ~0.49
    ((0.20, 0.35, 0.30, 0.50, 0.60, 0.55), 400, None),          # true rho 0.886
    ((0.30, 0.31, 0.35, 0.33, 0.40, 0.45), 164, None),          # HumanEval-sized, true rho 0.943
    ((0.40, 0.30, 0.45, 0.35, 0.42, 0.33), 164, "basic"),       # true rho -0.03: basic ~0.73
])
def test_rank_interval_coverage_in_100_synthetic_sweeps(true_means, n_problems, worse):
    """The numbers behind rank_interval's choice (README, "Diversity against the score")."""
    cov = _coverage(true_means, n_problems)
    assert cov["hull"] >= 0.93
    if worse:
        assert cov[worse] <= 0.8
