"""`codemix sweep RECIPE`: run every cell of a recipe's `sweep:` grid, skipping finished ones."""

from __future__ import annotations

import argparse
import threading
import time

from codemix.recipes.cli import add_recipe_args


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--plan", action="store_true", help="print the cells and their state (done, running, failed, pending); run nothing")
    p.add_argument("--cells", metavar="NAME,...", help="run only these cells (names as --plan prints them; separate with ';' if names contain commas)")
    p.add_argument("--launcher", choices=("local", "slurm"), help="where cells run (default: the recipe's sweep.launcher, else local)")
    p.add_argument("--parallel", type=int, metavar="N", help="local: cells at once (default: sweep.parallel, else one per GPU group on a GPU machine, else 1)")
    p.add_argument("--gpus-per-cell", type=int, metavar="N", help="GPUs per cell (local: CUDA_VISIBLE_DEVICES groups; slurm: --gpus-per-node)")
    p.add_argument("--fail-fast", action="store_true", help="stop starting cells after the first failure (default: report it and go on)")
    s = p.add_argument_group("slurm launcher (override the recipe's sweep.slurm)")
    s.add_argument("--partition", help="Slurm partition")
    s.add_argument("--time", help="wall-time limit per cell, e.g. 12:00:00")
    s.add_argument("--account", help="Slurm account")
    s.add_argument("--qos", help="Slurm quality of service")
    s.add_argument("--sbatch", dest="sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, e.g. --sbatch constraint=h100 (repeatable)")
    s.add_argument("--cluster", choices=("slurm", "local"), default="slurm",
                   help="submitit cluster: slurm, or local to run the same job array as local processes (no Slurm needed)")


def _cell_names(spec: str | None) -> list[str] | None:
    if not spec:
        return None
    # Cell names contain commas themselves (general_fraction=0.1,seed=2): ';' always separates
    # cells; a plain comma list is split against the known names in _resolve_cells.
    return [s.strip() for s in spec.split(";") if s.strip()]


def _resolve_cells(sweep, spec: str | None) -> list:
    names = _cell_names(spec)
    if names is None:
        return sweep.cells
    known = {c.name for c in sweep.cells}
    if len(names) == 1 and names[0] not in known:
        names = _split_commas(names[0], known)
    return sweep.select(names)


def _split_commas(spec: str, known: set[str]) -> list[str]:
    """`a=1,b=2,a=3,b=4` -> the cell names it is made of (greedy, longest known name first)."""
    parts, out, i = spec.split(","), [], 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            candidate = ",".join(parts[i:j])
            if candidate in known or j == i + 1:
                out.append(candidate)
                i = j
                break
    return out


def run(args: argparse.Namespace) -> int:
    from codemix.core.errors import CodemixError
    from codemix.recipes.sweep import runner as sw
    from codemix.recipes.sweep.launchers import LaunchOptions, get_launcher

    if args.parallel is not None and args.parallel < 1:
        raise CodemixError(f"--parallel must be >= 1, got {args.parallel}")
    if args.gpus_per_cell is not None and args.gpus_per_cell < 0:
        raise CodemixError(f"--gpus-per-cell must be >= 0, got {args.gpus_per_cell}")
    sweep = sw.load_sweep(args.recipe, args.overrides)
    cells = _resolve_cells(sweep, args.cells)
    units = cells + ([sweep.reference] if sweep.reference is not None else [])
    print(f"sweep {sweep.name}: {len(sweep.cells)} cells over {', '.join(sweep.axes)} -> {sweep.out}")
    if args.plan:
        print(sw.plan_table(sweep, units))
        return 0

    launcher_name = args.launcher or sweep.recipe.sweep.launcher
    slurm = {k: v for k, v in (("partition", args.partition), ("time", args.time), ("account", args.account),
                               ("qos", args.qos)) if v is not None}
    for item in args.sbatch:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CodemixError(f"--sbatch {item!r}: expected KEY=VALUE, e.g. --sbatch constraint=h100")
        slurm.setdefault("additional", {})[key.lstrip("-")] = value
    options = LaunchOptions(parallel=args.parallel, gpus_per_cell=args.gpus_per_cell, fail_fast=args.fail_fast,
                            cluster=args.cluster, slurm=slurm)
    launcher = get_launcher(launcher_name)
    sw.materialize(sweep, units)
    sw.write_sweep_json(sweep)
    guard, t0, finished = threading.Lock(), time.time(), []

    def on_done(unit, outcome: str, detail: str) -> None:
        with guard:
            finished.append(unit.name)
            note = sw.read_status(unit).get("error", "") if outcome == "failed" else detail
            if outcome == "running":
                note = "held by another launcher"
            print(f"[sweep] {unit.name}: {outcome}{f' ({note})' if note else ''} "
                  f"[{len(finished)}/{len(units)}, {time.time() - t0:.0f} s]", flush=True)
            sw.write_sweep_json(sweep)

    outcomes = launcher.launch(sweep, units, options, on_done)
    path = sw.write_sweep_json(sweep)
    print()
    print(sw.plan_table(sweep, units))
    print(f"\nsweep: {path} ({time.time() - t0:.0f} s)")
    return 1 if any(o == "failed" for o in outcomes.values()) else 0
