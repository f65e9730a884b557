"""Result tables (terminal) and plots (PNG) shared by `codemix eval` and `codemix run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _cell(results: dict[str, Any] | None, key: str) -> str:
    if not results or key not in results.get("pass_at_k", {}):
        return "-"
    value = results["pass_at_k"][key]
    lo, hi = results.get("pass_at_k_ci", {}).get(key, (None, None))
    ci = f" [{lo * 100:.1f}, {hi * 100:.1f}]" if lo is not None else ""
    return f"{value * 100:.1f}{ci}"


def results_table(results: dict[str, dict], reference: dict[str, dict] | None = None) -> str:
    """benchmark x pass@k, in percent with 95% bootstrap CIs; the base model's row beside it."""
    keys = sorted({k for r in results.values() for k in r.get("pass_at_k", {})}, key=lambda s: int(s.split("@")[1]))
    header = ["benchmark", "model", "tasks"] + [f"{k} % [95% CI]" for k in keys]
    rows = []
    for bench, res in results.items():
        rows.append([bench, "trained" if reference is not None else "model", str(res.get("n_tasks", "-"))]
                    + [_cell(res, k) for k in keys])
        if reference is not None and bench in reference:
            rows.append(["", "base", str(reference[bench].get("n_tasks", "-"))] + [_cell(reference[bench], k) for k in keys])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def plot_results(results: dict[str, dict], reference: dict[str, dict] | None, path: str | Path, title: str) -> Path:
    """Bar chart of pass@1 (or the smallest k) per benchmark, with CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mixing.artifacts import atomic_path

    benches = list(results)
    series = [("trained" if reference is not None else "model", results)]
    if reference is not None:
        series.append(("base", reference))
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(benches) + 2), 3.2), dpi=120)
    width = 0.8 / len(series)
    for i, (label, res) in enumerate(series):
        vals, errs = [], [[], []]
        for b in benches:
            r = res.get(b, {})
            key = min(r.get("pass_at_k", {"pass@1": 0}), key=lambda s: int(s.split("@")[1]), default="pass@1")
            v = r.get("pass_at_k", {}).get(key, 0.0) * 100
            lo, hi = r.get("pass_at_k_ci", {}).get(key, (v / 100, v / 100))
            vals.append(v)
            errs[0].append(max(0.0, v - lo * 100))
            errs[1].append(max(0.0, hi * 100 - v))
        xs = [j + i * width for j in range(len(benches))]
        ax.bar(xs, vals, width, yerr=errs, capsize=3, label=label)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(benches))], benches)
    ax.set_ylabel("pass@1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
