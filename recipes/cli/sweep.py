"""`codemix sweep RECIPE`: run every cell of a recipe's `sweep:` grid, skipping finished ones."""

from __future__ import annotations

import argparse
import time

from codemix.recipes.cli import add_recipe_args


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--plan", action="store_true", help="print the cells and their state (done, running, queued, failed, pending; Slurm jobs with their job id and state); run nothing")
    p.add_argument("--cells", metavar="NAME,...", help="run only these cells (names as --plan prints them; separate with ';' if names contain commas)")
    p.add_argument("--launcher", choices=("local", "slurm"), help="where cells run (default: the recipe's sweep.launcher, else local)")
    p.add_argument("--parallel", type=int, metavar="N", help="local: cells at once (default: sweep.parallel, else one per GPU group on a GPU machine, else 1)")
    p.add_argument("--gpus-per-cell", type=int, metavar="N", help="GPUs per cell (local: CUDA_VISIBLE_DEVICES groups; slurm: --gpus-per-node)")
    p.add_argument("--proxy", action="append", default=[], metavar="KEY=VALUE",
                   help="proxy -> target: run the mixture design at a cheaper scale (e.g. --proxy train.max_steps=400 --proxy train.model.arch.hidden_size=64), fit it, then run only the predicted best mixtures and a spread of others at the recipe's scale (repeatable; merged into sweep.proxy.set)")
    p.add_argument("--fail-fast", action="store_true", help="stop starting cells after the first failure (default: report it and go on)")
    s = p.add_argument_group("slurm launcher (override the recipe's sweep.slurm)")
    s.add_argument("--partition", help="Slurm partition")
    s.add_argument("--time", help="wall-time limit per cell, e.g. 12:00:00")
    s.add_argument("--account", help="Slurm account")
    s.add_argument("--qos", help="Slurm quality of service")
    s.add_argument("--sbatch", dest="sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="extra sbatch option, e.g. --sbatch constraint=h100 (repeatable)")
    s.add_argument("--cancel-on-exit", action="store_true",
                   help="on Ctrl-C, cancel the jobs still queued or running (default: list them and leave them running)")
    s.add_argument("--cluster", choices=("slurm", "local"), default="slurm",
                   help="submitit cluster: slurm, or local to run the same job array as local processes (no Slurm needed)")


def run(args: argparse.Namespace) -> int:
    from codemix.api.studies import sweep
    from codemix.core.errors import CodemixError
    from codemix.core.progress import shown

    slurm: dict = {k: v for k, v in (("partition", args.partition), ("time", args.time), ("account", args.account),
                                     ("qos", args.qos)) if v is not None}
    for item in args.sbatch:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CodemixError(f"--sbatch {item!r}: expected KEY=VALUE, e.g. --sbatch constraint=h100")
        slurm.setdefault("additional", {})[key.lstrip("-")] = value
    t0 = time.time()
    result = sweep(args.recipe, overrides=args.overrides, cells=args.cells, plan=args.plan, launcher=args.launcher,
                   parallel=args.parallel, gpus_per_cell=args.gpus_per_cell, fail_fast=args.fail_fast,
                   cluster=args.cluster, slurm=slurm, cancel_on_exit=args.cancel_on_exit,
                   proxy=args.proxy)
    if args.plan:
        print(result.plan)
        return 0
    print()
    print(result.plan)
    if "proxy" in result.data:  # a proxy -> target study: two sweeps and the choice between them
        print(f"\nproxy -> target: {shown(result.out_dir)} (proxy/, proxy-choice.json, target/; "
              f"`codemix report {shown(result.out_dir)}`) ({time.time() - t0:.0f} s)")
    else:
        print(f"\nsweep: {shown(result.out_dir / 'sweep.json')} ({time.time() - t0:.0f} s)")
    return 1 if result.failed else 0
