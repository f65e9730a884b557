"""Plots of a mixture fit (codemix.recipes.report.simplex.MixtureFit) over k >= 2 domains.

- k = 3: a ternary map (`mixture_<benchmark>.png`): the fitted surface as filled contours, the
  measured configurations coloured on the same scale with their values written beside them, the
  predicted optimum as a star inside its bootstrap region, suggested next mixtures as open circles.
  Drawn with plain matplotlib through the barycentric -> 2D transform `ternary_xy`.
- every k: partial-dependence panels (`mixture_<benchmark>.png` for k != 3,
  `mixture_<benchmark>_shares.png` beside the map for k = 3): per domain, the predicted score as
  that domain's share goes from 0 to 1 with the other domains keeping the optimum's proportions,
  the optimum's share and its interval marked, the measured shares as a rug.

The rules of codemix.recipes.report.plots hold here too: values on the plot, the number of problems
in the labels (the caller's `score_label`), the title says what varies, the numbers in CSV files
beside it (tables.mixture_fit_csv), an atomic save.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codemix.recipes.report.plots import COLORS, pyplot, save_png
from codemix.recipes.report.simplex_tables import mixture_value_text

if TYPE_CHECKING:
    from codemix.recipes.report.simplex import MixtureFit

# Corners of the drawn triangle: domain 0 bottom left, domain 1 bottom right, domain 2 on top
# (equilateral, side 1), so the shares' order runs counter-clockwise.
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])
# Lattice of the drawn surface: 80 steps per side is 3,321 points, contours smooth at 6 in wide.
SURFACE_STEPS = 80
CURVE_POINTS = 201  # points along one partial-dependence curve
# Measured points labelled with their values: all up to this many; beyond it the labels of ~24
# configurations on a 6 in triangle overprint, so only the best LABEL_BEST and the worst are.
LABEL_ALL = 15
LABEL_BEST = 6
STAR = "#d62728"
SUGGESTION = "#ff7f0e"


def ternary_xy(shares: np.ndarray) -> np.ndarray:
    """(N, 3) shares (rows summing to 1) -> (N, 2) points in the drawn triangle."""
    return np.asarray(shares, dtype=float).reshape(-1, 3) @ CORNERS


def lattice(steps: int) -> np.ndarray:
    """Every (i, j, l) / steps with i + j + l = steps: (steps+1)(steps+2)/2 points covering the triangle."""
    rows = [(i, j, steps - i - j) for i in range(steps + 1) for j in range(steps + 1 - i)]
    return np.array(rows, dtype=float) / steps


def file_stem(bench: str) -> str:
    return "mixture_" + re.sub(r"[^A-Za-z0-9_.+-]", "_", bench)


def display_scale(fit: MixtureFit) -> tuple[float, str]:
    """(factor, unit) for the plotted numbers: rates as percent, losses and others as they are."""
    return (100.0, "%") if fit.scale == "logit" else (1.0, "")


def value_text(fit: MixtureFit, value: float) -> str:
    return mixture_value_text(fit, value)


def better_word(fit: MixtureFit) -> str:
    return "higher is better" if fit.maximize else "lower is better"


def _measured_to_label(fit: MixtureFit) -> list[int]:
    order = np.argsort(-fit.measured if fit.maximize else fit.measured, kind="stable")
    if len(order) <= LABEL_ALL:
        return list(order)
    return [*order[:LABEL_BEST], order[-1]]


# Where a value's label may sit, relative to its point (triangle side = 1, ~5 in on the page):
# 0.05 right / left and 0.03 up / down clears the 46-pt^2 marker for a 4-character label.
CORNER_OFFSETS = np.array([[-0.05, -0.05], [0.05, -0.05], [0.0, 0.05]])  # the domain names, off the corners
LABEL_SPOTS = np.array([[0.05, 0.03], [0.05, -0.03], [-0.05, 0.03], [-0.05, -0.03], [0.0, 0.045], [0.0, -0.045]])


def label_offsets(points: np.ndarray, shown: list[int], star: np.ndarray) -> list[np.ndarray]:
    """Per labelled point, the spot (of LABEL_SPOTS) farthest from every marker and from the labels
    placed before it (the best configurations first): on a 28-configuration map a fixed offset put
    labels on neighbouring points and on the star."""
    # the star and its own value written above it, the domain names at the corners
    obstacles = [*points, star, star + [0.0, 0.04], *(CORNERS + CORNER_OFFSETS), *[at for _, at in tick_spots()]]
    offsets = []
    for i in shown:
        spots = points[i] + LABEL_SPOTS
        # distances are scaled so a label (wider than tall) keeps clear sideways: x counts half
        gaps = [min(np.hypot((spot - o)[0] * 0.5, (spot - o)[1]) for o in obstacles) for spot in spots]
        choice = int(np.argmax(np.round(gaps, 3)))  # ties: the earlier spot, right and up first
        offsets.append(LABEL_SPOTS[choice])
        obstacles.append(spots[choice])
    return offsets


def _outward(edge: int) -> np.ndarray:
    """Unit normal of edge `edge` (corner edge -> corner edge+1), pointing out of the triangle."""
    mid = (CORNERS[edge] + CORNERS[(edge + 1) % 3]) / 2
    out = mid - CORNERS.mean(axis=0)
    return out / np.linalg.norm(out)


def tick_spots() -> list[tuple[float, np.ndarray]]:
    """(share, where its label is written) for domain i's ticks at 0.2 ... 0.8 on edge i -> i+1."""
    return [(c, c * CORNERS[i] + (1 - c) * CORNERS[(i + 1) % 3] + 0.03 * _outward(i))
            for i in range(3) for c in (0.2, 0.4, 0.6, 0.8)]


