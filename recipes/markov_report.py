"""Table and plot of a markov sweep: accuracy on held-out (unseen) and seen rules against the
number of training rules I, one row per cell, from each cell's eval/markov/results.json.

    python -m recipes.markov_report runs/markov-diversity [--png recipes/figures/markov-diversity.png]

Cells are the run directories under <sweep>/cells/ (as `codemix sweep` lays them out); a cell
without results is listed as pending. The plot has I on a log axis, unseen and seen accuracy
with their 95% bootstrap CIs, one point per seed. Until `codemix report` covers sweeps of
exact-match benchmarks, this is the markov recipes' report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for cell in sorted((sweep_dir / "cells").iterdir()):
        mix = cell / "mix" / "manifest.json"
        res = cell / "eval" / "markov" / "results.json"
        if not mix.is_file():
            continue
        manifest = json.loads(mix.read_text())
        facts = next((s.get("markov") for s in manifest["sources"] if s.get("markov")), {})
        row = {"cell": cell.name, "rules": facts.get("rules"), "effective_rules": facts.get("effective_rules"),
               "seed": manifest["seed"], "rows": manifest["rows"]}
        if res.is_file():
            r = json.loads(res.read_text())
            row.update({g: r["groups"][g]["accuracy"] for g in ("unseen", "seen", "noop", "applied")})
            row.update({f"{g}_ci": r["groups"][g]["accuracy_ci"] for g in ("unseen", "seen")})
            train = json.loads((cell / "train" / "manifest.json").read_text())
            row.update(steps=train["steps"], train_s=train["train_s"], final_loss=train["final_loss"])
        rows.append(row)
    return sorted(rows, key=lambda r: (r["rules"], r["seed"]))


def table(rows: list[dict[str, Any]]) -> str:
    head = "| I | seed | examples/rule | seen acc | unseen acc [95% CI] | steps | train min | final loss |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "unseen" not in r:
            lines.append(f"| {r['rules']:,} | {r['seed']} | {r['rows'] // r['rules']:,} | pending | pending | | | |")
            continue
        lo, hi = r["unseen_ci"]
        lines.append(f"| {r['rules']:,} | {r['seed']} | {r['rows'] // r['rules']:,} | {r['seen']:.3f} | "
                     f"{r['unseen']:.3f} [{lo:.3f}, {hi:.3f}] | {r['steps']} | {r['train_s'] / 60:.1f} | "
                     f"{r['final_loss']:.3f} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if "unseen" in r]
    fig, ax = plt.subplots(figsize=(6, 4))
    for group, color in (("unseen", "tab:red"), ("seen", "tab:blue")):
        xs = [r["rules"] for r in done]
        ys = [r[group] for r in done]
        err = [[r[group] - r[f"{group}_ci"][0] for r in done], [r[f"{group}_ci"][1] - r[group] for r in done]]
        ax.errorbar(xs, ys, yerr=err, fmt="o", color=color, capsize=3, label=f"{group} rules")
    ax.axhline(0.2, color="grey", ls=":", lw=1, label="no-op share (copying the input)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("distinct training rules I (log scale)")
    ax.set_ylabel("exact-match accuracy (greedy)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", type=Path)
    p.add_argument("--png", type=Path, default=None, help="plot path (default: <sweep_dir>/markov.png)")
    a = p.parse_args()
    rows = collect(a.sweep_dir)
    print(table(rows))
    png = a.png or a.sweep_dir / "markov.png"
    plot(rows, png, f"{a.sweep_dir.name}: held-out vs seen rules")
    (a.sweep_dir / "markov-report.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(f"plot: {png}")


if __name__ == "__main__":
    main()
