"""One table and one figure across every cell of a markov sweep: accuracy on held-out (unseen)
and seen rules against one swept key, one line per value of the others.

    python -m codemix.recipes.report.markov runs/markov-diversity [--png docs/pages/figures/markov-diversity.png]
    python -m codemix.recipes.report.markov runs/markov-longtail --x alpha       # one line per I (and frequency)

`codemix report` does the statistics of such a sweep (markov:unseen etc. as columns, paired or
unpaired comparisons, --where for one slice); this is the summary a paper figure needs when the
grid has two dimensions: x = `--x` (default `rules`), series = the other swept keys, seeds as
separate points. Per cell it reads sweep.json, mix/manifest.json (I, effective number of rules),
train/manifest.json and eval/markov/results.json. Writes <sweep>/markov-report.json and the PNG
(log x when the values span two decades, categorical x when they are not numbers).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError
from codemix.recipes.report.analysis import is_log_axis
from codemix.recipes.report.data import GROUP_SEP, read_json
from codemix.recipes.report.study import load_sweep

GROUPS = ("unseen", "seen", "noop", "applied")


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def collect(sweep_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row per cell, the swept keys without seed): the cells as `codemix report` reads them
    (codemix.recipes.report.study.load_sweep: outcomes with their groups, train manifest), plus the
    markov facts of each mixture manifest (I, effective number of rules)."""
    study = load_sweep(sweep_dir)
    rows, keys = [], []
    for cell in study.cells:
        values = {_short(k): v for k, v in cell.values.items()}
        keys += [k for k in values if k != "seed" and k not in keys]
        row: dict[str, Any] = {"cell": cell.name, **values}
        mix = cell.dir / "mix" / "manifest.json" if cell.dir else None
        if mix is not None and mix.is_file():
            manifest = read_json(mix, "mixture manifest")
            facts = next((s.get("markov") for s in manifest.get("sources", []) if s.get("markov")), {})
            row.update(I=facts.get("rules"), effective_rules=facts.get("effective_rules"), rows=manifest.get("rows"),
                       seed=manifest.get("seed", values.get("seed")))
        for g in GROUPS:
            o = cell.outcomes.get(f"markov{GROUP_SEP}{g}")
            if o is not None:
                row[g], row[f"{g}_ci"] = o.value, o.ci
        noop, applied = (cell.outcomes.get(f"markov{GROUP_SEP}{g}") for g in ("noop", "applied"))
        if noop and applied:  # what a model that copies its input scores
            row["noop_share"] = noop.n_problems / (noop.n_problems + applied.n_problems)
        if "unseen" in row and cell.train:
            row.update(steps=cell.train.get("steps"), wall_s=cell.train.get("wall_s"),
                       final_loss=cell.train.get("final_loss"))
        rows.append(row)
    return rows, keys


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    head = keys + ["seed", "examples/rule", "effective rules", "seen acc", "unseen acc [95% CI]", "no-op acc",
                   "applied acc", "steps", "train stage min", "final loss"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lead = [_fmt(r.get(k)) for k in keys] + [str(r.get("seed", ""))]
        per_rule = f"{r['rows'] / r['I']:,.0f}" if r.get("rows") and r.get("I") else ""
        eff = f"{r['effective_rules']:,.0f}" if r.get("effective_rules") else ""
        if "unseen" not in r:
            lines.append("| " + " | ".join(lead + [per_rule, eff, "pending"] + [""] * (len(head) - len(lead) - 3)) + " |")
            continue
        lo, hi = r["unseen_ci"]
        lines.append("| " + " | ".join(lead + [
            per_rule, eff, f"{r['seen']:.3f}", f"**{r['unseen']:.3f}** [{lo:.3f}, {hi:.3f}]",
            f"{r.get('noop', float('nan')):.3f}", f"{r.get('applied', float('nan')):.3f}", str(r.get("steps", "")),
            f"{r['wall_s'] / 60:.1f}" if r.get("wall_s") else "",
            f"{r['final_loss']:.4f}" if r.get("final_loss") is not None else ""]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], keys: list[str], x_key: str, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from codemix.core.artifacts import atomic_path

    done = [r for r in rows if "unseen" in r]
    if not done:
        raise CodemixError(f"{title}: no cell has results yet")
    series_keys = [k for k in keys if k != x_key]
    xs_all = list(dict.fromkeys(r[x_key] for r in done))
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs_all)
    log = numeric and is_log_axis(xs_all)
    position = (lambda v: float(v)) if numeric else (lambda v: float(xs_all.index(v)))  # noqa: E731
    labels = list(dict.fromkeys(", ".join(f"{k}={_fmt(r.get(k))}" for k in series_keys) for r in done))
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120, sharey=True)
    for ax, group in zip(axes, ("unseen", "seen"), strict=True):
        for i, label in enumerate(labels):
            mine = [r for r in done if ", ".join(f"{k}={_fmt(r.get(k))}" for k in series_keys) == label]
            mine.sort(key=lambda r: position(r[x_key]))
            x = np.array([position(r[x_key]) for r in mine])
            y = np.array([r[group] for r in mine])
            err = [[r[group] - r[f"{group}_ci"][0] for r in mine], [r[f"{group}_ci"][1] - r[group] for r in mine]]
            color = colors(i % 10)
            ax.errorbar(x, y, yerr=err, fmt="o", color=color, capsize=3, ms=5, label=label or "one trained model per cell and seed")
            means = {}
            for xi, yi in zip(x, y, strict=True):  # seeds of one x: the line goes through their mean
                means.setdefault(xi, []).append(yi)
            mx = sorted(means)
            ax.plot(mx, [np.mean(means[v]) for v in mx], color=color, alpha=0.6)
        shares = [r["noop_share"] for r in done if "noop_share" in r]
        if group == "unseen" and "noop_fraction" not in keys and shares:
            ax.axhline(float(np.mean(shares)), color="grey", ls=":", lw=1, label="copying the input (no-op share)")
        if log:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.set_xlabel(x_key + (" (log scale)" if log else ""))
        ax.set_title(f"{'held-out (unseen)' if group == 'unseen' else 'training (seen)'} rules, 95% CI", fontsize=10)
    axes[0].set_ylabel("exact-match accuracy (greedy)")
    axes[0].legend(loc="best", fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--x", default=None, help="swept key on the x axis (default: rules, else the first swept key)")
    p.add_argument("--png", type=Path, default=None, help="plot path (default: <sweep_dir>/markov.png)")
    p.add_argument("--title", default=None, help="plot title (default: the sweep's name)")
    a = p.parse_args(argv)
    try:
        rows, keys = collect(a.sweep_dir)
        x_key = a.x or ("rules" if "rules" in keys else keys[0] if keys else "seed")
        if x_key not in keys:
            raise CodemixError(f"--x {x_key!r}: not a swept key (swept: {', '.join(keys) or 'none'})")
        print(table(rows, keys))
        png = plot(rows, keys, x_key, a.png or a.sweep_dir / "markov.png", a.title or a.sweep_dir.name)
    except CodemixError as e:
        print(f"markov_report: error: {e}")
        return 2
    from codemix.core.artifacts import atomic_write_json

    atomic_write_json(a.sweep_dir / "markov-report.json", rows)
    print(f"plot: {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
