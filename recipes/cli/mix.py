"""`codemix mix RECIPE`: build the recipe's training mixture (or say it is up to date)."""

from __future__ import annotations

import argparse

from codemix.recipes.cli import add_guard_args, add_recipe_args


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--force", action="store_true", help="rebuild even if the mixture is up to date")
    add_guard_args(p)


def run(args: argparse.Namespace) -> int:
    from codemix.api.stages import mix
    from codemix.mixing.report import summary

    result = mix(args.recipe, overrides=args.overrides, force=args.force, wait=args.wait, keep=args.keep)
    print(summary(result.data, result.out_dir, result.built))
    return 0
