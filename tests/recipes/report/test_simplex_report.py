"""The mixture fit's part of `codemix report`: the ternary map puts the star at the optimum's
barycentric position, the partial-dependence panels pass through the optimum for 2, 3 and 4
domains, and the text, report.md and the CSV files carry the fitted model and the best shares."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from codemix.recipes.report.analysis import analyse
from codemix.recipes.report.simplex import MODELS, fit_mixture, suggest_mixtures
from codemix.recipes.report.simplex_plots import (
    CORNERS,
    STAR,
    lattice,
    partial_dependence_csv,
    partial_dependence_figure,
    plot_mixture_fits,
    slice_through,
    ternary_figure,
    ternary_xy,
)
from codemix.recipes.report.simplex_tables import (
    mixture_cv_csv,
    mixture_fit_csv,
    mixture_lines,
    mixture_markdown,
)
from codemix.recipes.report.study import load_sweep
from codemix.recipes.report.write import write_report
from helpers.report import write_sweep

LABELS = ["code", "general", "symbolic", "math"]
PEAK = np.array([0.5, 0.3, 0.2, 0.1])


def _surface(shares: np.ndarray) -> np.ndarray:
    """A pass rate with one interior peak (45% at PEAK's proportions), falling 0.3 per unit of
    squared distance: 45% -> ~16% at the far corner of the triangle."""
    peak = PEAK[: shares.shape[1]] / PEAK[: shares.shape[1]].sum()
    return 0.45 - 0.3 * ((shares - peak) ** 2).sum(axis=1)


def _fit(k: int, steps: int, seed: int = 0):
    """A fit to a lattice of mixtures over k domains with bootstrap replicates as a paired bootstrap
    of 164 problems gives them: one shared draw per replicate (sd 1.5 points) plus each
    configuration's own noise (sd 1 point)."""
    rng = np.random.default_rng(seed)
    shares = lattice(steps) if k == 3 else _lattice_k(k, steps)
    truth = _surface(shares)
    measured = truth + rng.normal(0, 0.01, len(truth))
    replicates = measured[:, None] + rng.normal(0, 0.015, (1, 200)) + rng.normal(0, 0.01, (len(truth), 200))
    names = [",".join(f"{lab}={s:.2f}" for lab, s in zip(LABELS, row, strict=False)) for row in shares]
    return fit_mixture(shares, measured, np.clip(replicates, 0, 1), LABELS[:k], names, seed=seed)


def _lattice_k(k: int, steps: int) -> np.ndarray:
    if k == 2:
        return np.column_stack([np.linspace(0, 1, steps + 1), 1 - np.linspace(0, 1, steps + 1)])
    rows = [r for r in np.ndindex(*(steps + 1,) * (k - 1)) if sum(r) <= steps]
    return np.array([[*r, steps - sum(r)] for r in rows], dtype=float) / steps


@pytest.fixture(scope="module")
def fit3():
    return _fit(3, 4)


def test_barycentric_transform_puts_vertices_at_the_corners_and_the_centroid_at_the_centre():
    assert np.allclose(ternary_xy(np.eye(3)), CORNERS)
    assert np.allclose(ternary_xy(np.full(3, 1 / 3)), CORNERS.mean(axis=0))
    side = np.linalg.norm(CORNERS[0] - CORNERS[1]), np.linalg.norm(CORNERS[1] - CORNERS[2])
    assert np.allclose(side, 1.0)  # equilateral: equal shares are equal distances on the page
    # the midpoint of an edge: half of each of its two domains
    assert np.allclose(ternary_xy([0.5, 0.5, 0.0]), (CORNERS[0] + CORNERS[1]) / 2)


def test_ternary_map_draws_the_star_at_the_optimum(fit3):
    suggestions = suggest_mixtures(fit3, 2)
    fig = ternary_figure(fit3, "t", "pass@1, n=164 problems", suggestions)
    ax, bar = fig.axes  # the map and its colourbar, nothing else
    assert "higher is better" in bar.get_ylabel() and "n=164 problems" in bar.get_ylabel()
    star = next(c for c in ax.collections if c.get_label().startswith("predicted optimum"))
    assert np.allclose(star.get_offsets()[0], ternary_xy(fit3.best)[0])
    measured = next(c for c in ax.collections if c.get_label().startswith("measured"))
    assert len(measured.get_offsets()) == len(fit3.measured) == 15
    # every measured value is written beside its point (15 configurations: all labelled)
    texts = {t.get_text() for t in ax.texts}
    assert all(f"{v * 100:.1f}" in texts for v in fit3.measured)
    # the pixel under the star's centre has the star's colour
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)
    x, y = ax.transData.transform(ternary_xy(fit3.best)[0])
    pixel = image[int(round(image.shape[0] - y)), int(round(x))]
    want = np.array([int(STAR[i:i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(pixel - want).max() <= 12, (pixel, want)
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize("k, steps, panels", [(2, 6, 1), (3, 4, 3), (4, 3, 4)])
def test_partial_dependence_panels_pass_through_the_optimum(k, steps, panels):
    fit = _fit(k, steps)
    fig = partial_dependence_figure(fit, "t", "pass@1, n=164 problems")
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == panels
    for d, ax in enumerate(shown):
        curve = ax.get_lines()[0]
        x, y = curve.get_xdata(), curve.get_ydata()
        assert x[0] == 0 and x[-1] == 1
        # the slice holds the other domains at the optimum's proportions, so at the optimum's own
        # share it is the optimum
        at_best = np.interp(fit.best[d], x, y)
        assert at_best == pytest.approx(float(fit.predict(fit.best[None])[0]) * 100, abs=0.3)
    import matplotlib.pyplot as plt

    plt.close(fig)
    rows = list(csv.DictReader(io.StringIO(partial_dependence_csv({"humaneval": fit}))))
    assert len(rows) == panels * 201 and {r["varied"] for r in rows} == set(LABELS[:k][:panels])


def test_slice_keeps_the_other_domains_in_the_optimums_proportions():
    mixes = slice_through(np.array([0.2, 0.6, 0.2]), 0, np.array([0.0, 0.5, 1.0]))
    assert np.allclose(mixes, [[0, 0.75, 0.25], [0.5, 0.375, 0.125], [1, 0, 0]])
    # the optimum at the varied domain's own corner: the rest split equally
    assert np.allclose(slice_through(np.array([1.0, 0, 0]), 0, np.array([0.4])), [[0.4, 0.3, 0.3]])


def test_mixture_plots_are_written_for_every_benchmark(fit3, tmp_path):
    fit2 = _fit(2, 6)
    three = plot_mixture_fits({"humaneval": fit3, "average": fit3}, tmp_path, "s", {}, suggest_mixtures(fit3, 2))
    two = plot_mixture_fits({"mbpp": fit2}, tmp_path, "s", {})
    assert [p.name for p in three] == ["mixture_humaneval.png", "mixture_humaneval_shares.png",
                                       "mixture_average.png", "mixture_average_shares.png"]
    assert [p.name for p in two] == ["mixture_mbpp.png"]
    for p in three + two:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 20_000


def test_text_and_csv_carry_the_model_and_the_best_shares(fit3):
    fits = {"humaneval": fit3}
    text = "\n".join(mixture_lines(fits))
    assert f"({fit3.model} fit" in text
    for lab, s in zip(fit3.labels, fit3.best, strict=True):
        low, high = fit3.share_ci[lab]
        assert f"{lab} {s:.2f} [{low:.2f}, {high:.2f}]" in text
    md = "\n".join(mixture_markdown(fits, suggestions=suggest_mixtures(fit3, 2)))
    assert "## Mixture fit" in md and f"| {fit3.model} * |" in md and "Next mixtures to run:" in md
    rows = list(csv.DictReader(io.StringIO(mixture_fit_csv(fits))))
    assert [r["label"] for r in rows] == fit3.labels and {r["model"] for r in rows} == {fit3.model}
    assert sum(float(r["best_share"]) for r in rows) == pytest.approx(1.0)
    assert all(float(r["share_low"]) <= float(r["best_share"]) <= float(r["share_high"]) for r in rows)
    cv = list(csv.DictReader(io.StringIO(mixture_cv_csv(fits))))
    assert [r["model"] for r in cv] == list(fit3.cv) and set(fit3.cv) <= set(MODELS)
    assert [r["model"] for r in cv if r["chosen"] == "True"] == [fit3.model]
    i = int(np.argmax(fit3.measured))
    measured_shares = ", ".join(f"{lab} {s:.2f}" for lab, s in zip(fit3.labels, fit3.shares[i], strict=True))
    assert f"best measured {fit3.names[i]} {fit3.measured[i] * 100:.1f}% ({measured_shares})" in text


def test_write_report_adds_the_mixture_section_files_and_json(fit3, tmp_path):
    sweep = write_sweep(tmp_path / "ratios", fractions=(0.0, 0.1, 0.2), benchmarks={"humaneval": 40})
    study = load_sweep(sweep)
    analysis = analyse(study, resamples=200)
    analysis.mixture = {"humaneval": fit3}
    analysis.mixture_suggestions = suggest_mixtures(fit3, 2)
    written = write_report(study, analysis, tmp_path / "out")
    names = {p.name for p in written.files}
    assert {"mixture_fit.csv", "mixture_cv.csv", "mixture_curves.csv", "mixture_suggestions.csv",
            "mixture_fit.json", "mixture_humaneval.png", "mixture_humaneval_shares.png"} <= names
    assert f"best mixture on humaneval ({fit3.model} fit" in written.text
    assert "next mixtures to run: (code " in written.text
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Mixture fit" in md and "![mixture_humaneval](mixture_humaneval.png)" in md
    summary = json.loads((tmp_path / "out" / "mixture_fit.json").read_text())
    assert set(summary["fits"]) == {"humaneval"} and len(summary["suggestions"]) == 2
