"""`codemix validate [RECIPE ...]`: check recipe files without running anything."""

from __future__ import annotations

import argparse

from codemix.recipes.loader import bundled_recipes, load_recipe


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipes", nargs="*", help="recipe files or bundled names (default: every bundled recipe)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value before validating (repeatable)")
    p.add_argument("--show", action="store_true", help="print the resolved recipe (all defaults filled in) as YAML")


def run(args: argparse.Namespace) -> int:
    import sys

    import yaml

    from codemix.recipes.preflight import preflight

    names = args.recipes or list(bundled_recipes())
    for name in names:
        recipe, path = load_recipe(name, args.overrides)
        warnings = preflight(recipe, path, args.overrides)
        stages = [s for s in ("mix", "train", "eval") if getattr(recipe, s) is not None]
        cells = ""
        if recipe.sweep is not None:  # every cell is validated too, before anything runs
            from codemix.recipes.sweep.runner import load_sweep

            cells = f"  sweep={len(load_sweep(name, args.overrides).cells)} cells"
        print(f"ok  {path}  name={recipe.name}  stages={'+'.join(stages) or 'none'}  hash={recipe.hash()[:12]}{cells}")
        for w in warnings:
            print(f"    warning: {w}", file=sys.stderr)
        if args.show:
            print(yaml.safe_dump(recipe.resolved(), sort_keys=False))
    return 0