def _draw_triangle_frame(ax, labels: list[str]) -> None:
    """Edges, gridlines at share steps of 0.2 for every domain, their tick labels on the edge where
    that share grows, and the domain names at the corners."""
    ax.plot(*np.vstack([CORNERS, CORNERS[:1]]).T, color="black", linewidth=1.0, zorder=4)
    for i in range(3):
        nxt, other = (i + 1) % 3, (i + 2) % 3
        outward = _outward(i)
        for c in (0.2, 0.4, 0.6, 0.8):
            # share_i = c: from the edge i-nxt (share_other = 0) to the edge i-other (share_nxt = 0)
            a = c * CORNERS[i] + (1 - c) * CORNERS[nxt]
            b = c * CORNERS[i] + (1 - c) * CORNERS[other]
            ax.plot([a[0], b[0]], [a[1], b[1]], color="white", linewidth=0.6, alpha=0.7, zorder=2)
            ax.plot([a[0], a[0] + 0.015 * outward[0]], [a[1], a[1] + 0.015 * outward[1]], color="black",
                    linewidth=0.8, zorder=4)
        # axis title along the edge, its arrow pointing the way the share grows (towards corner i)
        edge = CORNERS[i] - CORNERS[nxt]
        angle = np.degrees(np.arctan2(edge[1], edge[0]))
        towards_text_end = -90 < angle <= 90  # text reads left to right: it runs along +edge or -edge
        angle = angle if towards_text_end else angle - 180 if angle > 90 else angle + 180
        text = f"{labels[i]} share \u2192" if towards_text_end else f"\u2190 {labels[i]} share"
        ax.annotate(text, (CORNERS[i] + CORNERS[nxt]) / 2 + 0.09 * outward, ha="center", va="center",
                    rotation=angle, fontsize=8, color="#333333")
    for c, at in tick_spots():
        ax.annotate(f"{c:.1f}", at, ha="center", va="center", fontsize=7, color="#333333")
    aligns = [("right", "top"), ("left", "top"), ("center", "bottom")]
    for (x, y), (dx, dy), (ha, va), label in zip(CORNERS, CORNER_OFFSETS, aligns, labels, strict=True):
        ax.annotate(label, (x + dx, y + dy), ha=ha, va=va, fontsize=10, fontweight="bold")
    ax.set_xlim(-0.2, 1.2)
    ax.set_ylim(-0.17, CORNERS[2, 1] + 0.13)
    ax.set_aspect("equal")
    ax.axis("off")


