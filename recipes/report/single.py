"""One run's result table and summary.png: the one-cell case of `codemix report`'s tables
(recipes/report_tables.py) and plots (recipes/report_plots.py), used by `codemix run` and
`codemix eval`. The models are named `trained` and `base` (the untrained starting model)."""

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


def results_table(results: dict[str, dict], reference: dict[str, dict] | None = None, *, label: str = "trained",
                  composition: dict[str, Any] | None = None, train: dict[str, Any] | None = None) -> str:
    """model rows (trained, base) x benchmark columns, percentages with 95% bootstrap CIs."""
    from codemix.recipes.report.tables import cell_columns, text_table

    cells, benches = _cells(results, reference, label, composition, train)
    return text_table(cell_columns(cells, benches, label="model"), cells)


def plot_results(results: dict[str, dict], reference: dict[str, dict] | None, path: str | Path, title: str, *,
                 label: str = "trained", composition: dict[str, Any] | None = None) -> Path:
    """Grouped bars per benchmark: the trained model and the base model, values and CIs drawn."""
    from codemix.recipes.report.plots import plot_bars

    cells, benches = _cells(results, reference, label, composition, None)
    what = f"{label} vs base model" if reference is not None else f"{label} model"
    mix = mix_text(composition)
    return plot_bars([(c.name, c.outcomes) for c in cells], benches, path,
                     f"{title}: {what}" + (f"\n({mix})" if mix else ""))
