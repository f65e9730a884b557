"""builtin:markov speed: generation of 10^6 rows, and training steps/s of codemix's trainer
against a plain PyTorch loop on the same model and batches.

    python speed/markov_speed.py generate [--rows 1000000]
    python speed/markov_speed.py train [--steps 100] [--threads 2]

generate: `generate_table` (numpy draws in bulk + one Python loop for the strings) against a
naive generator (one `random.Random` call per choice, `json.dumps` per row, `str.find` rewrite),
same parameters; prints rows/s of both and the ratio.
train: the recipe `markov-diversity`'s model (GPT-2, d128, 3 layers, 4 heads, byte tokenizer,
batch 64, max_length 36) for --steps steps through `codemix.finetune.trainer.train` (trl's SFTTrainer),
then the same number of steps of a hand-written AdamW loop over the same tokenized rows (the
loop the task's first CPU measurements used: 13.5 steps/s on 2 idle cores); prints steps/s of
both and the ratio.
Contention from other processes on the machine hits both alike only roughly: run it twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def naive_rows(n: int, rules: list[tuple[str, str]], seed: int, noop: float = 0.2) -> list[dict]:
    r = random.Random(seed)
    letters = "abcdef"
    rows = []
    for _ in range(n):
        x, y = r.choice(rules)
        size = r.randint(5, 10)
        if r.random() < noop:
            z = "".join(r.choice(letters) for _ in range(size))
            while x in z:
                z = "".join(r.choice(letters) for _ in range(size))
        else:
            bg = "".join(r.choice(letters) for _ in range(max(size - len(x), 1)))
            k = r.randint(0, len(bg))
            z = bg[:k] + x + bg[k:]
        i = z.find(x)
        out = z if i < 0 else z[:i] + y + z[i + len(x):]
        rows.append({"instruction": f"{x}>{y}|{z}=", "response": out,
                     "meta": json.dumps({"x": x, "y": y, "input": z, "output": out, "noop": i < 0})})
    return rows


def bench_generate(a: argparse.Namespace) -> None:
    from codemix.mixing.builtin.markov import build_rules, generate_table
    from codemix.mixing.config import MarkovConfig

    cfg = MarkovConfig(rules=1000)
    rules = list(build_rules(cfg, 0).train)
    t0 = time.perf_counter()
    table, _ = generate_table(a.rows, 0, "train", cfg)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    import pyarrow as pa

    pa.Table.from_pylist(naive_rows(a.rows, rules, 0))
    naive = time.perf_counter() - t0
    print(f"rows {a.rows:,}: builtin:markov {ours:.2f} s ({a.rows / ours:,.0f} rows/s), "
          f"naive {naive:.2f} s ({a.rows / naive:,.0f} rows/s); speed-up x{naive / ours:.2f}")


def bench_train(a: argparse.Namespace) -> None:
    import torch

    from codemix.finetune.config import TrainConfig
    from codemix.finetune.trainer import train
    from codemix.mixing.config import MixConfig
    from codemix.mixing.pipeline import build_mixture
    from codemix.recipes.loader import load_recipe

    torch.set_num_threads(a.threads)
    recipe, _ = load_recipe(str(ROOT / "recipes" / "markov-diversity.yaml"))
    tmp = Path(tempfile.mkdtemp(prefix="markov-speed-"))
    mix = MixConfig.model_validate(recipe.mix.model_dump())
    build_mixture(mix, seed=recipe.seed, out_dir=tmp / "mix", recipe={}, recipe_hash="bench")
    cfg = TrainConfig.model_validate({**recipe.train.model_dump(), "max_steps": a.steps, "save_steps": 10_000,
                                      "logging_steps": a.steps})
    manifest, _ = train(cfg, seed=recipe.seed, mixture_dir=tmp / "mix", out_dir=tmp / "train", recipe={},
                        recipe_hash="bench", force=True)
    ours = a.steps / manifest["train_s"]
    raw = raw_loop(cfg, tmp, recipe.seed, a.steps)
    print(f"{a.steps} steps of batch {cfg.per_device_batch_size}, {a.threads} threads: codemix (trl) {ours:.2f} steps/s, "
          f"raw loop {raw:.2f} steps/s; ratio {ours / raw:.2f}")


def raw_loop(cfg, tmp: Path, seed: int, steps: int) -> float:
    """A plain AdamW loop over the rows codemix tokenized (same model config, same batches)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codemix.finetune.data import load_rows, tokenize_mixture

    tok = AutoTokenizer.from_pretrained(tmp / "train" / "model")
    data = tokenize_mixture(load_rows(tmp / "mix"), tok, "custom", cfg.template, cfg.max_length, "truncate").dataset
    model = AutoModelForCausalLM.from_pretrained(tmp / "train" / "base")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(seed)
    ids, labels = data["input_ids"], data["labels"]
    b = cfg.per_device_batch_size
    t0 = time.perf_counter()
    for _ in range(steps):
        pick = torch.randint(0, len(ids), (b,), generator=g).tolist()
        width = max(len(ids[i]) for i in pick)
        x = torch.full((b, width), tok.pad_token_id)
        y = torch.full((b, width), -100)
        for row, i in enumerate(pick):
            x[row, :len(ids[i])] = torch.tensor(ids[i])
            y[row, :len(labels[i])] = torch.tensor(labels[i])
        loss = model(input_ids=x, attention_mask=(y != -100) | (x != tok.pad_token_id), labels=y).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["generate", "train"])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    bench_generate(a) if a.what == "generate" else bench_train(a)


if __name__ == "__main__":
    main()
