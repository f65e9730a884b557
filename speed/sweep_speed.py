"""Speed of `codemix sweep` against running the same cells as separate `codemix run` calls.

    python speed/sweep_speed.py                       # 2 fractions x 2 learning rates, 60 steps
    python speed/sweep_speed.py --steps 200 --tasks 40

The recipe is the offline smoke setup at a small size (random-init tiny Llama, builtin sources,
pyfuncs tasks, the untrained model as reference). The grid varies mix.general_fraction (so two
mixtures) and train.learning_rate (cells that share a mixture), i.e. 4 cells.

Reference, same run: each cell's recipe run on its own with `codemix run` in a fresh process and
its own output directory, with eval.include_base: true as a single recipe would have it — so
every run builds its own mixture, imports torch again and scores the untrained model again.
Timed: `codemix sweep` (one process, cells in order, shared mixtures, base scored once). Both
from empty directories; the ratio is separate / sweep (> 1: the sweep is cheaper).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def recipe(out: Path, steps: int, tasks: int) -> dict:
    return {
        "name": "sweep-speed", "seed": 1, "output_dir": str(out),
        "mix": {"budget": 1000, "general_fraction": 0.1,
                "sources": [{"name": "pyfuncs", "path": "builtin:pyfuncs", "domain": "code"},
                            {"name": "texttasks", "path": "builtin:texttasks", "domain": "general"}],
                "decontaminate": {"benchmarks": ["humaneval"], "ngram": 13}},
        "train": {"model": {"init": "random",
                            "arch": {"arch": "llama", "hidden_size": 64, "layers": 2, "heads": 2, "max_position_embeddings": 512},
                            "tokenizer": {"kind": "bpe", "vocab_size": 512}},
                  "method": "full", "learning_rate": 0.002, "max_steps": steps, "per_device_batch_size": 16,
                  "max_length": 192, "logging_steps": 20, "save_steps": max(steps, 1), "report_to": ["none"]},
        "eval": {"benchmarks": ["pyfuncs"], "tasks": [f"pyfuncs/{i}" for i in range(tasks)], "max_new_tokens": 64,
                 "batch_size": 32, "include_base": True},
        "sweep": {"grid": {"mix.general_fraction": [0.0, 0.25], "train.learning_rate": [0.002, 0.001]}},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="training steps per cell")
    ap.add_argument("--tasks", type=int, default=20, help="pyfuncs tasks scored per model")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/codemix-sweep-speed"))
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CODEMIX_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1"}
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    data = recipe(args.work_dir / "sweep", args.steps, args.tasks)
    path = args.work_dir / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))

    from codemix.recipes.sweep.runner import load_sweep

    sweep = load_sweep(str(path))
    singles = []
    for cell in sweep.cells:  # the same cell recipes, as a user without sweeps would write them
        single = {**cell.data, "output_dir": str(args.work_dir / "separate" / cell.dir.name),
                  "eval": {**cell.data["eval"], "include_base": True}}
        p = args.work_dir / f"separate-{len(singles)}.yaml"
        p.write_text(yaml.safe_dump(single, sort_keys=False))
        singles.append(p)

    t0 = time.perf_counter()
    for p in singles:
        subprocess.run([sys.executable, "-m", "recipes", "run", str(p)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
    separate = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recipes", "sweep", str(path)], env=env, check=True, stdout=subprocess.DEVNULL)
    swept = time.perf_counter() - t0

    n = len(sweep.cells)
    print(f"{n} cells ({args.steps} steps, {args.tasks} pyfuncs tasks each, base model scored as reference)")
    print(f"separate `codemix run` x {n}: {separate:7.1f} s  ({n} mixtures built, {n} base evaluations)")
    print(f"`codemix sweep`:             {swept:7.1f} s  ({len(list((args.work_dir / 'sweep' / 'mixes').iterdir()))} "
          f"mixtures built, 1 base evaluation)")
    print(f"ratio separate / sweep: {separate / swept:.2f}x")


if __name__ == "__main__":
    main()
