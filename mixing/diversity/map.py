"""The 2-D map of instruction embeddings: rows coloured by domain (left) and by source (right),
HumanEval / MBPP problems overlaid — the picture used to argue that general data fills the space
around the test instructions. When every domain is one source (the usual two-source mixture) the
two panels would be the same picture: one panel is drawn, its legend naming both.

The projection is PCA (a linear map fit on the plotted rows; the benchmark problems are
projected with it, not fit): distances along the two axes are real distances in the embedding,
which t-SNE/UMAP do not keep, and it is deterministic and takes well under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codemix.core.artifacts import atomic_path

MAX_POINTS = 6000
BENCH_STYLE = {"humaneval": ("X", "black"), "mbpp": ("P", "#b2182b")}
# Saturated and far apart in hue (blue / orange): the earlier pale salmon for general rows
# vanished under alpha 0.5 on white. Neither is the mbpp marker's dark red.
DOMAIN_COLOURS = {"code": "#1f5fa8", "general": "#e66101"}


def map_possible(x: np.ndarray) -> bool:
    """PCA to two axes needs at least two rows and two embedding dimensions."""
    return x.ndim == 2 and min(x.shape) >= 2


def draw_map(path: str | Path, x: np.ndarray, sources: list[str], domains: list[str],
             bench: dict[str, np.ndarray], title: str, embedding: str, seed: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(x), MAX_POINTS, replace=False)) if len(x) > MAX_POINTS else np.arange(len(x))
    pts_x = x[keep]
    pca = PCA(n_components=2, random_state=seed).fit(pts_x)
    xy = pca.transform(pts_x)
    bench_xy = {b: pca.transform(v) for b, v in bench.items() if len(v)}
    src = np.asarray(sources, dtype=object)[keep]
    dom = np.asarray(domains, dtype=object)[keep]
    var = pca.explained_variance_ratio_

    from matplotlib.lines import Line2D

    source_domain = {s: d for s, d in zip(src.tolist(), dom.tolist(), strict=True)}
    one_source_each = len(set(source_domain)) == len(set(source_domain.values())) == len(set(dom.tolist()))
    panels = [(dom, DOMAIN_COLOURS, "domain")] + ([] if one_source_each else [(src, None, "source")])
    fig, axes = plt.subplots(1, len(panels), figsize=(7.8 * len(panels), 7.4), sharex=True, sharey=True,
                             squeeze=False)
    axes = axes[0]
    size = max(3.0, min(16.0, 20000 / max(len(xy), 1)))
    for ax, (labels, palette, what) in zip(axes, panels, strict=True):
        names = sorted(set(labels.tolist()), key=lambda n: (-int((labels == n).sum()), n))
        cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        handles = []
        for i, name in enumerate(names):
            m = labels == name
            colour = (palette or {}).get(name, cmap(i % cmap.N))
            ax.scatter(xy[m, 0], xy[m, 1], s=size, alpha=0.5, color=colour, linewidths=0, rasterized=True)
            shown_name = name
            if one_source_each:  # "general: texttasks"
                shown_name += ": " + ", ".join(s for s, d in source_domain.items() if d == name)
            handles.append(Line2D([], [], ls="", marker="o", ms=7, color=colour,
                                  label=f"{shown_name} ({int(m.sum())} rows)"))
        for b, bxy in bench_xy.items():
            marker, colour = BENCH_STYLE.get(b, ("D", "grey"))
            ax.scatter(bxy[:, 0], bxy[:, 1], s=20, marker=marker, color=colour, edgecolors="white",
                       linewidths=0.4, alpha=0.85, zorder=3)
            handles.append(Line2D([], [], ls="", marker=marker, ms=8, color=colour, label=f"{b} problems ({len(bxy)})"))
        ax.set_title(f"coloured by {what}" + (" (one source each)" if one_source_each else ""))
        ax.set_xlabel(f"PC1 ({var[0]:.1%} of variance)")
        ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)
        ax.grid(alpha=0.2)
    axes[0].set_ylabel(f"PC2 ({var[1]:.1%} of variance)")
    shown = f"{len(keep)} of {len(x)} rows" if len(keep) < len(x) else f"{len(x)} rows"
    fig.suptitle(f"{title}\n{shown}, PCA of the instruction embeddings ({embedding})", fontsize=11)
    fig.tight_layout()
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
