"""Test data for the finetune tests: small mixture directories in the mixing stage's layout
(data.jsonl + manifest.json with content_hash), written without running the mixing pipeline."""

from __future__ import annotations

import json
import random
from pathlib import Path

from codemix.core.artifacts import hash_json, write_manifest

# Short python-function instructions: a templated family the tiny models can learn in seconds.
_OPS = [
    ("adds {k} to x", "x + {k}"),
    ("subtracts {k} from x", "x - {k}"),
    ("multiplies x by {k}", "x * {k}"),
    ("returns the remainder of x divided by {k}", "x % {k}"),
]


def pyfunc_rows(n: int, seed: int = 0, source: str = "pyfuncs") -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        verb, expr = rng.choice(_OPS)
        k = rng.randint(1, 9)
        name = f"f{rng.randint(0, 99)}"
        instruction = f"Write a function {name}(x) that {verb.format(k=k)}."
        code = f"def {name}(x):\n    return {expr.format(k=k)}\n"
        rows.append({
            "id": f"{source}-{i}", "source": source, "domain": "code", "task": "pyfunc",
            "prompt": [{"role": "user", "content": instruction}],
            "completion": [{"role": "assistant", "content": code}],
        })
    return rows


def write_mixture(mix_dir: Path, rows: list[dict]) -> Path:
    """A mixture directory as `codemix mix` writes it: data.jsonl, then manifest.json."""
    mix_dir = Path(mix_dir)
    mix_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (mix_dir / "data.jsonl").write_text(text, encoding="utf-8")
    write_manifest(mix_dir, {"stage": "mix", "data_file": "data.jsonl", "rows": len(rows), "content_hash": hash_json(rows),
                             "recipe_hash": "test", "sources": sorted({r["source"] for r in rows})})
    return mix_dir


def tiny_config(**overrides):
    """A TrainConfig for a 2-layer, 64-wide random llama with a BPE tokenizer: ~0.1M parameters,
    tens of steps per second on 2 idle cores. Overrides: `model` replaces the model section,
    other dict values (lora, ...) update theirs."""
    from codemix.finetune.config import TrainConfig

    data = {
        "model": {"init": "random", "arch": {"hidden_size": 64, "layers": 2, "heads": 4, "max_position_embeddings": 256},
                  "tokenizer": {"kind": "bpe", "vocab_size": 400}},
        "method": "full", "learning_rate": 3e-3, "warmup_ratio": 0.0, "max_steps": 20, "per_device_batch_size": 8,
        "max_length": 128, "logging_steps": 1, "save_steps": 100, "report_to": ["none"],
    }
    for key, value in overrides.items():
        if key != "model" and isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return TrainConfig.model_validate(data)


def run_train(cfg, mixture_dir, out_dir, seed: int = 1, **kwargs):
    from codemix.finetune.trainer import train

    recipe = {"name": "test", "seed": seed, "train": cfg.model_dump(mode="json")}
    return train(cfg, seed=seed, mixture_dir=mixture_dir, out_dir=out_dir, recipe=recipe,
                 recipe_hash="test-recipe", **kwargs)


def llama_style_tokenizer():
    """A byte tokenizer shaped like Llama-2's: adds <s> itself, eos </s>, no pad token and no chat
    template (what many pretrained base models ship)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, "</s>": 1}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<s>", "</s>"])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")


def interrupt_after_save(step: int):
    """A trainer callback: a Ctrl-C (KeyboardInterrupt, so nothing after it runs) right after the
    checkpoint of step `step` is on disk."""
    from transformers import TrainerCallback

    class InterruptAfterSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise KeyboardInterrupt

    return InterruptAfterSave()
