"""Plots for one run and for many (matplotlib, Agg, imported lazily).

Rules every plot follows (a new user found the old summary.png unreadable): values are written
on the plot; zero is on the axis and a 0% bar is drawn as a visible stub; the number of problems
is in the axis labels; the title says what varies; the numbers behind a plot are in the CSV
files written beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from codemix.recipes.report.analysis import AVERAGE, Analysis, axis_label, is_log_axis
from codemix.recipes.report.data import Outcome, headline
from codemix.recipes.report.tables import n_text

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BASE_COLOR = "#555555"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path) -> Path:
    from codemix.core.artifacts import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    pyplot().close(fig)
    return Path(path)


def _metric_name(outcomes: list[Outcome]) -> str:
    return "/".join(sorted({o.metric for o in outcomes})) or "pass@1"


def plot_bars(series: list[tuple[str, dict[str, Outcome]]], benchmarks: list[str], path: str | Path,
              title: str, subsets: dict[str, dict[str, Any]] | None = None) -> Path:
    """Grouped bars: one group per benchmark, one bar per model / cell, 95% CI whiskers.
    `subsets`: per benchmark, results.json's `subset` ({of, by}) when only part of it was scored."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(benchmarks) * max(2, len(series)) + 2), 3.8), dpi=120)
    width = 0.8 / max(1, len(series))
    top = 0.0
    for i, (label, outcomes) in enumerate(series):
        color = BASE_COLOR if label == "base" else COLORS[i % len(COLORS)]
        for j, bench in enumerate(benchmarks):
            o = outcomes.get(bench)
            if o is None:
                continue
            x = j + (i - (len(series) - 1) / 2) * width
            v = o.value * 100
            lo, hi = (o.ci[0] * 100, o.ci[1] * 100) if o.ci else (v, v)
            ax.bar(x, v, width * 0.92, color=color, edgecolor=color, linewidth=1.2, alpha=0.85,
                   hatch="//" if label == "base" else None, label=label if j == 0 else None)
            if v == 0:  # a zero bar has no height: draw a stub so the model is visibly there
                ax.plot([x - width * 0.46, x + width * 0.46], [0, 0], color=color, linewidth=4, solid_capstyle="butt")
            ax.errorbar(x, v, yerr=[[max(0.0, v - lo)], [max(0.0, hi - v)]], color="black", capsize=3, linewidth=1)
            ax.annotate(f"{v:.1f}", (x, max(hi, v)), xytext=(0, 3), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8)
            top = max(top, hi, v)
    ns = {b: sorted({o[b].n_problems for _, o in series if b in o}) for b in benchmarks}
    ax.set_xticks(range(len(benchmarks)),
                  [f"{b}\n{n_text(ns[b], (subsets or {}).get(b), noun='problems')}" for b in benchmarks])
    metric = _metric_name([o[b] for _, o in series for b in benchmarks if b in o])
    ax.set_ylabel(f"{metric} (%) with 95% CI")
    ax.set_ylim(-0.02 * max(top, 10) * 1.2, max(10.0, top * 1.18))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncols=min(4, len(series)))
    fig.tight_layout()
    return save_png(fig, path)