def _draw_region(ax, fit: MixtureFit) -> None:
    """The optimum's bootstrap region: its convex hull (the points themselves where they cannot
    span a polygon, e.g. every replicate's optimum at one corner)."""
    from scipy.spatial import ConvexHull, QhullError

    label = f"the optimum's {fit.level:.0%} region"
    pts = ternary_xy(fit.region) if len(fit.region) else np.zeros((0, 2))
    if len(np.unique(np.round(pts, 9), axis=0)) >= 3:
        try:
            hull = ConvexHull(pts)
            poly = pts[np.append(hull.vertices, hull.vertices[0])]
            ax.fill(*poly.T, facecolor=STAR, alpha=0.18, edgecolor=STAR, linewidth=1.4, linestyle="--", zorder=5,
                    label=label)
            return
        except QhullError:  # all on one line: fall through to the points
            pass
    if len(pts):
        ax.plot(*pts.T, "o-", color=STAR, alpha=0.5, markersize=3, linewidth=1.2, zorder=5, label=label)


def plot_ternary(fit: MixtureFit, path: str | Path, title: str, score_label: str,
                 suggestions: np.ndarray | None = None) -> Path:
    """The ternary map of a three-domain fit. `score_label`: the score's name with the number of
    problems, e.g. "pass@1, n=164 problems"."""
    return save_png(ternary_figure(fit, title, score_label, suggestions), path)


def ternary_figure(fit: MixtureFit, title: str, score_label: str, suggestions: np.ndarray | None = None):
    import matplotlib.tri as mtri

    if len(fit.labels) != 3:
        raise ValueError(f"a ternary map needs 3 domains, the fit has {len(fit.labels)}")
    plt = pyplot()
    factor, unit = display_scale(fit)
    grid = lattice(SURFACE_STEPS)
    xy = ternary_xy(grid)
    surface = np.asarray(fit.predict(grid), dtype=float) * factor
    measured = np.asarray(fit.measured, dtype=float) * factor
    lo = float(min(surface.min(), measured.min()))
    hi = float(max(surface.max(), measured.max()))
    hi = hi if hi > lo else lo + 1e-9
    # Brighter is better for a rate and for a loss alike: a loss's map uses the reversed colours.
    cmap = plt.get_cmap("viridis" if fit.maximize else "viridis_r")
    fig, ax = plt.subplots(figsize=(7.2, 6.4), dpi=120)
    from matplotlib.ticker import MaxNLocator

    levels = MaxNLocator(14).tick_values(lo, hi)  # round contour steps: 24 / 26 / 28 %, not 24.13 / 26.71
    filled = ax.tricontourf(mtri.Triangulation(xy[:, 0], xy[:, 1]), surface, levels=levels, cmap=cmap, zorder=1)
    _draw_triangle_frame(ax, fit.labels)
    _draw_region(ax, fit)
    pts = ternary_xy(fit.shares)
    ax.scatter(pts[:, 0], pts[:, 1], c=measured, cmap=cmap, vmin=lo, vmax=hi, s=46, edgecolors="black",
               linewidths=0.9, zorder=6, label=f"measured ({len(pts)} configurations)")
    shown = _measured_to_label(fit)
    star = ternary_xy(fit.best)[0]
    for i, offset in zip(shown, label_offsets(pts, shown, star), strict=True):
        ax.annotate(value_text(fit, fit.measured[i]), pts[i], xytext=pts[i] + offset, ha="center", va="center",
                    fontsize=7, zorder=8, bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.75,
                                                "linewidth": 0},
                    arrowprops={"arrowstyle": "-", "color": "#333333", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 4})
    ax.scatter([star[0]], [star[1]], marker="*", s=260, color=STAR, edgecolors="black", linewidths=0.8, zorder=9,
               label=f"predicted optimum {value_text(fit, fit.best_score)}{unit} "
                     f"[{value_text(fit, fit.best_score_ci[0])}, {value_text(fit, fit.best_score_ci[1])}]")
    ax.annotate(value_text(fit, fit.best_score), star, xytext=(0, 10), textcoords="offset points", ha="center",
                va="bottom", fontsize=8, fontweight="bold", color=STAR, zorder=9,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8, "linewidth": 0})
    if suggestions is not None and len(suggestions):
        sug = ternary_xy(suggestions)
        ax.scatter(sug[:, 0], sug[:, 1], marker="o", s=70, facecolors="none", edgecolors=SUGGESTION, linewidths=1.8,
                   zorder=7, label=f"suggested next ({len(sug)})")
    bar = fig.colorbar(filled, ax=ax, shrink=0.75, pad=0.02)
    bar.set_label(f"predicted {score_label}{' (' + unit + ')' if unit else ''}; {better_word(fit)}", fontsize=8)
    note = "" if len(shown) == len(pts) else f"; values shown for the best {LABEL_BEST} and the worst"
    ax.legend(loc="upper left", bbox_to_anchor=(-0.02, 1.02), fontsize=7, frameon=False)
    ax.set_title(f"{title}\nfit: {fit.model} (on the {fit.scale} scale){note}", fontsize=9)
    fig.tight_layout()
    return fig


