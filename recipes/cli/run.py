"""`codemix run RECIPE`: mix -> train -> eval as the recipe declares, ending with a summary."""

from __future__ import annotations

import argparse

from codemix.recipes.cli import add_guard_args, add_recipe_args


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--force", action="store_true", help="rebuild every stage even when up to date")
    add_guard_args(p)


def run(args: argparse.Namespace) -> int:
    from codemix.api.stages import run as run_stages

    # The stages print their progress and the summary table as they go.
    run_stages(args.recipe, overrides=args.overrides, force=args.force, wait=args.wait, keep=args.keep)
    return 0