def plot_curves(analysis: Analysis, cell_values: dict[str, list[tuple[float, float]]], base: dict[str, Outcome],
                path: str | Path, title: str, reference: dict[str, list[tuple[float, float]]] | None = None,
                reference_name: str = "reference") -> Path:
    """Metric against the swept axis: one panel per benchmark (and the average), configuration
    means with 95% CI bars, single seeds as dots, the fitted curve with its best point and CI,
    the base model as a dashed line, published numbers (`--reference`) as diamonds.
    cell_values: panel -> [(x, value)] of the individual cells (seeds)."""
    plt = pyplot()
    heads = headline(analysis.benchmarks)
    panels = analysis.benchmarks + ([AVERAGE] if len(heads) > 1 else [])
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), dpi=120, squeeze=False)
    name = axis_label(analysis.axis)
    xs_cfg = {c.name: float(c.values[analysis.axis]) for c in analysis.configs}
    for ax, bench in zip(axes.flat, panels, strict=False):
        rows = [r for r in analysis.rows if r.benchmark == bench and r.config in xs_cfg]
        rows.sort(key=lambda r: xs_cfg[r.config])
        x = np.array([xs_cfg[r.config] for r in rows])
        y = np.array([r.value * 100 for r in rows])
        lo = np.array([(r.ci[0] * 100 if r.ci else r.value * 100) for r in rows])
        hi = np.array([(r.ci[1] * 100 if r.ci else r.value * 100) for r in rows])
        top = float(max(hi.max(initial=0), 10))
        seeds = cell_values.get(bench, [])
        if any(r.seeds > 1 for r in rows) and seeds:
            ax.scatter([s[0] for s in seeds], [s[1] * 100 for s in seeds], s=10, color="#999999", zorder=2,
                       label="single seeds")
        ax.errorbar(x, y, yerr=[np.maximum(0, y - lo), np.maximum(0, hi - y)], fmt="o", color=COLORS[0],
                    capsize=3, zorder=3, label="trained (mean, 95% CI)")
        crowded = len(x) > 8  # alternate labels above / below the CI bars so neighbours do not collide
        for j, (xi, yi, loi, hii) in enumerate(zip(x, y, lo, hi, strict=True)):
            below = crowded and j % 2 == 1
            ax.annotate(f"{yi:.1f}", (xi, loi if below else hii), xytext=(0, -3 if below else 3),
                        textcoords="offset points", ha="center", va="top" if below else "bottom",
                        fontsize=6 if crowded else 7)
        loc = analysis.best.get(bench)
        if loc is not None:
            ax.plot(loc.curve_x, loc.curve_y * 100, color=COLORS[0], alpha=0.6, label=f"{loc.fit} fit")
            ax.axvspan(loc.ci[0], loc.ci[1], color=COLORS[2], alpha=0.15, label="best: 95% CI")
            ax.axvline(loc.best, color=COLORS[2], linewidth=1)
        base_value = _base_value(base, bench, heads)
        if base_value is not None:
            ax.axhline(base_value * 100, color=BASE_COLOR, linestyle="--", linewidth=1, label="base (untrained)")
            ax.annotate(f"base {base_value * 100:.1f}", (0.5, base_value * 100), xycoords=("axes fraction", "data"),
                        xytext=(0, 3), textcoords="offset points", ha="center", fontsize=7, color=BASE_COLOR)
            top = max(top, base_value * 100)
        for rx, ry in (reference or {}).get(bench, []):
            ax.scatter([rx], [ry], marker="D", color=COLORS[3], zorder=4,
                       label=f"published ({reference_name})" if rx == reference[bench][0][0] else None)
            ax.annotate(f"{ry:.1f}", (rx, ry), xytext=(5, 2), textcoords="offset points", fontsize=7, color=COLORS[3])
            top = max(top, ry)
        n = rows[0].n_problems if rows else 0
        metric = rows[0].metric if rows else "pass@1"
        ax.set_ylim(-0.03 * top, top * 1.15)
        ax.axhline(0, color="black", linewidth=0.6)
        if analysis.log_axis:
            ax.set_xscale("log")
        ax.set_xlabel(name + (" (log scale)" if analysis.log_axis else ""))
        ax.set_ylabel(f"{metric} (%), n={n} problems" if bench != AVERAGE
                      else f"mean {metric} (%), {len(heads)} benchm., n={n}")
        best = f": best {name} {loc.best:.2g} [{loc.ci[0]:.2g}, {loc.ci[1]:.2g}]" if loc is not None else ""
        ax.set_title(bench + best, fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            key = lab.split(" ")[0] if lab.startswith("base") else lab
            handles.setdefault(key, (h, lab))
    fig.suptitle(title, fontsize=11)
    fig.legend([h for h, _ in handles.values()], [lab for _, lab in handles.values()], loc="lower center",
               ncols=min(6, len(handles)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07 if nrows == 1 else 0.04, 1, 1))
    for ax in list(axes.flat)[:len(panels)]:  # after the layout: labels are spaced in its final pixels
        ticks_at(ax, sorted(set(xs_cfg.values())))
    return save_png(fig, path)


def ticks_at(ax, values: list[float]) -> None:
    """x ticks at the swept values only (matplotlib's own fall between them, every 0.025 on a
    0..0.2 axis, crowding the labels). Every value keeps a tick mark; the labels are every
    value's, or every 2nd, 3rd, ... value's, whichever is the densest that does not overprint
    (0, 0.01, 0.02 on a 0..0.2 axis would), the last value always labelled."""
    import matplotlib
    from matplotlib.font_manager import FontProperties
    from matplotlib.ticker import NullFormatter

    if not values:
        return
    texts = [f"{v:g}" for v in values]
    points = FontProperties(size=matplotlib.rcParams["xtick.labelsize"]).get_size_in_points()
    px_per_char = 0.6 * points * ax.figure.dpi / 72  # a digit is ~0.6 em wide in the default font
    x = ax.transData.transform([(v, 0.0) for v in values])[:, 0]
    half = [len(t) * px_per_char / 2 + 3 for t in texts]  # +3 px: a visible gap
    last = len(values) - 1

    def fits(idx: list[int]) -> bool:
        return all(x[j] - half[j] >= x[i] + half[i] for i, j in zip(idx, idx[1:], strict=False))

    keep = [0]
    for step in range(1, len(values) + 1):  # every value, every 2nd, ...: the densest even spacing that fits
        keep = list(range(0, len(values), step))
        if keep[-1] != last:
            keep.append(last)
            if not fits(keep[-2:]):
                keep.pop(-2)
        if fits(keep):
            break
    ax.set_xticks(values, minor=True)
    ax.xaxis.set_minor_formatter(NullFormatter())  # a log axis labels some minor ticks itself
    ax.set_xticks([values[i] for i in keep], [texts[i] for i in keep])


def _base_value(base: dict[str, Outcome], bench: str, benchmarks: list[str]) -> float | None:
    if bench == AVERAGE:
        return float(np.mean([base[b].value for b in benchmarks])) if all(b in base for b in benchmarks) else None
    return base[bench].value if bench in base else None


# The problem map's categories: (label, colour). Saturated green / magenta for the two that
# matter, two greys for the rest; distinguishable in greyscale print by lightness as well.
CATEGORIES = (("solved only by this configuration", "#1a9641"),
              ("solved only by the baseline", "#c51b7d"),
              ("solved by both", "#8c8c8c"),
              ("solved by neither", "#ececec"))
SOLVED = 0.5  # a problem counts as solved when its score (over samples and seeds) is at least this


def _problem_points(analysis: Analysis, bench: str, tasks: tuple[str, ...], name: str) -> np.ndarray:
    """One configuration's per-problem score on `tasks`, averaged over its seeds."""
    cfg = next(c for c in analysis.configs if c.name == name)
    return np.mean([cell.outcomes[bench].aligned(tasks) for cell in cfg.cells], axis=0)


def _short_ids(tasks: list[str]) -> tuple[list[str], str]:
    """Problem ids without their common prefix (HumanEval/12 -> 12), and that prefix."""
    prefix = ""
    if len(tasks) > 1 and all("/" in t for t in tasks):
        heads = {t.rsplit("/", 1)[0] for t in tasks}
        if len(heads) == 1:
            prefix = heads.pop() + "/"
    return [t[len(prefix):] for t in tasks], prefix


def problem_categories(analysis: Analysis) -> tuple[list[tuple[str, tuple, list[str], np.ndarray, list[str]]], bool]:
    """Per benchmark (benchmark, all task ids, configuration names, configurations x shown problems
    category index into CATEGORIES, shown task ids): the problems some configuration solves
    differently from the baseline, most gained first. And whether any score is fractional."""
    panels = []
    fractional = False
    for bench, (tasks, names, _) in analysis.differences.items():
        base = _problem_points(analysis, bench, tasks, analysis.baseline) >= SOLVED
        scores = np.vstack([_problem_points(analysis, bench, tasks, n) for n in names])
        fractional |= bool(np.any((scores > 0) & (scores < 1)))
        solved = scores >= SOLVED
        category = np.where(solved & ~base, 0, np.where(~solved & base, 1, np.where(solved, 2, 3)))
        gained, lost = (category == 0).sum(axis=0), (category == 1).sum(axis=0)
        keep = np.flatnonzero(gained + lost > 0)
        order = keep[np.argsort(-(gained - lost)[keep], kind="stable")]
        panels.append((bench, tasks, names, category[:, order], [tasks[j] for j in order]))
    return panels, fractional


def plot_problem_map(analysis: Analysis, path: str | Path, title: str) -> Path | None:
    """Configurations x problems, each square one of four categories against the baseline
    (solved only by the configuration, only by the baseline, by both, by neither); only problems
    some configuration solves differently from the baseline are drawn, labelled with their ids."""
    if not analysis.differences or analysis.baseline is None:
        return None
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    plt = pyplot()
    panels, fractional = problem_categories(analysis)
    n_cfg = max(len(p[2]) for p in panels)
    widest = max((len(p[4]) for p in panels), default=0)
    # ~0.13 in per problem keeps a 7-point rotated id legible; beyond ~250 problems the ids shrink
    # instead of the figure growing past 36 in.
    width = min(36.0, max(8.0, 3.0 + 0.13 * widest))
    id_size = max(3.5, min(7.0, 7.0 * (width - 3.0) / (0.13 * widest))) if widest else 7.0
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 1.6 + (1.1 + 0.3 * n_cfg) * len(panels)), dpi=120,
                             squeeze=False, layout="constrained")
    cmap = ListedColormap([colour for _, colour in CATEGORIES])
    for ax, (bench, tasks, names, cats, shown_ids) in zip(axes[:, 0], panels, strict=True):
        labels = [f"{n}  +{int((cats[i] == 0).sum())} / -{int((cats[i] == 1).sum())}" for i, n in enumerate(names)]
        if shown_ids:
            ax.imshow(cats, cmap=cmap, vmin=-0.5, vmax=len(CATEGORIES) - 0.5, aspect="auto", interpolation="nearest")
            ids, prefix = _short_ids(shown_ids)
            ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize=id_size)
            ax.set_xticks(np.arange(-0.5, len(ids)), minor=True)
            ax.grid(which="minor", axis="x", color="white", linewidth=0.3)
            ax.tick_params(which="minor", length=0)
        else:
            prefix = ""
            ax.text(0.5, 0.5, "every configuration solves the same problems as the baseline", ha="center",
                    va="center", transform=ax.transAxes)
            ax.set_ylim(len(names) - 0.5, -0.5)  # rows top-down, as imshow draws them
            ax.set_xticks([])
        ax.set_yticks(range(len(names)), labels, fontsize=7)
        ax.set_xlabel(f"{bench}: the {len(shown_ids)} of n={len(tasks)} problems some configuration solves "
                      f"differently from the baseline ({analysis.baseline})"
                      + (f"; problem ids after {prefix}" if prefix else ""), fontsize=8)
    handles = [Patch(facecolor=colour, edgecolor="#999999", linewidth=0.5,
                     label=label.replace("the baseline", f"the baseline ({analysis.baseline})"))
               for label, colour in CATEGORIES]
    note = f" (solved: score >= {SOLVED:g} over samples and seeds)" if fractional else ""
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False,
               title=f"each square: a configuration on a problem{note}", title_fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)


