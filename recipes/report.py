"""Result tables (terminal) and plots (PNG) shared by `codemix eval` and `codemix run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def metric_values(results: dict[str, Any]) -> dict[str, tuple[float, list[float] | None]]:
    """{"pass@1": (value, [lo, hi]), ...} or {"accuracy": ...}: the headline numbers of either
    scorer kind, as fractions."""
    if "accuracy" in results:
        return {"accuracy": (results["accuracy"], results.get("accuracy_ci"))}
    return {k: (v, results.get("pass_at_k_ci", {}).get(k)) for k, v in results.get("pass_at_k", {}).items()}


def _metric_order(key: str) -> tuple[int, int]:
    return (1, 0) if key == "accuracy" else (0, int(key.split("@")[1]))


def _cell(results: dict[str, Any] | None, key: str) -> str:
    values = metric_values(results) if results else {}
    if key not in values:
        return "-"
    value, ci = values[key]
    lo, hi = ci if ci else (None, None)
    ci = f" [{lo * 100:.1f}, {hi * 100:.1f}]" if lo is not None else ""
    return f"{value * 100:.1f}{ci}"


def results_table(results: dict[str, dict], reference: dict[str, dict] | None = None) -> str:
    """benchmark x pass@k, in percent with 95% bootstrap CIs; the base model's row beside it."""
    keys = sorted({k for r in results.values() for k in metric_values(r)}, key=_metric_order)
    header = ["benchmark", "model", "tasks"] + [f"{k} % [95% CI]" for k in keys]
    rows = []
    for bench, res in results.items():
        rows.append([bench, "trained", str(res.get("n_tasks", "-"))]
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
    series = [("trained", results)]
    if reference is not None:
        series.append(("base", reference))
    fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(benches) + 2), 3.2), dpi=120)
    width = 0.8 / len(series)
    for i, (label, res) in enumerate(series):
        vals, errs = [], [[], []]
        for b in benches:
            values = metric_values(res.get(b, {}))
            key = min(values, key=_metric_order, default=None)
            value, ci = values[key] if key else (0.0, None)
            v = value * 100
            lo, hi = ci if ci else (value, value)
            vals.append(v)
            errs[0].append(max(0.0, v - lo * 100))
            errs[1].append(max(0.0, hi * 100 - v))
        xs = [j + i * width for j in range(len(benches))]
        ax.bar(xs, vals, width, yerr=errs, capsize=3, label=label)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(benches))], benches)
    ax.set_ylabel("pass@1 / accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)
