"""Generation from a `codemix train` checkpoint: its manifest picks the base, the adapter and the
prompt format; instruction style is the default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from codemix.core.artifacts import write_manifest
from codemix.core.errors import CodemixError
from codemix.eval.generation import generate, generate_samples
from helpers.generation import humaneval_problems as _problems
from helpers.generation import tiny_llama as _tiny_llama


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def problems():
    return _problems()[:4]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, problems):
    """A finished LoRA run on a random base, laid out as codemix.finetune.checkpoint documents it (the
    trainer itself is exercised by the slow test below and by the finetune tests)."""
    from peft import LoraConfig, get_peft_model

    from codemix.finetune.tokenizer import build_tokenizer

    out = tmp_path_factory.mktemp("experiment")
    train_dir = out / "train"
    tokenizer = build_tokenizer("bpe", texts=[p.prompt for p in _problems()], vocab_size=512)
    base = _tiny_llama(tokenizer)
    base.save_pretrained(train_dir / "base")
    tokenizer.save_pretrained(train_dir / "base")
    torch.manual_seed(2)
    adapted = get_peft_model(_tiny_llama(tokenizer), LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"],
                                                                 init_lora_weights=False))
    adapted.save_pretrained(train_dir / "adapter")
    tokenizer.save_pretrained(train_dir / "adapter")
    write_manifest(train_dir, {"stage": "train", "method": "lora", "is_adapter": True, "prompt_format": "alpaca",
                               "template": None, "base_model": {"kind": "random", "id": None, "revision": None}})
    return out, adapted.eval(), base, tokenizer


def test_checkpoint_defaults_to_instruction_style_in_its_prompt_format(checkpoint, problems, tmp_path):
    from codemix.finetune.prompts import format_prompt

    out, adapted, base, tokenizer = checkpoint
    common = dict(n_samples=1, temperature=0.0, max_new_tokens=12, seed=0, batch_size=4)
    summary = generate(problems, model_ref=str(out / "train"), out_dir=tmp_path / "a", **common)
    assert summary["prompt_style"] == "instruction" and summary["prompt_format"] == "alpaca"
    prompts = _rows(tmp_path / "a" / "prompts.jsonl")
    assert prompts[0]["prompt"] == format_prompt(problems[0].instruction, "alpaca", tokenizer)
    assert prompts[0]["prompt"].rstrip().endswith("### Response:")
    assert sum(summary["extraction"].values()) == len(problems)

    # The experiment's output_dir names the same checkpoint.
    generate(problems, model_ref=str(out), out_dir=tmp_path / "b", **common)
    samples = _rows(tmp_path / "a" / "samples.jsonl")
    assert samples == _rows(tmp_path / "b" / "samples.jsonl")

    # The adapter is applied: same completions as the in-memory adapted model, not the base's.
    kwargs = dict(prompt_style="instruction", prompt_format="alpaca", **common)
    generate_samples(adapted, tokenizer, problems, out_dir=tmp_path / "peft", **kwargs)
    generate_samples(base, tokenizer, problems, out_dir=tmp_path / "base", **kwargs)
    completions = [s["response"] for s in samples]
    assert completions == [s["response"] for s in _rows(tmp_path / "peft" / "samples.jsonl")]
    assert completions != [s["response"] for s in _rows(tmp_path / "base" / "samples.jsonl")]


def test_completion_style_can_be_asked_for_a_checkpoint(checkpoint, problems, tmp_path):
    out, *_ = checkpoint
    summary = generate(problems[:2], model_ref=str(out / "train"), out_dir=tmp_path, prompt_style="completion",
                       max_new_tokens=4)
    assert summary["prompt_style"] == "completion"
    assert [r["prompt"] for r in _rows(tmp_path / "prompts.jsonl")] == [p.prompt for p in problems[:2]]


def test_unfinished_run_and_adapter_with_checkpoint_are_errors(checkpoint, problems, tmp_path):
    out, *_ = checkpoint
    unfinished = tmp_path / "exp" / "train"
    (unfinished / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    with pytest.raises(CodemixError, match=r"no manifest.json\).*no config.json\).*"
                                           r"checkpoints: training did not finish"):
        generate(problems, model_ref=str(unfinished), out_dir=tmp_path / "o")
    with pytest.raises(CodemixError, match="do not pass an adapter"):
        generate(problems, model_ref=str(out), adapter=str(out / "train" / "adapter"), out_dir=tmp_path / "o")


@pytest.mark.slow
def test_a_real_training_run_generates(problems, tmp_path):
    from codemix.finetune.config import TrainConfig
    from codemix.finetune.trainer import train
    from helpers.finetune import pyfunc_rows, write_mixture

    mixture = write_mixture(tmp_path / "mix", pyfunc_rows(64))
    cfg = TrainConfig.model_validate({
        "model": {"init": "random", "arch": {"hidden_size": 64, "layers": 2, "heads": 4},
                  "tokenizer": {"kind": "bpe", "vocab_size": 400}},
        "method": "lora", "prompt_format": "magicoder", "max_steps": 2, "per_device_batch_size": 8,
        "max_length": 384, "report_to": ["none"], "precision": "fp32", "lora": {"r": 4}})
    train(cfg, seed=0, mixture_dir=mixture, out_dir=tmp_path / "run" / "train", recipe={}, recipe_hash="test")
    summary = generate(problems, model_ref=str(tmp_path / "run"), out_dir=tmp_path / "gen", max_new_tokens=8)
    assert summary["prompt_style"] == "instruction" and summary["prompt_format"] == "magicoder"
    assert summary["samples"] == len(problems)
    assert "@@ Instruction" in _rows(tmp_path / "gen" / "prompts.jsonl")[0]["prompt"]
