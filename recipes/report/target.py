"""What a report analyses: the benchmarks (the default), or one per-domain validation loss.

`--target loss:<domain>` fits and compares the cells on the validation loss of one domain
(recorded by the train stage when the recipe sets mix.validation; every cell of a sweep is
measured on the same validation rows, so they pair like problems do). RegMix fits mixtures to
exactly this: a smooth target that small proxy models already resolve, where pass@1 of a tiny
model is often 0 everywhere.
"""

from __future__ import annotations

import dataclasses

from codemix.core.errors import CodemixError
from codemix.recipes.report.data import LOSS_PREFIX
from codemix.recipes.report.study import Study


def is_loss(target: str | None) -> bool:
    return bool(target) and str(target).startswith(LOSS_PREFIX)


def for_target(study: Study, target: str | None) -> Study:
    """The study with each cell's outcomes reduced to what `target` names: unchanged for None or
    `average`; one benchmark; or `loss:<domain>` (the cell's validation loss on that domain)."""
    if target in (None, "average"):
        return study
    if not is_loss(target):
        known = study.benchmarks()
        if target not in known:
            raise CodemixError(f"--target {target!r}: not a benchmark of these runs ({', '.join(known) or 'none'}), "
                               "`average`, or loss:<domain>")
        cells = [dataclasses.replace(c, outcomes={target: c.outcomes[target]} if target in c.outcomes else {})
                 for c in study.cells]
        base = {target: study.base[target]} if target in study.base else {}
        return dataclasses.replace(study, cells=cells, base=base)
    cells, missing, known = [], [], set()
    for c in study.cells:
        losses = getattr(c, "losses", None) or {}
        known.update(losses)
        if c.status == "done" and target not in losses:
            missing.append(c.name)
        cells.append(dataclasses.replace(c, outcomes={target: losses[target]} if target in losses else {}))
    if missing:
        have = f"; recorded: {', '.join(sorted(known))}" if known else (
            "; no cell recorded a validation loss (set mix.validation: {rows_per_domain: N} in the recipe)")
        raise CodemixError(f"--target {target}: cell(s) {', '.join(missing[:4])} have no validation loss for "
                           f"{target.removeprefix(LOSS_PREFIX)!r}{have}")
    return dataclasses.replace(study, cells=cells, base={})
