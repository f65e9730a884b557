"""One run's result table and summary.png: the one-cell case of `codemix report`'s tables
(recipes/report/tables.py) and plots (recipes/report/plots.py), used by `codemix run`, `codemix
eval` and a sweep's reference. The models are named `trained` and `base` (the untrained starting
model); a run scored on a subset of a benchmark says so next to its n (`n=40 of 164 (--limit)`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codemix.recipes.report.data import Cell, Outcome, mix_text


def _outcomes(results: dict[str, dict] | None) -> dict[str, Outcome]:
    return {b: Outcome.from_results({"benchmark": b, **r}) for b, r in (results or {}).items()}


def _cells(results, reference, label, composition, train) -> tuple[list[Cell], list[str]]:
    cells = [Cell(label, outcomes=_outcomes(results), mix=composition, train=train)]
    if reference is not None:
        cells.append(Cell("base", outcomes=_outcomes(reference)))
    return cells, list(results)


def subsets(*results: dict[str, dict] | None) -> dict[str, dict[str, Any]]:
    """Per benchmark, results.json's `subset` ({of, by}) where only part of it was scored."""
    return {b: r["subset"] for res in results for b, r in (res or {}).items() if r.get("subset")}


def results_table(results: dict[str, dict], reference: dict[str, dict] | None = None, *, label: str = "trained",
                  composition: dict[str, Any] | None = None, train: dict[str, Any] | None = None) -> str:
    """model rows (trained, base) x benchmark columns, percentages with 95% bootstrap CIs."""
    from codemix.recipes.report.tables import cell_columns, text_table

    cells, benches = _cells(results, reference, label, composition, train)
    return text_table(cell_columns(cells, benches, label="model", subsets=subsets(results, reference)), cells)


def plot_results(results: dict[str, dict], reference: dict[str, dict] | None, path: str | Path, title: str, *,
                 label: str = "trained", composition: dict[str, Any] | None = None) -> Path:
    """Grouped bars per benchmark: the trained model and the base model, values and CIs drawn."""
    from codemix.recipes.report.plots import plot_bars

    cells, benches = _cells(results, reference, label, composition, None)
    name = "untrained base" if label == "base" else label
    what = f"{name} vs base model" if reference is not None else f"{name} model"
    mix = mix_text(composition)
    return plot_bars([(c.name, c.outcomes) for c in cells], benches, path,
                     f"{title}: {what}" + (f"\n({mix})" if mix else ""), subsets=subsets(results, reference))
