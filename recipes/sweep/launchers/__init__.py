"""Launchers run a sweep's cells somewhere: one module per launcher, chosen by name.

A launcher module defines `launch(sweep, units, options, on_done) -> {unit name: outcome}`, and
may define `preflight(sweep, options)`, called before anything is written (a one-line
CodemixError when the launcher cannot run the sweep).
Every launcher runs a unit through `codemix.recipes.sweep.cell.run_unit`, which takes the unit's
directory lock, so launchers of any kind on any number of machines can share one output
directory: a unit held by another launcher comes back as "running" and is left alone.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from types import ModuleType

from codemix.core.errors import CodemixError

LAUNCHERS = {
    "local": "codemix.recipes.sweep.launchers.local",
    "slurm": "codemix.recipes.sweep.launchers.slurm",
}


@dataclasses.dataclass
class LaunchOptions:
    parallel: int | None = None         # local: cells at once
    gpus_per_cell: int | None = None    # local: CUDA_VISIBLE_DEVICES per cell; slurm: GPUs per node
    fail_fast: bool = False
    cluster: str | None = None          # slurm: submitit cluster (slurm, or local for testing)
    cancel_on_exit: bool = False        # slurm: Ctrl-C cancels the jobs still queued or running
    slurm: dict = dataclasses.field(default_factory=dict)  # overrides of sweep.slurm from flags


OnDone = Callable[[object, str, str], None]  # (unit, outcome, detail)


def get_launcher(name: str) -> ModuleType:
    if name not in LAUNCHERS:
        raise CodemixError(f"unknown launcher {name!r}; available: {', '.join(LAUNCHERS)}")
    return importlib.import_module(LAUNCHERS[name])


def ordered(units: list) -> list:
    """Units with each dependent one placed right after what it depends on."""
    by_name = {u.name: u for u in units}
    out = [u for u in units if not (u.depends_on and u.depends_on in by_name)]
    for u in units:
        if u.depends_on and u.depends_on in by_name:
            out.insert(out.index(by_name[u.depends_on]) + 1, u)
    return out
