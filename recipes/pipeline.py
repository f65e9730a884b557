"""`codemix run`: every stage a recipe declares, in order, each skipped when up to date.

Stages talk only through files: mix writes <out>/mix, train reads it and writes <out>/train,
eval reads the checkpoint and writes <out>/eval (and <out>/eval-base for the reference model).
Each stage's manifest is written last, so a killed run resumes at the stage it was in.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, package_versions, stage_dir_guard, utc_now
from codemix.core.errors import CodemixError
from codemix.recipes.schema import Recipe


def run_mix(recipe: Recipe, *, force: bool = False, wait: float | bool = False, keep: bool = False) -> dict[str, Any]:
    from codemix.mixing.pipeline import build_mixture

    manifest, built = build_mixture(recipe.mix, seed=recipe.seed, out_dir=Path(recipe.output_dir) / "mix",
                                    recipe=recipe.resolved(), recipe_hash=recipe.hash(), force=force,
                                    wait=wait, keep=keep)
    print(f"[mix] {'built' if built else 'up to date'}: {manifest['rows']} rows, content {manifest['content_hash'][:12]}")
    return manifest


def run_train(recipe: Recipe, *, force: bool = False, wait: float | bool = False, keep: bool = False) -> dict[str, Any]:
    from codemix.finetune.trainer import train

    out = Path(recipe.output_dir)
    manifest, built = train(recipe.train, seed=recipe.seed, mixture_dir=out / "mix", out_dir=out / "train",
                            recipe=recipe.resolved(), recipe_hash=recipe.hash(), force=force, wait=wait,
                            keep=keep)
    print(f"[train] {'trained' if built else 'up to date'}: final loss {manifest['final_loss']:.4f}, "
          f"{manifest['tokens']} tokens in {manifest['wall_s']:.0f} s")
    return manifest


def eval_targets(recipe: Recipe) -> tuple[str, str | None, str | None]:
    """(model to score, adapter, reference base model or None)."""
    ev = recipe.eval
    if recipe.train is not None:
        from codemix.finetune.checkpoint import base_model_ref

        ckpt = str(Path(recipe.output_dir) / "train")
        return ckpt, None, (base_model_ref(ckpt) if ev.include_base else None)
    if ev.model is None:
        raise CodemixError("eval.model is required when the recipe has no train section (the model to score)")
    return ev.model, ev.adapter, (ev.model if ev.include_base and ev.adapter else None)


def run_eval(recipe: Recipe, *, force: bool = False, wait: float | bool = False,
             keep: bool = False) -> tuple[dict, dict | None]:
    from codemix.eval.evaluate import evaluate_model

    ev = recipe.eval
    if any("{output_dir}" in path for path in ev.problems.values()):
        # e.g. markov's problems come from this run's own mixture: {markov: "{output_dir}/mix"}
        ev = ev.model_copy(update={"problems": {b: path.replace("{output_dir}", recipe.output_dir)
                                                for b, path in ev.problems.items()}})
    model, adapter, reference = eval_targets(recipe)
    common = dict(seed=recipe.seed, force=force, recipe_hash=recipe.hash(), wait=wait, keep=keep)
    results = evaluate_model(model, ev, adapter=adapter, out_dir=Path(recipe.output_dir) / "eval", label=model,
                             **common)
    ref = None
    if reference is not None:
        # Like for like: the base model gets the same prompts as the trained one. A codemix
        # checkpoint defaults to instruction prompts, a plain base model to completion prompts.
        base_cfg = ev
        if recipe.train is not None and ev.prompt_style == "auto":
            base_cfg = ev.model_copy(update={"prompt_style": "instruction"})
        ref = evaluate_model(reference, base_cfg, adapter=None, out_dir=Path(recipe.output_dir) / "eval-base",
                             label=f"the untrained base model {reference} (for reference)", **common)
    return results, ref


SUMMARY_KEYS = ("metric", "pass_at_k", "pass_at_k_ci", "accuracy", "accuracy_ci", "groups", "n_tasks")


def _headline(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers summary.json keeps of a results.json (either scorer kind)."""
    return {k: results[k] for k in SUMMARY_KEYS if k in results}


def run_recipe(recipe: Recipe, recipe_path: Path, *, force: bool = False, wait: float | bool = False,
               keep: bool = False) -> dict[str, Any]:
    """Run mix -> train -> eval as declared; write <output_dir>/summary.json (+ summary.png)."""
    out = Path(recipe.output_dir)
    # The whole run holds its output directory, so a second `codemix run` on it stops (or waits)
    # at once instead of interleaving with this one stage by stage; each stage also locks its own
    # directory (re-entrant here) against `codemix mix|train|eval` run by hand meanwhile.
    with stage_dir_guard(out, what=f"codemix run {recipe_path.name}", wait=wait):
        return _run_recipe(recipe, recipe_path, out, force=force, wait=wait, keep=keep)


def _run_recipe(recipe: Recipe, recipe_path: Path, out: Path, *, force: bool, wait: float | bool,
                keep: bool) -> dict[str, Any]:
    from codemix.recipes.report.single import plot_results, results_table
    from codemix.recipes.report.data import mix_composition

    t0 = time.time()
    stages: dict[str, Any] = {}
    composition = None
    if recipe.mix is not None:
        manifest = run_mix(recipe, force=force, wait=wait, keep=keep)
        composition = mix_composition(manifest)  # the mixing ratio and rows per domain / source
        stages["mix"] = {"content_hash": manifest["content_hash"], **composition}
    if recipe.train is not None:
        m = run_train(recipe, force=force, wait=wait, keep=keep)
        stages["train"] = {"final_loss": m["final_loss"], "tokens": m["tokens"], "wall_s": m["wall_s"]}
    summary: dict[str, Any] = {"recipe": str(recipe_path), "name": recipe.name, "recipe_hash": recipe.hash(),
                               "stages": stages, "trained": {}, "base": None}
    if recipe.eval is not None:
        results, ref = run_eval(recipe, force=force, wait=wait, keep=keep)
        # Named as the table's model column: `trained` (the model scored), `base` (the reference).
        summary["trained"] = {b: _headline(r) for b, r in results.items()}
        if ref is not None:
            summary["base"] = {b: _headline(r) for b, r in ref.items()}
        print()
        print(results_table(summary["trained"], summary["base"], composition=composition,
                            train=stages.get("train")))
        plot_results(summary["trained"], summary["base"], out / "summary.png", title=recipe.name,
                     composition=composition)
    summary.update({"wall_s": round(time.time() - t0, 2), "versions": package_versions(), "created": utc_now()})
    atomic_write_json(out / "summary.json", summary)
    print(f"\nsummary: {out / 'summary.json'}" + (f", plot: {out / 'summary.png'}" if recipe.eval else ""))
    return summary
