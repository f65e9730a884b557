"""The vLLM backend: the engine settings it passes on and the context it budgets for (CPU, vllm
not imported); on GPU machines (skipped without CUDA or vllm) generation on a tiny saved Llama,
a LoRA adapter, the settings for larger models, and vLLM's own OpenAI-compatible server scored
through the openai backend."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

gpu = pytest.mark.gpu


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    pytest.importorskip("vllm")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from codemix.finetune.tokenizer import build_tokenizer
    from codemix.mixing.benchmark_records import load_humaneval

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


@gpu
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


@gpu
def test_vllm_serves_a_lora_adapter_unmerged(saved_model, problems, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from codemix.eval.generation import generate

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


def test_engine_settings_reach_the_engine_and_the_context_budget(tmp_path):
    from codemix.eval.config import EvalConfig
    from codemix.eval.generation.vllm import VLLMBackend, engine_arguments
    from codemix.finetune.checkpoint import ModelRef
    from codemix.finetune.tokenizer import build_tokenizer
    from helpers.generation import tiny_llama

    tokenizer = build_tokenizer("byte")
    tiny_llama(tokenizer, max_positions=1024).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    options = EvalConfig(backend="vllm", tensor_parallel_size=2, gpu_memory_utilization=0.5,
                         max_model_len=256).backend_options()
    be = VLLMBackend()
    be.configure(options)
    be.load(ModelRef(str(tmp_path), None, None), seed=3)  # tokenizer and config only: no GPU needed
    assert be.max_context == 256  # prompts that do not fit 256 tokens are recorded, not sent
    args = engine_arguments(be.paths, seed=3, longest=200, options=options)
    assert (args["tensor_parallel_size"], args["gpu_memory_utilization"], args["max_model_len"]) == (2, 0.5, 256)
    assert args["model"] == str(tmp_path) and args["seed"] == 3 and not args["enable_lora"]
    plain = engine_arguments(be.paths, seed=3, longest=200)
    assert plain["max_model_len"] == 200  # what the longest request needs, no more KV cache
    assert "tensor_parallel_size" not in plain and "gpu_memory_utilization" not in plain  # vLLM's defaults
    assert "max_lora_rank" not in plain and engine_arguments(be.paths, seed=3, longest=200, lora_rank=16)[
        "max_lora_rank"] == 16


@gpu
def test_vllm_engine_settings_for_larger_models(saved_model, problems, tmp_path):
    from codemix.eval.generation import generate

    path, _, tokenizer = saved_model
    lengths = sorted(len(tokenizer(p.prompt)["input_ids"]) for p in problems)
    limit = lengths[len(lengths) // 2] + 8  # the longer half of the prompts cannot fit
    summary = generate(problems, model_ref=str(path), out_dir=tmp_path, max_new_tokens=16, backend="vllm",
                       backend_options={"tensor_parallel_size": 1, "gpu_memory_utilization": 0.3,
                                        "max_model_len": limit})
    assert summary["generated"] > 0 and summary["not_generated"] > 0
    assert summary["notes"].get("prompt_too_long") == summary["not_generated"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@gpu
def test_vllms_own_openai_server_gives_the_in_process_samples(saved_model, problems, tmp_path):
    from codemix.eval.generation import generate

    path, _, _ = saved_model
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(path),
                               "--host", "127.0.0.1", "--port", str(port), "--seed", "0",
                               "--gpu-memory-utilization", "0.3", "--max-model-len", "1024"])
    common = dict(model_ref=str(path), prompt_style="completion", max_new_tokens=16, seed=0)
    try:
        deadline = time.monotonic() + 600
        while True:  # vLLM's start-up (engine, CUDA graphs) takes one to a few minutes
            assert server.poll() is None and time.monotonic() < deadline, "vLLM's server did not start"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5):
                    break
            except OSError:
                time.sleep(2)
        served = generate(problems, out_dir=tmp_path / "served", backend="openai",
                          backend_options={"base_url": f"http://127.0.0.1:{port}/v1"}, **common)
    finally:
        server.terminate()
        server.wait(timeout=120)  # its GPU memory is free before the in-process engine starts
    assert served["usage"]["endpoints"] == ["completions"] and served["usage"]["retries"] == 0
    generate(problems, out_dir=tmp_path / "local", backend="vllm", **common)
    assert (tmp_path / "served" / "samples.jsonl").read_bytes() == (tmp_path / "local" / "samples.jsonl").read_bytes()
