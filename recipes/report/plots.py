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

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BASE_COLOR = "#555555"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    from codemix.core.artifacts import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    _plt().close(fig)
    return Path(path)


def _metric_name(outcomes: list[Outcome]) -> str:
    return "/".join(sorted({o.metric for o in outcomes})) or "pass@1"


def plot_bars(series: list[tuple[str, dict[str, Outcome]]], benchmarks: list[str], path: str | Path,
              title: str) -> Path:
    """Grouped bars: one group per benchmark, one bar per model / cell, 95% CI whiskers."""
    plt = _plt()
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
    ax.set_xticks(range(len(benchmarks)), [f"{b}\n(n={'/'.join(map(str, ns[b]))} problems)" for b in benchmarks])
    metric = _metric_name([o[b] for _, o in series for b in benchmarks if b in o])
    ax.set_ylabel(f"{metric} (%) with 95% CI")
    ax.set_ylim(-0.02 * max(top, 10) * 1.2, max(10.0, top * 1.18))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncols=min(4, len(series)))
    fig.tight_layout()
    return _save(fig, path)


def plot_curves(analysis: Analysis, cell_values: dict[str, list[tuple[float, float]]], base: dict[str, Outcome],
                path: str | Path, title: str, reference: dict[str, list[tuple[float, float]]] | None = None,
                reference_name: str = "reference") -> Path:
    """Metric against the swept axis: one panel per benchmark (and the average), configuration
    means with 95% CI bars, single seeds as dots, the fitted curve with its best point and CI,
    the base model as a dashed line, published numbers (`--reference`) as diamonds.
    cell_values: panel -> [(x, value)] of the individual cells (seeds)."""
    plt = _plt()
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
    return _save(fig, path)


def _base_value(base: dict[str, Outcome], bench: str, benchmarks: list[str]) -> float | None:
    if bench == AVERAGE:
        return float(np.mean([base[b].value for b in benchmarks])) if all(b in base for b in benchmarks) else None
    return base[bench].value if bench in base else None


def plot_problem_map(analysis: Analysis, path: str | Path, title: str) -> Path | None:
    """Cells x problems: green where a configuration solves a problem the baseline does not,
    pink for the reverse (fractions when there are several samples or seeds); only problems
    where some configuration differs are drawn."""
    if not analysis.differences:
        return None
    plt = _plt()
    benches = list(analysis.differences)
    n_cfg = max(len(v[1]) for v in analysis.differences.values())
    fig, axes = plt.subplots(len(benches), 1, figsize=(10, 0.8 + (0.9 + 0.3 * n_cfg) * len(benches)),
                             dpi=120, squeeze=False, layout="constrained")
    image = None
    for ax, bench in zip(axes[:, 0], benches, strict=True):
        tasks, names, diff = analysis.differences[bench]
        keep = np.flatnonzero(np.any(diff != 0, axis=0))
        order = keep[np.argsort(-diff[:, keep].sum(axis=0), kind="stable")]
        labels = [f"{n}  +{int((diff[i] > 0).sum())} / -{int((diff[i] < 0).sum())}" for i, n in enumerate(names)]
        if len(order):
            image = ax.imshow(diff[:, order], cmap="PiYG", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "no problem differs from the baseline", ha="center", va="center", transform=ax.transAxes)
            ax.set_ylim(len(names) - 0.5, -0.5)  # rows top-down, as imshow draws them
        ax.set_yticks(range(len(names)), labels, fontsize=7)
        ax.set_xticks([])
        ax.set_xlabel(f"{bench}: the {len(order)} of n={len(tasks)} problems where a cell differs from "
                      f"the baseline ({analysis.baseline})", fontsize=8)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), label="score - baseline's", shrink=min(0.8, 4 / (1 + n_cfg)),
                     aspect=12)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


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
    plt = _plt()
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
    return _save(fig, path)
