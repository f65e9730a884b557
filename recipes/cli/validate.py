"""`codemix validate [RECIPE ...]`: check recipe files without running anything."""

from __future__ import annotations

import argparse


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipes", nargs="*", help="recipe files or bundled names (default: every bundled recipe)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value before validating (repeatable)")
    p.add_argument("--show", action="store_true", help="print the resolved recipe (all defaults filled in) as YAML")
    p.add_argument("--launcher", choices=("local", "slurm"),
                   help="slurm: also check each sweep's sweep.slurm request against this cluster (sinfo)")


def run(args: argparse.Namespace) -> int:
    import sys

    from codemix.api.stages import validate
    from codemix.recipes.loader import bundled_recipes

    # One recipe at a time, so that each line is printed before the next recipe can fail.
    for name in args.recipes or list(bundled_recipes()):
        (result,) = validate([name], args.overrides, launcher=args.launcher)
        cells = f"  sweep={result.cells} cells" if result.cells is not None else ""
        print(f"ok  {result.path}  name={result.recipe.name}  stages={'+'.join(result.stages) or 'none'}  "
              f"hash={result.recipe.hash()[:12]}{cells}")
        for w in result.warnings:
            print(f"    warning: {w}", file=sys.stderr)
        if args.show:
            import yaml

            print(yaml.safe_dump(result.recipe.resolved(), sort_keys=False))
    return 0
