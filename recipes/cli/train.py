"""`codemix train RECIPE`: build the mixture if it is missing or stale (the mixing stage's own
up-to-date check), then fine-tune as the recipe's `train:` section says.

Single process by default. `--num-processes N` relaunches this command as N data-parallel
processes: through `accelerate launch` on GPUs (optionally with a bundled or own config:
`--accelerate-config ddp|zero2|zero3|fsdp|FILE`), through `torchrun` with the gloo backend on
CPU — `accelerate launch --num_processes N` on CPU silently runs one process (STACK-NOTES).
The mixture is built once, before the launch; the processes find it up to date.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from codemix.core.errors import CodemixError
from codemix.recipes.cli import add_guard_args, add_recipe_args
from codemix.recipes.loader import load_recipe

ACCELERATE_DIR = Path(__file__).parents[1] / "data" / "accelerate"


def register(p: argparse.ArgumentParser) -> None:
    add_recipe_args(p)
    p.add_argument("--num-processes", type=int, default=1, metavar="N",
                   help="data-parallel processes (default 1; >1 launches through accelerate on GPU, torchrun on CPU)")
    p.add_argument("--accelerate-config", metavar="NAME|FILE",
                   help="accelerate config for multi-GPU runs: a bundled one "
                        f"({', '.join(bundled_accelerate_configs())}) or a file")
    p.add_argument("--force", action="store_true", help="train again even if the checkpoint is up to date "
                                                        "(the mixture is rebuilt only when stale)")
    add_guard_args(p)


def bundled_accelerate_configs() -> dict[str, Path]:
    return {p.stem: p for p in sorted(ACCELERATE_DIR.glob("*.yaml"))}


def _accelerate_config(name_or_path: str | None) -> Path | None:
    if name_or_path is None:
        return None
    bundled = bundled_accelerate_configs()
    if name_or_path in bundled:
        return bundled[name_or_path]
    p = Path(name_or_path)
    if not p.is_file():
        raise CodemixError(f"--accelerate-config {name_or_path}: no such file and no bundled config of that name "
                           f"(bundled: {', '.join(bundled)})")
    return p


def _in_launched_process() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def run(args: argparse.Namespace) -> int:
    recipe, path = load_recipe(args.recipe, args.overrides)
    if recipe.train is None:
        raise CodemixError(f"{path}: the recipe has no train section (nothing to train)")
    if args.num_processes < 1:
        raise CodemixError(f"--num-processes must be >= 1, got {args.num_processes}")
    config_file = _accelerate_config(args.accelerate_config)
    out = Path(recipe.output_dir)
    launched = _in_launched_process()
    if not launched:
        from codemix.recipes.pipeline import run_mix

        run_mix(recipe, wait=args.wait, keep=args.keep)
        if args.num_processes > 1 or config_file is not None:
            return _launch(args, config_file)

    from codemix.finetune.modeling import process_state
    from codemix.finetune.trainer import train

    state = process_state()
    if launched:
        # Launched processes (ours, or the user's `accelerate launch -m codemix.finetune RECIPE`): the main
        # one builds or checks the mixture, the others then find it up to date.
        from codemix.mixing.pipeline import build_mixture

        with state.main_process_first():
            build_mixture(recipe.mix, seed=recipe.seed, out_dir=out / "mix", recipe=recipe.resolved(),
                          recipe_hash=recipe.hash(), keep=args.keep,
                          # the others only find it up to date, possibly several at once: they queue
                          wait=True if not state.is_main_process else args.wait)
    manifest, built = train(recipe.train, seed=recipe.seed, mixture_dir=out / "mix", out_dir=out / "train",
                            recipe=recipe.resolved(), recipe_hash=recipe.hash(), force=args.force,
                            wait=args.wait, keep=args.keep)
    if process_state().is_main_process:
        print(summary(manifest, out / "train", built))
    return 0


def launch_command(args: argparse.Namespace, config_file: Path | None, cuda: bool) -> tuple[list[str], dict]:
    """The command and environment that run this recipe's training in N processes."""
    inner = ["-m", "codemix", "train", args.recipe, *sum((["--set", o] for o in args.overrides), [])]
    if args.force:
        inner.append("--force")
    if getattr(args, "keep", False):
        inner.append("--keep")
    wait = getattr(args, "wait", False)
    if wait is not False:
        inner += ["--wait"] if wait is True else ["--wait", str(wait)]
    env = dict(os.environ)
    n = args.num_processes
    if cuda or config_file is not None:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n)]
        if config_file is not None:
            cmd += ["--config_file", str(config_file)]
        return cmd + inner, env
    # CPU: gloo processes; one thread each, else N processes fight over the same cores.
    env["ACCELERATE_USE_CPU"] = "1"
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n)] + inner, env


def _launch(args: argparse.Namespace, config_file: Path | None) -> int:
    import torch

    cmd, env = launch_command(args, config_file, torch.cuda.is_available())
    print(f"[train] launching {args.num_processes} processes: {' '.join(cmd)}", file=sys.stderr)
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        raise CodemixError(f"training in {args.num_processes} processes failed (exit status {rc}); "
                           "see the output above; re-running resumes from the last checkpoint")
    return 0


def summary(manifest: dict, out_dir: Path, built: bool) -> str:
    if not built:
        return (f"train: up to date ({out_dir}; final loss {manifest['final_loss']:.4f}); "
                "use --force to train again")
    data = manifest["data"]
    rows = [
        ("output", str(out_dir)),
        ("method", f"{manifest['method']} ({manifest['trainable_parameters']:,} of "
                   f"{manifest['parameters']:,} parameters trained)"),
        ("base model", manifest["base_model"]["id"] or f"random {manifest['base_model']['model_type']}"),
        ("prompt format", manifest["prompt_format"]),
        ("rows", f"{data['trained_rows']} trained of {data['rows']} "
                 f"({data['truncated_rows']} truncated, {data['dropped_rows']} dropped)"),
        ("steps", f"{manifest['steps']} ({manifest['epochs']:.2f} epochs)"),
        ("final loss", f"{manifest['final_loss']:.4f}"),
        ("tokens", f"{manifest['tokens']:,} ({manifest['tokens_per_s']:,.0f} tokens/s)"),
        ("wall time", f"{manifest['wall_s']:.1f} s"),
        ("processes", f"{manifest['topology']['num_processes']} ({manifest['topology']['device']})"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
