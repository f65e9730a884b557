"""The vLLM backend on a tiny saved Llama (GPU machines only; skipped without CUDA or vllm)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.gpu


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    pytest.importorskip("vllm")
    import torch
    from codemix.finetune.tokenizer import build_tokenizer
    from codemix.mixing.benchmark_records import load_humaneval
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer("bpe", texts=[r["prompt"] for r in load_humaneval()], vocab_size=512)
    torch.manual_seed(0)
    # head_dim 64: the smallest head size every vLLM attention backend supports.
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=512, max_position_embeddings=1024, initializer_range=0.2,
        tie_word_embeddings=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path, model, tokenizer


@pytest.fixture(scope="module")
def problems():
    from helpers.generation import humaneval_problems as _problems

    return _problems()[:8]


def test_vllm_writes_the_same_files_and_resumes_reproducibly(saved_model, problems, tmp_path):
    from codemix.eval.generation import generate

    path, _, _ = saved_model
    common = dict(model_ref=str(path), n_samples=3, temperature=0.8, top_p=0.95, max_new_tokens=16, seed=0,
                  batch_size=8, backend="vllm")
    ids = [p.task_id for p in problems]
    full = generate(problems, out_dir=tmp_path / "full", **common)
    assert full["generated"] == 3 * len(problems) and full["settings"]["backend"] == "vllm"
    samples = _rows(tmp_path / "full" / "samples.jsonl")
    assert set(samples[0]) == {"task_id", "solution", "completion", "sample_index"}
    assert [(s["task_id"], s["sample_index"]) for s in samples] == [(t, i) for t in ids for i in range(3)]

    generate(problems, out_dir=tmp_path / "parts", tasks=ids[:3], **common)  # an interrupted run, in effect
    resumed = generate(problems, out_dir=tmp_path / "parts", **common)
    assert resumed["resumed"] == 9
    # Per-request seeds: the resumed run has exactly the samples of the uninterrupted one.
    assert (tmp_path / "parts" / "samples.jsonl").read_bytes() == (tmp_path / "full" / "samples.jsonl").read_bytes()


def test_vllm_serves_a_lora_adapter_unmerged(saved_model, problems, tmp_path):
    import torch
    from codemix.eval.generation import generate
    from peft import LoraConfig, get_peft_model

    path, model, _ = saved_model
    torch.manual_seed(1)
    peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    common = dict(model_ref=str(path), n_samples=1, temperature=0.0, max_new_tokens=16, seed=0, batch_size=8,
                  backend="vllm")
    generate(problems, out_dir=tmp_path / "base", **common)
    generate(problems, out_dir=tmp_path / "lora", adapter=str(tmp_path / "adapter"), **common)
    base = [s["completion"] for s in _rows(tmp_path / "base" / "samples.jsonl")]
    lora = [s["completion"] for s in _rows(tmp_path / "lora" / "samples.jsonl")]
    assert base != lora