def reference_points(table: dict[str, Any] | None, benchmarks: list[str]) -> dict[str, list[tuple[float, float]]]:
    """{panel: [(x, percent)]} from a loaded --reference table (see report_reference)."""
    if not table:
        return {}
    panels = benchmarks + [AVERAGE]
    return {b: table["columns"][b] for b in panels if b in table["columns"]}


def plot_diversity(corrs: list, path: str | Path, title: str, x_label: str) -> Path:
    """Score against a diversity measure across configurations (codemix.recipes.report.diversity): one
    panel per benchmark (and the average), 95% CI bars, each point labelled with its swept value
    (or configuration), Spearman's rho with its bootstrap interval in the panel title."""
    plt = pyplot()
    ncols = min(3, len(corrs))
    nrows = -(-len(corrs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.9 * nrows), dpi=120, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, corr in zip(axes.flat, corrs, strict=False):
        pts = corr.points
        x = np.array([p.x for p in pts])
        y = np.array([p.value * 100 for p in pts])
        lo = np.array([p.ci[0] * 100 if p.ci else p.value * 100 for p in pts])
        hi = np.array([p.ci[1] * 100 if p.ci else p.value * 100 for p in pts])
        colors = [cmap(i / max(1, len(pts) - 1) * 0.9) for i in range(len(pts))]
        ax.errorbar(x, y, yerr=[np.maximum(0, y - lo), np.maximum(0, hi - y)], fmt="none", ecolor="#888888",
                    capsize=3, linewidth=1, zorder=2)
        ax.scatter(x, y, c=colors, s=36, zorder=3, edgecolors="black", linewidths=0.5)
        keys = {p.label.split("=", 1)[0] for p in pts if "=" in p.label and "," not in p.label}
        key = keys.pop() if len(keys) == 1 else None  # one swept key: label points by value only
        if key:
            ax.text(0.01, 0.98, f"points: {key}", transform=ax.transAxes, fontsize=7, va="top", color="#444444")
        for i, p in enumerate(pts):  # alternate label sides so neighbours do not overprint
            text = p.label.split("=", 1)[1] if key else p.label
            ax.annotate(f"{text}\n{y[i]:.1f}", (x[i], hi[i] if i % 2 == 0 else lo[i]),
                        xytext=(0, 3 if i % 2 == 0 else -3), textcoords="offset points", ha="center",
                        va="bottom" if i % 2 == 0 else "top", fontsize=6.5)
        top = max(10.0, float(hi.max()) if len(hi) else 10.0)
        ax.set_ylim(-0.03 * top, top * 1.22)
        if is_log_axis(list(x)):  # e.g. effective rules 3 ... 10,000
            ax.set_xscale("log")
            ax.set_xlim(float(x.min()) / 1.6, float(x.max()) * 1.6)
        else:
            span = float(np.ptp(x)) or max(1.0, abs(float(x[0])) * 0.1)
            ax.set_xlim(float(x.min()) - 0.12 * span, float(x.max()) + 0.12 * span)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xlabel(x_label + (" (log scale)" if is_log_axis(list(x)) else ""), fontsize=8)
        ax.set_ylabel(f"{corr.metric} (%), n={corr.n_problems} problems" if corr.benchmark != AVERAGE
                      else f"mean {corr.metric} (%) over benchmarks", fontsize=8)
        if corr.rho is None:
            stat = "rank correlation: n/a"
        else:
            ci = f" [{corr.ci[0]:+.2f}, {corr.ci[1]:+.2f}]" if corr.ci else ""
            p = f"{corr.p_value:.3f}" if corr.p_value >= 0.001 else f"{corr.p_value:.1e}"
            stat = f"Spearman \u03c1 = {corr.rho:+.2f}{ci}, p = {p}"
        ax.set_title(f"{corr.benchmark}: {stat}", fontsize=9)
    for ax in list(axes.flat)[len(corrs):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)
