"""`codemix run RECIPE`: mix -> train -> eval as the recipe declares, ending with a summary."""

from __future__ import annotations

import argparse

from codemix.recipes.cli import add_guard_args, add_recipe_args


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--force", action="store_true", help="rebuild every stage even when up to date")
    add_guard_args(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from codemix.recipes.loader import load_recipe
    from codemix.recipes.pipeline import run_recipe
    from codemix.recipes.preflight import preflight

    recipe, path = load_recipe(args.recipe, args.overrides)
    if recipe.sweep is not None:
        print(f"note: {path} declares a sweep; `codemix run` runs its base values only "
              f"(`codemix sweep {args.recipe}` runs the grid)")
    # Everything knowable before running is checked before the first stage starts.
    for warning in preflight(recipe, path, args.overrides, hub_required=True):
        print(f"[validate] warning: {warning}", file=sys.stderr)
    run_recipe(recipe, path, force=args.force, wait=args.wait, keep=args.keep)
    return 0
