"""`codemix train RECIPE`: build the mixture if it is missing or stale (the mixing stage's own
up-to-date check), then fine-tune as the recipe's `train:` section says.

Single process by default. `--num-processes N` relaunches this command as N data-parallel
processes: through `accelerate launch` on GPUs (optionally with a bundled or own config:
`--accelerate-config ddp|zero2|zero3|fsdp|FILE`), through `torchrun` with the gloo backend on
CPU — `accelerate launch --num_processes N` on CPU silently runs one process.
The mixture is built once, before the launch; the processes find it up to date.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codemix.recipes.cli import add_guard_args, add_recipe_args
from codemix.recipes.loader import bundled_accelerate_configs


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


def run(args: argparse.Namespace) -> int:
    from codemix.api.stages import train

    result = train(args.recipe, overrides=args.overrides, num_processes=args.num_processes,
                   accelerate_config=args.accelerate_config, force=args.force, wait=args.wait, keep=args.keep)
    if result.main_process:
        print(summary(result.data, result.out_dir, result.built))
    return 0


def summary(manifest: dict, out_dir: Path, built: bool) -> str:
    from codemix.finetune.trainer import wall_time_text

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
        ("wall time", wall_time_text(manifest)),
        ("processes", f"{manifest['topology']['num_processes']} ({manifest['topology']['device']})"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
