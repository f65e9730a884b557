"""Training speed: tokens/s of codemix's trainer against a plain trl SFTTrainer script, same
model, data and settings, in the same run.

    python speed/train_speed.py [--steps 60] [--repeats 3] [--threads 1] [--packing]

The mixture (builtin pyfuncs + texttasks, through the real mixing stage) is built once. Then
each implementation trains a random-init Llama (hidden 128, 2 layers, BPE tokenizer trained on
the mixture, full fine-tuning, fp32 on CPU / auto precision on GPU) for the same number of steps
in its own fresh process, alternating codemix / trl / trl / codemix ... so drifting machine load
hits both alike. tokens/s = non-padding input tokens / seconds inside `trainer.train()` for both
(codemix: the manifest's tokens_per_s). Prints a table, the ratio of medians (target >= 0.97)
and exits 1 below it; `--json FILE` writes every run. Both start from identical weights and
data order, so their final losses agree too (printed as a check that the work was the same).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TARGET = 0.97


def train_config(a: argparse.Namespace):
    from codemix.finetune.config import TrainConfig

    return TrainConfig.model_validate({
        "model": {"init": "random", "arch": {"hidden_size": a.hidden, "layers": a.layers, "heads": 4},
                  "tokenizer": {"kind": "bpe", "vocab_size": 1024}},
        "method": "full", "learning_rate": 2e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.05,
        "max_steps": a.steps, "per_device_batch_size": a.batch, "max_length": a.max_length,
        "packing": a.packing, "logging_steps": 10, "save_steps": 10_000, "report_to": ["none"],
    })


def build_mixture(out: Path, rows: int) -> Path:
    from codemix.mixing.config import MixConfig
    from codemix.mixing.pipeline import build_mixture

    mix = MixConfig.model_validate({
        "budget": rows, "general_fraction": 0.1, "decontaminate": {"enabled": False},
        "sources": [{"name": "pyfuncs", "path": "builtin:pyfuncs", "domain": "code"},
                    {"name": "texttasks", "path": "builtin:texttasks", "domain": "general"}]})
    build_mixture(mix, seed=0, out_dir=out, recipe={}, recipe_hash="bench")
    return out


def run_codemix(a: argparse.Namespace) -> dict:
    from codemix.finetune.trainer import train

    cfg = train_config(a)
    with tempfile.TemporaryDirectory() as tmp:
        m, _ = train(cfg, seed=a.seed, mixture_dir=Path(a.mixture), out_dir=Path(tmp) / "train",
                     recipe={"train": cfg.model_dump(mode="json")}, recipe_hash="bench")
    return {"tokens": m["tokens"], "seconds": m["train_s"], "tokens_per_s": m["tokens_per_s"],
            "final_loss": m["final_loss"], "device": m["topology"]["device"]}


def run_trl(a: argparse.Namespace) -> dict:
    """What a user would write with trl alone: a conversational prompt/completion dataset,
    the chat template, completion-only loss, and the same hyperparameters."""
    import torch
    import transformers
    from trl import SFTConfig, SFTTrainer

    from codemix.finetune.tokenizer import build_tokenizer, mixture_texts
    from codemix.mixing.pipeline import load_mixture

    cfg = train_config(a)
    dataset = load_mixture(a.mixture)
    tokenizer = build_tokenizer("bpe", mixture_texts(dataset), 1024, split_digits=cfg.model.tokenizer.split_digits)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=a.hidden, intermediate_size=4 * a.hidden, num_hidden_layers=a.layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    transformers.set_seed(a.seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    args = SFTConfig(
        output_dir=tempfile.mkdtemp(), learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio, max_steps=cfg.max_steps, per_device_train_batch_size=cfg.per_device_batch_size,
        max_length=cfg.max_length, packing=cfg.packing, packing_strategy="bfd" if cuda else "wrapped",
        activation_checkpointing=False, bf16=bf16, fp16=cuda and not bf16, use_cpu=not cuda, seed=a.seed,
        data_seed=a.seed, logging_steps=cfg.logging_steps, save_strategy="no", report_to="none",
        disable_tqdm=True, include_num_input_tokens_seen="non_padding", dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    start = time.time()
    trainer.train()
    seconds = time.time() - start
    tokens = trainer.state.num_input_tokens_seen
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "final_loss": losses[-1], "device": str(args.device)}


def worker(a: argparse.Namespace) -> None:
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    result = run_codemix(a) if a.worker == "codemix" else run_trl(a)
    print("RESULT " + json.dumps(result))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=3, help="runs of each implementation (alternating)")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--packing", action="store_true", help="pack (wrapped on CPU, bfd on GPU)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write all runs and the ratio here")
    p.add_argument("--worker", choices=["codemix", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--mixture", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a)
        return 0

    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        mixture = build_mixture(Path(tmp) / "mix", a.rows)
        passthrough = [f"--steps={a.steps}", f"--hidden={a.hidden}", f"--layers={a.layers}", f"--batch={a.batch}",
                       f"--max-length={a.max_length}", f"--threads={a.threads}", f"--seed={a.seed}",
                       f"--mixture={mixture}"] + (["--packing"] if a.packing else [])
        runs: dict[str, list[dict]] = {"codemix": [], "trl": []}
        for r in range(a.repeats):
            order = ("codemix", "trl") if r % 2 == 0 else ("trl", "codemix")
            for impl in order:
                proc = subprocess.run([sys.executable, __file__, f"--worker={impl}", *passthrough],
                                      capture_output=True, text=True, cwd=ROOT)
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    print(proc.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{impl} run failed (exit {proc.returncode})")
                runs[impl].append(json.loads(line[len("RESULT "):]))
                res = runs[impl][-1]
                print(f"  run {r + 1} {impl:<8} {res['tokens_per_s']:>10,.0f} tokens/s  "
                      f"({res['tokens']:,} tokens in {res['seconds']:.1f} s, final loss {res['final_loss']:.4f})",
                      flush=True)

    med = {k: statistics.median(x["tokens_per_s"] for x in v) for k, v in runs.items()}
    ratio = med["codemix"] / med["trl"]
    loss_gap = max(abs(c["final_loss"] - t["final_loss"]) for c, t in zip(runs["codemix"], runs["trl"], strict=True))
    device = runs["codemix"][0]["device"]
    print(f"\nmodel: llama hidden {a.hidden}, {a.layers} layers, full fine-tuning; batch {a.batch}, "
          f"max_length {a.max_length}, packing {'on' if a.packing else 'off'}, {a.steps} steps, device {device}, "
          f"threads {a.threads or 'default'}")
    print(f"{'implementation':<16}{'median tokens/s':>18}")
    for k in ("codemix", "trl"):
        print(f"{k:<16}{med[k]:>18,.0f}")
    verdict = "ok" if ratio >= TARGET else "SLOWER THAN TARGET"
    print(f"ratio codemix/trl: {ratio:.3f} (target >= {TARGET}) {verdict}; "
          f"largest final-loss difference {loss_gap:.2e}")
    if a.json:
        a.json.write_text(json.dumps({"runs": runs, "median_tokens_per_s": med, "ratio": ratio, "target": TARGET,
                                      "settings": {k: v for k, v in vars(a).items() if k not in ("json", "worker", "mixture")}},
                                     indent=2) + "\n")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
