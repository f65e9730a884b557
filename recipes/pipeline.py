"""`codemix run`: every stage a recipe declares, in order, each skipped when up to date.

Stages talk only through files: mix writes <out>/mix, train reads it and writes <out>/train,
eval reads the checkpoint and writes <out>/eval (and <out>/eval-base for the reference model).
Each stage's manifest is written last, so a killed run resumes at the stage it was in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, package_versions, stage_dir_guard, utc_now
from codemix.core.errors import CodemixError
from codemix.core.progress import shown
from codemix.recipes.schema import Recipe


def build_recipe_mixture(recipe: Recipe, *, force: bool = False, wait: float | bool = False,
                         keep: bool = False) -> tuple[dict[str, Any], bool]:
    """Build <output_dir>/mix unless it is up to date: (manifest, whether it was built)."""
    from codemix.mixing.pipeline import build_mixture

    if recipe.mix is None:
        raise CodemixError(f"{recipe.source or recipe.name}: the recipe has no mix section (nothing to build)")
    return build_mixture(recipe.mix, seed=recipe.seed, out_dir=Path(recipe.output_dir) / "mix",
                         recipe=recipe.resolved(), recipe_hash=recipe.hash(), force=force, wait=wait, keep=keep)


def run_mix(recipe: Recipe, *, force: bool = False, wait: float | bool = False, keep: bool = False) -> dict[str, Any]:
    manifest, built = build_recipe_mixture(recipe, force=force, wait=wait, keep=keep)
    print(f"[mix] {'built' if built else 'up to date'}: {manifest['rows']} rows, content {manifest['content_hash'][:12]}")
    return manifest


def run_train(recipe: Recipe, *, force: bool = False, wait: float | bool = False, keep: bool = False) -> dict[str, Any]:
    from codemix.finetune.trainer import train, wall_time_text

    out = Path(recipe.output_dir)
    manifest, built = train(recipe.train, seed=recipe.seed, mixture_dir=out / "mix", out_dir=out / "train",
                            recipe=recipe.resolved(), recipe_hash=recipe.hash(), force=force, wait=wait,
                            keep=keep)
    print(f"[train] {'trained' if built else 'up to date'}: final loss {manifest['final_loss']:.4f}, "
          f"{manifest['tokens']} tokens in {wall_time_text(manifest)}")
    return manifest


# ---------------------------------------------------------------- training in N processes

def in_launched_process() -> bool:
    """True inside one of the N processes that torchrun / accelerate launch started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def train_recipe(recipe: Recipe, *, reference: str | None = None, overrides: list[str] | tuple[str, ...] = (),
                 num_processes: int = 1, accelerate_config: str | None = None, force: bool = False,
                 wait: float | bool = False, keep: bool = False) -> tuple[dict[str, Any], bool, bool]:
    """The train stage of `recipe`, its mixture built first when missing or stale.

    With `num_processes` > 1 (or an accelerate config) the stage is relaunched as that many
    data-parallel processes of `python -m codemix train REFERENCE --set OVERRIDES`; a recipe
    that was not read from a file (`reference` None) is written to <output_dir>/recipe.yaml for
    them. Returns (train manifest, whether it trained, whether this is the main process)."""
    if recipe.train is None:
        raise CodemixError(f"{recipe.source or recipe.name}: the recipe has no train section (nothing to train)")
    if num_processes < 1:
        raise CodemixError(f"--num-processes must be >= 1, got {num_processes}")
    from codemix.recipes.loader import find_accelerate_config

    config_file = find_accelerate_config(accelerate_config)
    out = Path(recipe.output_dir)
    if not in_launched_process():
        run_mix(recipe, wait=wait, keep=keep)
        if num_processes > 1 or config_file is not None:
            if reference is None:
                reference, overrides = str(out / "recipe.yaml"), ()
                _write_recipe_file(recipe, Path(reference))
            launch_in_processes(reference, overrides, num_processes=num_processes, config_file=config_file,
                                force=force, wait=wait, keep=keep)
            from codemix.core.artifacts import read_manifest

            return read_manifest(out / "train") or {}, True, True
    from codemix.finetune.modeling import process_state
    from codemix.finetune.trainer import train
    from codemix.mixing.pipeline import build_mixture

    state = process_state()
    if in_launched_process():
        # Launched processes (ours, or the user's `accelerate launch -m codemix.finetune RECIPE`):
        # the main one builds or checks the mixture, the others then find it up to date.
        with state.main_process_first():
            build_mixture(recipe.mix, seed=recipe.seed, out_dir=out / "mix", recipe=recipe.resolved(),
                          recipe_hash=recipe.hash(), keep=keep,
                          # the others only find it up to date, possibly several at once: they queue
                          wait=True if not state.is_main_process else wait)
    manifest, built = train(recipe.train, seed=recipe.seed, mixture_dir=out / "mix", out_dir=out / "train",
                            recipe=recipe.resolved(), recipe_hash=recipe.hash(), force=force, wait=wait, keep=keep)
    return manifest, built, state.is_main_process


def _write_recipe_file(recipe: Recipe, path: Path) -> None:
    import yaml

    from codemix.core.artifacts import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(recipe.resolved(), sort_keys=False))


