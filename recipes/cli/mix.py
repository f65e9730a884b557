"""`codemix mix RECIPE`: build the recipe's training mixture (or say it is up to date)."""

from __future__ import annotations

import argparse
from pathlib import Path

from codemix.core.errors import CodemixError
from codemix.recipes.cli import add_guard_args, add_recipe_args
from codemix.recipes.loader import load_recipe


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--force", action="store_true", help="rebuild even if the mixture is up to date")
    add_guard_args(p)


def run(args: argparse.Namespace) -> int:
    from codemix.mixing.pipeline import build_mixture
    from codemix.mixing.report import summary

    recipe, path = load_recipe(args.recipe, args.overrides)
    if recipe.mix is None:
        raise CodemixError(f"{path}: the recipe has no mix section (nothing to build)")
    out_dir = Path(recipe.output_dir) / "mix"
    manifest, built = build_mixture(recipe.mix, seed=recipe.seed, out_dir=out_dir, recipe=recipe.resolved(),
                                    recipe_hash=recipe.hash(), force=args.force, wait=args.wait, keep=args.keep)
    print(summary(manifest, out_dir, built))
    return 0
