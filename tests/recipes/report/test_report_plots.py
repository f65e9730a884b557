"""The report's pictures say what they show: the problem map puts each configuration x problem
in one of four named categories with the problem ids on the axis, and a swept axis has its ticks at
the swept values, labelled without overprinting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codemix.recipes.report.analysis import analyse
from codemix.recipes.report.plots import CATEGORIES, plot_problem_map, problem_categories, ticks_at
from codemix.recipes.report.study import load_sweep
from helpers.report import write_sweep


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    sweep = write_sweep(tmp_path_factory.mktemp("sweep") / "ratios", fractions=(0.0, 0.1, 0.2),
                        benchmarks={"humaneval": 40})
    return sweep, analyse(load_sweep(sweep), resamples=200)


def _solved(sweep, config: str) -> dict[str, bool]:
    """Per problem, whether the configuration's one seed solved it (read from its results.json)."""
    results = sweep / "cells" / f"{config},seed=1" / "eval" / "humaneval" / "results.json"
    per_task = json.loads(results.read_text())["per_task"]
    return {t: v["c"] / v["n"] >= 0.5 for t, v in per_task.items()}


def test_problem_map_categories_follow_the_results(analysis, tmp_path):
    sweep, result = analysis
    (bench, tasks, names, cats, shown), = problem_categories(result)[0]
    base = _solved(sweep, result.baseline)
    expected_shown = set()
    for i, name in enumerate(names):
        mine = _solved(sweep, name)
        for j, task in enumerate(shown):
            want = ("solved only by this configuration" if mine[task] and not base[task] else
                    "solved only by the baseline" if base[task] and not mine[task] else
                    "solved by both" if mine[task] else "solved by neither")
            assert CATEGORIES[cats[i, j]][0] == want, (name, task)
        expected_shown |= {t for t in tasks if mine[t] != base[t]}
    assert set(shown) == expected_shown and len(shown) == len(set(shown))
    gained_minus_lost = [int((cats[:, j] == 0).sum() - (cats[:, j] == 1).sum()) for j in range(len(shown))]
    assert gained_minus_lost == sorted(gained_minus_lost, reverse=True)
    assert plot_problem_map(result, tmp_path / "problems.png", "t").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("values", [[round(0.025 * i, 3) for i in range(11)], [0, 0.01, 0.02, 0.05, 0.1, 0.2],
                                    [10, 30, 100, 300, 1000, 3000, 10000]])
def test_ticks_sit_at_the_swept_values_and_their_labels_do_not_overlap(values):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.8), dpi=120)
    ax.plot(values, np.linspace(0, 1, len(values)), "o")
    if values[-1] > 1000:
        ax.set_xscale("log")
    fig.tight_layout()
    ticks_at(ax, values)
    major = list(ax.get_xticks())
    # every swept value has a tick: a labelled (major) one or an unlabelled minor one
    assert sorted(major + list(ax.get_xticks(minor=True))) == values
    assert set(major) <= set(values) and major[0] == values[0] and major[-1] == values[-1]
    assert len(major) >= min(len(values), 3)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    assert len(boxes) == len(major)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:], strict=False)), [(b.x0, b.x1) for b in boxes]
    plt.close(fig)