def slice_through(best: np.ndarray, domain: int, shares: np.ndarray) -> np.ndarray:
    """(N, k) mixtures with `domain` at each of `shares` and the other domains in the proportions
    they have at `best` (equal proportions where `best` is the domain's own corner)."""
    k = len(best)
    rest = np.array(best, dtype=float)
    rest[domain] = 0.0
    total = rest.sum()
    rest = rest / total if total > 1e-12 else np.where(np.arange(k) == domain, 0.0, 1.0 / (k - 1))
    out = np.outer(1.0 - shares, rest)
    out[:, domain] = shares
    return out


def partial_dependence_csv(fits: dict[str, MixtureFit]) -> str:
    """The curves of the partial-dependence panels: benchmark, the domain varied, its share, the
    shares of every domain (the fit's labels of the first benchmark), the predicted score."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    labels = next(iter(fits.values())).labels if fits else []
    w.writerow(["benchmark", "varied", "share", *[f"share {label}" for label in labels], "predicted"])
    t = np.linspace(0.0, 1.0, CURVE_POINTS)
    for bench, fit in fits.items():
        for d in [0] if len(fit.labels) == 2 else range(len(fit.labels)):
            mixtures = slice_through(fit.best, d, t)
            for share, mix, y in zip(t, mixtures, np.asarray(fit.predict(mixtures), dtype=float), strict=True):
                w.writerow([bench, fit.labels[d], repr(float(share)), *[repr(float(m)) for m in mix], repr(float(y))])
    return buf.getvalue()


def plot_partial_dependence(fit: MixtureFit, path: str | Path, title: str, score_label: str) -> Path:
    """One panel per domain (one for two domains: the second share is 1 minus the first)."""
    return save_png(partial_dependence_figure(fit, title, score_label), path)


def partial_dependence_figure(fit: MixtureFit, title: str, score_label: str):
    plt = pyplot()
    k = len(fit.labels)
    domains = [0] if k == 2 else list(range(k))
    factor, unit = display_scale(fit)
    ncols = min(4, len(domains))
    nrows = -(-len(domains) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols + 0.6, 3.4 * nrows + 0.5), dpi=120, squeeze=False)
    t = np.linspace(0.0, 1.0, CURVE_POINTS)
    best_y = fit.best_score * factor
    ci = (fit.best_score_ci[0] * factor, fit.best_score_ci[1] * factor)
    for ax, d in zip(axes.flat, domains, strict=False):
        label = fit.labels[d]
        y = np.asarray(fit.predict(slice_through(fit.best, d, t)), dtype=float) * factor
        ax.plot(t, y, color=COLORS[0], linewidth=1.6, label=f"predicted ({fit.model} fit)")
        low, high = fit.share_ci.get(label, (fit.best[d], fit.best[d]))
        ax.axvspan(low, high, color=COLORS[2], alpha=0.15, label=f"optimum's share: {fit.level:.0%} interval")
        ax.axvline(fit.best[d], color=COLORS[2], linewidth=1)
        ax.errorbar([fit.best[d]], [best_y], yerr=[[max(0.0, best_y - ci[0])], [max(0.0, ci[1] - best_y)]],
                    fmt="*", markersize=12, color=STAR, markeredgecolor="black", capsize=3, zorder=5,
                    label="predicted optimum (score CI)")
        ax.annotate(f"{value_text(fit, fit.best_score)}\nat {fit.best[d]:.2f}", (fit.best[d], ci[1]),
                    xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=7, color=STAR)
        ax.plot(fit.shares[:, d], np.zeros(len(fit.shares)), "|", color="black", markersize=12,
                transform=ax.get_xaxis_transform(), clip_on=False, label="measured shares (rug)")
        lo = float(min(y.min(), ci[0]))
        hi = float(max(y.max(), ci[1]))
        pad = 0.08 * (hi - lo or max(abs(hi), 1e-3))
        ax.set_ylim(lo - pad, hi + 2.5 * pad)
        ax.set_xlim(-0.02, 1.02)
        rest = [fit.labels[j] for j in range(k) if j != d]
        ax.set_xlabel(f"{label} share" + (f" ({rest[0]}: 1 - it)" if k == 2 else ""), fontsize=8)
        ax.set_ylabel(f"predicted {score_label}{' (' + unit + ')' if unit else ''}", fontsize=8)
        ax.set_title(f"varying {label}", fontsize=9)
    for ax in list(axes.flat)[len(domains):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(4, len(labels)), fontsize=7, frameon=False)
    rest_text = "" if k == 2 else "; in each panel the other domains keep the optimum's proportions"
    fig.suptitle(f"{title}\n{better_word(fit)}{rest_text}; the optimum: "
                 + ", ".join(f"{lab} {s:.2f}" for lab, s in zip(fit.labels, fit.best, strict=True)), fontsize=9)
    fig.tight_layout(rect=(0, 0.08 if nrows == 1 else 0.04, 1, 1))
    return fig


def plot_mixture_fits(fits: dict[str, MixtureFit], out_dir: Path, study_name: str, score_labels: dict[str, str],
                      suggestions: np.ndarray | None = None) -> list[Path]:
    """Every benchmark's (and the average's) mixture plots; `score_labels`: benchmark -> the score's
    name with its number of problems. Suggestions are drawn on the average's map, or on the only
    fit's (they are proposed for the average when there is one)."""
    files = []
    for bench, fit in fits.items():
        k = len(fit.labels)
        what = f"{study_name}: {bench} over the mix of {' / '.join(fit.labels)} ({len(fit.measured)} configurations)"
        stem = file_stem(bench)
        sug = suggestions if bench == "average" or len(fits) == 1 else None
        if k == 3:
            files.append(plot_ternary(fit, out_dir / f"{stem}.png", what, score_labels.get(bench, "score"), sug))
            files.append(plot_partial_dependence(fit, out_dir / f"{stem}_shares.png", what,
                                                 score_labels.get(bench, "score")))
        else:
            files.append(plot_partial_dependence(fit, out_dir / f"{stem}.png", what, score_labels.get(bench, "score")))
    return files
