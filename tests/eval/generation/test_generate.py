"""Generation on a tiny random Llama: batching, samples per task, resume after a kill, stops,
out-of-memory back-off, loading by path, and the bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from codemix.core.errors import CodemixError
from codemix.eval.generation import (
    build_prompt,
    encode_prompt_text,
    generate,
    generate_samples,
    resolve_spec,
    stop_sequences,
)
from codemix.eval.generation.backend import Request
from codemix.eval.generation.hf import generate_all, generate_batch
from helpers.generation import humaneval_problems as _problems
from helpers.generation import tiny_llama as _tiny_llama

N_TASKS = 6


@pytest.fixture(scope="module")
def problems():
    return _problems()[:N_TASKS]


@pytest.fixture(scope="module")
def tokenizer():
    from codemix.finetune.tokenizer import build_tokenizer

    texts = [p.prompt for p in _problems()]
    return build_tokenizer("bpe", texts=texts, vocab_size=512)


@pytest.fixture(scope="module")
def model(tokenizer):
    return _tiny_llama(tokenizer)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _requests(problems, tokenizer, max_new_tokens=16, stops=()):
    spec = resolve_spec("completion", None, None, tokenizer)
    return [Request(encode_prompt_text(build_prompt(p, spec, tokenizer), spec, tokenizer), seed=i,
                    max_new_tokens=max_new_tokens, stops=stops) for i, p in enumerate(problems)]


# ---------------------------------------------------------------- batching

@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_batched_equals_one_at_a_time(model, tokenizer, problems, temperature):
    requests = _requests(problems, tokenizer)
    assert len({len(r.prompt_ids) for r in requests}) > 1  # prompts of different lengths: padding matters

    def run(batch_size):
        out = {}
        generate_all(model, tokenizer, requests, batch_size=batch_size, eos_ids=[tokenizer.eos_token_id],
                     temperature=temperature, top_p=0.95,
                     on_batch=lambda idx, gens: out.update(zip(idx, gens, strict=True)))
        return [out[i] for i in range(len(requests))]

    batched, single = run(N_TASKS), run(1)
    assert [g.raw for g in batched] == [g.raw for g in single]
    assert all(g.n_tokens == 16 and g.finish == "length" for g in batched)
    assert len({g.raw for g in batched}) == N_TASKS


def test_stop_sequence_ends_only_its_own_row(model, tokenizer, problems):
    requests = _requests(problems[:3], tokenizer, max_new_tokens=24)
    kwargs = dict(eos_ids=[tokenizer.eos_token_id], temperature=0.0, top_p=1.0)
    free = generate_batch(model, tokenizer, requests, **kwargs)
    stop = free[0].raw[8:12]  # a piece from the middle of row 0's output becomes a stop sequence
    assert stop not in free[0].raw[:8]
    stopped = generate_batch(model, tokenizer, _requests(problems[:3], tokenizer, 24, stops=(stop,)), **kwargs)
    assert stopped[0].finish == "stop"
    assert stopped[0].text == free[0].raw[: free[0].raw.index(stop)]
    assert stopped[0].n_tokens < free[0].n_tokens  # generation ended early, not just the text
    assert free[0].raw.startswith(stopped[0].raw)
    for before, after in zip(free[1:], stopped[1:], strict=True):
        if stop not in before.raw:
            assert after.raw == before.raw and after.finish == "length"


def test_out_of_memory_halves_the_batch(model, tokenizer, problems, monkeypatch):
    requests = _requests(problems, tokenizer, max_new_tokens=8)
    real_generate = model.generate
    sizes = []

    def generate_that_runs_out_of_memory(*args, **kwargs):
        sizes.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate_that_runs_out_of_memory)
    out = {}
    final = generate_all(model, tokenizer, requests, batch_size=5, eos_ids=[tokenizer.eos_token_id],
                         temperature=0.0, top_p=1.0, on_batch=lambda idx, gens: out.update(zip(idx, gens, strict=True)))
    assert final == 2 and sizes[:3] == [5, 2, 2] and sorted(out) == list(range(N_TASKS))
    monkeypatch.setattr(model, "generate", real_generate)
    reference = generate_batch(model, tokenizer, requests, eos_ids=[tokenizer.eos_token_id],
                               temperature=0.0, top_p=1.0)
    assert [out[i].raw for i in range(N_TASKS)] == [g.raw for g in reference]

    monkeypatch.setattr(model, "generate", lambda *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError("oom")))
    with pytest.raises(CodemixError, match="out of memory generating one sample"):
        generate_all(model, tokenizer, requests[:1], batch_size=1, eos_ids=[0], temperature=0.0,
                     top_p=1.0, on_batch=lambda *a: None)


# ---------------------------------------------------------------- files

def test_n_samples_per_task_are_written(model, tokenizer, problems, tmp_path):
    summary = generate_samples(model, tokenizer, problems, out_dir=tmp_path, n_samples=3, temperature=0.8,
                               max_new_tokens=8, batch_size=4, seed=1)
    samples = _rows(tmp_path / "samples.jsonl")
    raws = _rows(tmp_path / "samples.raw.jsonl")
    prompts = {r["task_id"]: r["prompt"] for r in _rows(tmp_path / "prompts.jsonl")}
    task_ids = [p.task_id for p in problems]
    assert [(s["task_id"], s["sample_index"]) for s in samples] == [(t, i) for t in task_ids for i in range(3)]
    assert [(r["task_id"], r["sample_index"]) for r in raws] == [(s["task_id"], s["sample_index"]) for s in samples]
    for s, r in zip(samples, raws, strict=True):
        assert s["solution"] == prompts[s["task_id"]] + s["completion"]  # completion style: prompt + completion
        assert r["raw"].startswith(s["completion"]) and r["finish"] in ("stop", "eos", "length")
    assert prompts == {p.task_id: p.prompt for p in problems}
    # Samples of one task differ (seeded per sample index), and the summary counts them.
    assert len({s["completion"] for s in samples if s["task_id"] == task_ids[0]}) == 3
    assert summary["samples"] == summary["generated"] == 3 * N_TASKS and summary["resumed"] == 0
    assert summary["prompt_style"] == "completion" and summary["samples_per_s"] > 0
    assert json.loads((tmp_path / "generation.json").read_text())["summary"]["samples"] == 3 * N_TASKS


def test_resume_after_a_kill_gives_the_uninterrupted_files(model, tokenizer, problems, tmp_path, monkeypatch):
    settings = dict(n_samples=1, temperature=0.0, max_new_tokens=8, batch_size=2, seed=3, model_label="tiny")
    full = generate_samples(model, tokenizer, problems, out_dir=tmp_path / "full", **settings)

    real_generate, calls = model.generate, []

    def killed_on_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", killed_on_third_batch)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        generate_samples(model, tokenizer, problems, out_dir=killed, **settings)
    monkeypatch.setattr(model, "generate", real_generate)
    done = {r["task_id"] for r in _rows(killed / "samples.jsonl")}
    assert len(done) == 4
    # What a kill during a write leaves: a raw row whose sample row was cut off mid-line.
    pending = next(p.task_id for p in problems if p.task_id not in done)
    with open(killed / "samples.raw.jsonl", "a") as f:
        f.write(json.dumps({"task_id": pending, "sample_index": 0, "raw": "x"}) + "\n")
    with open(killed / "samples.jsonl", "a") as f:
        f.write(json.dumps({"task_id": pending, "sample_index": 0, "solution": "def f():\n"})[:30])

    resumed = generate_samples(model, tokenizer, problems, out_dir=killed, **settings)
    assert resumed["resumed"] == 4 and resumed["generated"] == N_TASKS - 4
    for name in ("samples.jsonl", "samples.raw.jsonl", "prompts.jsonl"):
        assert (killed / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    assert full["samples"] == resumed["samples"] == N_TASKS

    again = generate_samples(model, tokenizer, problems, out_dir=killed, **settings)
    assert again["generated"] == 0 and again["resumed"] == N_TASKS
    with pytest.raises(CodemixError, match=r"other settings \(max_new_tokens: 8 -> 9"):
        generate_samples(model, tokenizer, problems, out_dir=killed, **{**settings, "max_new_tokens": 9})


def test_a_subset_of_tasks(model, tokenizer, problems, tmp_path):
    ids = [p.task_id for p in problems]
    summary = generate_samples(model, tokenizer, problems, out_dir=tmp_path, max_new_tokens=4, tasks=ids[2:4])
    assert [s["task_id"] for s in _rows(tmp_path / "samples.jsonl")] == ids[2:4] and summary["tasks"] == 2
    with pytest.raises(CodemixError, match="unknown task id.*HumanEval/999"):
        generate_samples(model, tokenizer, problems, out_dir=tmp_path, max_new_tokens=4, tasks=["HumanEval/999"])


def test_instruction_style_uses_the_prompt_format_and_extracts_code(model, tokenizer, problems, tmp_path):
    from codemix.finetune.prompts import format_prompt

    summary = generate_samples(model, tokenizer, problems[:2], out_dir=tmp_path, prompt_style="instruction",
                               max_new_tokens=8)
    assert summary["prompt_format"] == "chat_template"  # the tokenizer has a chat template
    prompts = _rows(tmp_path / "prompts.jsonl")
    assert prompts[0]["prompt"] == format_prompt(problems[0].instruction, "chat_template", tokenizer)
    assert prompts[0]["prompt"].endswith("<|im_start|>assistant\n")
    raws = _rows(tmp_path / "samples.raw.jsonl")
    assert all(r["extraction"] in ("fence", "text", "none") for r in raws)
    assert sum(summary["extraction"].values()) == 2

    alpaca = resolve_spec("instruction", "alpaca", None, tokenizer)
    assert "\n### Instruction:" in stop_sequences(alpaca, tokenizer)
    assert "\n### Response:" in stop_sequences(alpaca, tokenizer)


def test_prompt_longer_than_the_context_fails_that_sample_not_the_benchmark(tokenizer, problems, tmp_path, capsys):
    from codemix.eval.scoring import score_samples

    # A context that fits the shortest prompt(s) of the first three problems but not the longest.
    lengths = {p.task_id: len(tokenizer(p.prompt)["input_ids"]) for p in problems[:3]}
    ctx = sorted(lengths.values())[-1] - 1
    short = _tiny_llama(tokenizer, max_positions=ctx)
    summary = generate_samples(short, tokenizer, problems[:3], out_dir=tmp_path, max_new_tokens=2)
    too_long = [t for t, n in lengths.items() if n >= ctx]
    assert summary["samples"] == 3 and summary["finish"]["prompt_too_long"] == len(too_long) >= 1
    assert summary["notes"] == {"prompt_too_long": len(too_long)}
    assert "do not fit the model's context" in capsys.readouterr().err
    rows = {r["task_id"]: r for r in _rows(tmp_path / "samples.jsonl")}
    assert all(rows[t]["note"] == "prompt_too_long" and rows[t]["solution"] == "" for t in too_long)
    results = score_samples("humaneval", tmp_path / "samples.jsonl", out_dir=tmp_path / "score", k=[1],
                            tasks=list(lengths), workers=1)
    assert results["n_samples"] == 3 and results["notes"] == {"prompt_too_long": len(too_long)}
    assert all(results["per_task"][t]["c"] == 0 for t in too_long)
    out = capsys.readouterr().out
    assert f"{len(too_long)} of 3 samples were not generated: prompt longer than the model's context" in out


# ---------------------------------------------------------------- loading by path, bad input

def test_generate_by_path_with_and_without_adapter(model, tokenizer, problems, tmp_path):
    from peft import LoraConfig, get_peft_model

    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    common = dict(n_samples=1, temperature=0.0, max_new_tokens=6, seed=0, batch_size=3)
    summary = generate(problems, model_ref=str(tmp_path / "base"), out_dir=tmp_path / "g1", **common)
    assert summary["prompt_style"] == "completion"  # a plain model defaults to completion style
    generate_samples(model, tokenizer, problems, out_dir=tmp_path / "g0", **common)
    completions = [s["completion"] for s in _rows(tmp_path / "g1" / "samples.jsonl")]
    assert completions == [s["completion"] for s in _rows(tmp_path / "g0" / "samples.jsonl")]

    torch.manual_seed(1)
    peft_model = get_peft_model(_tiny_llama(tokenizer), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                                   init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    generate(problems, model_ref=str(tmp_path / "base"), adapter=str(tmp_path / "adapter"),
             out_dir=tmp_path / "g2", **common)
    generate_samples(peft_model, tokenizer, problems, out_dir=tmp_path / "g3", **common)
    adapted = [s["completion"] for s in _rows(tmp_path / "g2" / "samples.jsonl")]
    assert adapted == [s["completion"] for s in _rows(tmp_path / "g3" / "samples.jsonl")]
    assert adapted != completions


def test_bad_inputs_are_clear_errors(problems, tmp_path):
    empty = tmp_path / "run" / "train"
    (empty / "checkpoint-100").mkdir(parents=True)
    with pytest.raises(CodemixError, match=r"neither a codemix checkpoint \(no manifest.json\) nor a model "
                                           r"directory \(no config.json\).*checkpoint-100"):
        generate(problems, model_ref=str(empty), out_dir=tmp_path / "o")
    with pytest.raises(CodemixError, match="n_samples must be 1"):
        generate(problems, model_ref=str(empty), out_dir=tmp_path / "o", temperature=0.0, n_samples=5)
    with pytest.raises(CodemixError, match="not a peft adapter directory"):
        generate(problems, model_ref="owner/model", adapter=str(tmp_path), out_dir=tmp_path / "o")
    with pytest.raises(CodemixError, match="no such directory"):
        generate(problems, model_ref=str(tmp_path / "missing"), out_dir=tmp_path / "o")


def test_vllm_requested_without_vllm_or_gpu_says_use_hf(problems, tmp_path):
    try:
        import vllm  # noqa: F401

        has_vllm = True
    except ImportError:
        has_vllm = False
    if has_vllm and torch.cuda.is_available():
        pytest.skip("vLLM and a GPU are present")
    with pytest.raises(CodemixError, match="backend: hf"):
        generate(problems, model_ref="owner/model", out_dir=tmp_path, backend="vllm")


def test_damaged_sample_files_are_named(model, tokenizer, problems, tmp_path):
    settings = dict(max_new_tokens=4, model_label="tiny")
    generate_samples(model, tokenizer, problems[:3], out_dir=tmp_path, **settings)
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    lines[1] = lines[1][:20]  # damage in the middle is not what a kill leaves
    (tmp_path / "samples.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(CodemixError, match=r"samples.jsonl:2: unreadable row"):
        generate_samples(model, tokenizer, problems[:3], out_dir=tmp_path, **settings)
    (tmp_path / "samples.jsonl").write_text(lines[0] + "\n")
    (tmp_path / "generation.json").unlink()
    with pytest.raises(CodemixError, match="existing samples but no generation.json"):
        generate_samples(model, tokenizer, problems[:3], out_dir=tmp_path, **settings)