def launch_command(reference: str, overrides: list[str] | tuple[str, ...] = (), *, num_processes: int,
                   config_file: Path | None = None, cuda: bool, force: bool = False, keep: bool = False,
                   wait: float | bool = False) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run `codemix train REFERENCE` in `num_processes` processes."""
    inner = ["-m", "codemix", "train", reference, *sum((["--set", o] for o in overrides), [])]
    if force:
        inner.append("--force")
    if keep:
        inner.append("--keep")
    if wait is not False:
        inner += ["--wait"] if wait is True else ["--wait", str(wait)]
    env = dict(os.environ)
    n = num_processes
    if cuda or config_file is not None:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n)]
        if config_file is not None:
            cmd += ["--config_file", str(config_file)]
        return cmd + inner, env
    # CPU: gloo processes through torchrun, one thread each, else N processes fight over the same
    # cores. Not `accelerate launch --num_processes N`: on CPU it silently runs one process.
    env["ACCELERATE_USE_CPU"] = "1"
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n)] + inner, env


def launch_in_processes(reference: str, overrides: list[str] | tuple[str, ...] = (), *, num_processes: int,
                        config_file: Path | None = None, force: bool = False, keep: bool = False,
                        wait: float | bool = False) -> None:
    import torch

    cmd, env = launch_command(reference, overrides, num_processes=num_processes, config_file=config_file,
                              cuda=torch.cuda.is_available(), force=force, keep=keep, wait=wait)
    print(f"[train] launching {num_processes} processes: {' '.join(cmd)}", file=sys.stderr)
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        raise CodemixError(f"training in {num_processes} processes failed (exit status {rc}); "
                           "see the output above; re-running resumes from the last checkpoint")


# ---------------------------------------------------------------- evaluation and the whole run

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
    results = evaluate_model(model, ev, adapter=adapter, out_dir=Path(recipe.output_dir) / "eval", label=shown(model),
                             **common)
    ref = None
    if reference is not None:
        # Like for like: the base model gets the same prompts as the trained one. A codemix
        # checkpoint defaults to instruction prompts, a plain base model to completion prompts.
        base_cfg = ev
        if recipe.train is not None and ev.prompt_style == "auto":
            base_cfg = ev.model_copy(update={"prompt_style": "instruction"})
        ref = evaluate_model(reference, base_cfg, adapter=None, out_dir=Path(recipe.output_dir) / "eval-base",
                             label=f"the untrained base model {shown(reference)} (for reference)", **common)
    return results, ref


SUMMARY_KEYS = ("metric", "pass_at_k", "pass_at_k_ci", "accuracy", "accuracy_ci", "groups", "n_tasks", "subset")


def _headline(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers summary.json keeps of a results.json (either scorer kind)."""
    return {k: results[k] for k in SUMMARY_KEYS if k in results}


def run_recipe(recipe: Recipe, recipe_path: Path, *, force: bool = False, wait: float | bool = False,
               keep: bool = False, mixture: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run mix -> train -> eval as declared; write <output_dir>/summary.json (+ summary.png).
    `mixture`: the mix manifest when the caller has just built or checked it (a sweep cell)."""
    out = Path(recipe.output_dir)
    # The whole run holds its output directory, so a second `codemix run` on it stops (or waits)
    # at once instead of interleaving with this one stage by stage; each stage also locks its own
    # directory (re-entrant here) against `codemix mix|train|eval` run by hand meanwhile.
    with stage_dir_guard(out, what=f"codemix run {recipe_path.name}", wait=wait):
        return _run_recipe(recipe, recipe_path, out, force=force, wait=wait, keep=keep, mixture=mixture)


def _run_recipe(recipe: Recipe, recipe_path: Path, out: Path, *, force: bool, wait: float | bool,
                keep: bool, mixture: dict[str, Any] | None) -> dict[str, Any]:
    from codemix.recipes.report.data import mix_composition
    from codemix.recipes.report.single import plot_results, results_table

    t0 = time.time()
    stages: dict[str, Any] = {}
    composition = None
    if recipe.mix is not None:
        manifest = mixture if mixture is not None else run_mix(recipe, force=force, wait=wait, keep=keep)
        composition = mix_composition(manifest)  # the mixing ratio and rows per domain / source
        stages["mix"] = {"content_hash": manifest["content_hash"], **composition}
    if recipe.train is not None:
        m = run_train(recipe, force=force, wait=wait, keep=keep)
        stages["train"] = {"final_loss": m["final_loss"], "tokens": m["tokens"], "wall_s": m["wall_s"],
                           "wall_s_total": m.get("wall_s_total")}
    summary: dict[str, Any] = {"recipe": str(recipe_path), "name": recipe.name, "recipe_hash": recipe.hash(),
                               "stages": stages, "trained": {}, "base": None}
    if recipe.eval is not None:
        results, ref = run_eval(recipe, force=force, wait=wait, keep=keep)
        # Named as the table's model column: `trained` (the model scored), `base` (the reference).
        summary["trained"] = {b: _headline(r) for b, r in results.items()}
        if ref is not None:
            summary["base"] = {b: _headline(r) for b, r in ref.items()}
        # an eval-only recipe scores a model it did not train: its row is the `model`, not `trained`
        label = "trained" if recipe.train is not None else "model"
        print()
        print(results_table(summary["trained"], summary["base"], composition=composition,
                            train=stages.get("train"), label=label))
        plot_results(summary["trained"], summary["base"], out / "summary.png", title=recipe.name,
                     composition=composition, label=label)
    summary.update({"wall_s": round(time.time() - t0, 2), "versions": package_versions(), "created": utc_now()})
    atomic_write_json(out / "summary.json", summary)
    print(f"\nsummary: {shown(out / 'summary.json')}" + (f", plot: {shown(out / 'summary.png')}" if recipe.eval else ""))
    return summary
