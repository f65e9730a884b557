"""The openai backend against a real OpenAI-compatible server on 127.0.0.1 (tests/helpers/
openai_server.py, a subprocess serving a tiny random Llama): greedy samples and verdicts equal to
in-process HF generation on both endpoints, a seeded fault schedule survived with the clean
run's samples, resume without asking again, the API key in no file or stream, refusals in one
line; and the retry arithmetic on its own."""

from __future__ import annotations

import json
import random
import socket
import uuid
from pathlib import Path

import pytest

from codemix.core.errors import CodemixError
from codemix.eval.generation.backend import Request
from codemix.eval.generation.openai import (
    BACKOFF_BASE_S,
    OpenAIBackend,
    backoff_delay,
    plan_blocks,
    retry_after_seconds,
)
from codemix.recipes.cli import main
from helpers.openai_server import serve

N_TASKS = 6
KEY_ENV = "CODEMIX_TEST_OPENAI_KEY"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from codemix.eval.benchmarks import load_problems
    from codemix.finetune.tokenizer import build_tokenizer
    from helpers.generation import tiny_llama

    problems = load_problems("pyfuncs")
    tokenizer = build_tokenizer("bpe", texts=[p.prompt for p in problems] + [p.instruction for p in problems],
                                vocab_size=512)
    path = tmp_path_factory.mktemp("served")
    model = tiny_llama(tokenizer)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def problems():
    from codemix.eval.benchmarks import load_problems

    return load_problems("pyfuncs")[:N_TASKS]


@pytest.fixture(scope="module")
def server(model_dir):
    with serve(model_dir) as s:
        yield s
    assert s.process.poll() is not None  # stopped and reaped: no orphan


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _eval(model: str, out: Path, *extra: str) -> int:
    return main(["eval", model, "--benchmarks", "pyfuncs", "--limit", str(N_TASKS), "--max-new-tokens", "32",
                 "--workers", "2", "--out", str(out), *extra])


# ---------------------------------------------------------------- the same samples as in-process

def test_greedy_completions_score_as_in_process_hf(model_dir, server, tmp_path, capsys):
    assert _eval(str(model_dir), tmp_path / "hf", "--prompt-style", "completion") == 0
    assert _eval(str(model_dir), tmp_path / "served", "--prompt-style", "completion", "--backend", "openai",
                 "--base-url", server.url) == 0
    hf, served = tmp_path / "hf" / "pyfuncs", tmp_path / "served" / "pyfuncs"
    assert (served / "samples.jsonl").read_bytes() == (hf / "samples.jsonl").read_bytes()
    assert [r["verdict"] for r in _rows(served / "results.jsonl")] == [r["verdict"] for r in _rows(hf / "results.jsonl")]
    assert len(_rows(served / "results.jsonl")) == N_TASKS
    manifest = json.loads((served / "manifest.json").read_text())
    usage = manifest["generation_summary"]["usage"]
    assert usage["endpoints"] == ["completions"] and usage["requests"] == N_TASKS and usage["retries"] == 0
    assert usage["completion_tokens"] > 0 and usage["latency_s"]["p50"] > 0
    inputs = json.loads((served / "inputs.json").read_text())["inputs"]
    assert inputs["backend_options"] == {"base_url": server.url}  # another server is another model


def test_auto_sends_instructions_to_the_chat_endpoint(model_dir, server, problems, tmp_path, capsys):
    from codemix.eval.generation import generate

    common = dict(model_ref=str(model_dir), max_new_tokens=24, seed=0)
    generate(problems, out_dir=tmp_path / "hf", prompt_style="instruction", backend="hf", **common)
    before = len(server.stats()["prompts"])
    summary = generate(problems, out_dir=tmp_path / "served", prompt_style="auto", backend="openai",
                       backend_options={"base_url": server.url}, **common)
    assert "has a chat template" in capsys.readouterr().err  # which style, and why
    assert summary["prompt_style"] == "instruction" and summary["usage"]["endpoints"] == ["chat/completions"]
    # The server got the bare instructions and applied the chat template itself.
    assert sorted(server.stats()["prompts"][before:]) == sorted(p.instruction for p in problems)
    assert (tmp_path / "served" / "samples.jsonl").read_bytes() == (tmp_path / "hf" / "samples.jsonl").read_bytes()


def test_a_recipe_scores_a_served_model(model_dir, server, tmp_path, capsys):
    import yaml

    def recipe(model: str, name: str) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"name": name, "seed": 0, "output_dir": str(tmp_path / name), "eval": {
            "model": model, "backend": "openai", "base_url": server.url, "concurrency": 4, "benchmarks": ["pyfuncs"],
            "prompt_style": "completion", "limit": 2, "max_new_tokens": 8}}))
        return path

    # The name a remote server serves: no local directory, no Hub id, no download, still valid.
    assert main(["validate", str(recipe("/models/on-the-gpu-box", "remote"))]) == 0
    assert main(["run", str(recipe(str(model_dir), "served"))]) == 0
    manifest = json.loads((tmp_path / "served" / "eval" / "pyfuncs" / "manifest.json").read_text())
    assert manifest["generation"]["backend"] == "openai"
    assert manifest["generation_summary"]["usage"]["concurrency"] == 4


# ---------------------------------------------------------------- faults, resume

def test_the_fault_schedule_gives_the_clean_runs_samples_with_the_retries_counted(model_dir, server, tmp_path,
                                                                                   capsys):
    # Timeout 8 s: a request of this size takes 1-2 s here, up to ~5 s while the CPU is shared.
    sampled = ["--prompt-style", "completion", "--backend", "openai", "--n", "2", "--temperature", "0.8", "--k",
               "1,2", "--max-new-tokens", "12", "--request-timeout", "8", "--max-retries", "3", "--base-url", server.url]
    assert _eval(str(model_dir), tmp_path / "clean", *sampled) == 0
    served_before = server.stats()["served"]
    server.arm_faults(1, seed=7, slow_s=9)
    assert _eval(str(model_dir), tmp_path / "faulty", *sampled) == 0
    stats = server.stats()
    assert stats["faults"] == {"rate_limit": 1, "server_error": 1, "drop": 1, "slow": 1}
    assert stats["served"] - served_before == N_TASKS
    clean, hit = tmp_path / "clean" / "pyfuncs", tmp_path / "faulty" / "pyfuncs"
    assert (hit / "samples.jsonl").read_bytes() == (clean / "samples.jsonl").read_bytes()
    results = [json.loads((d / "results.json").read_text()) for d in (clean, hit)]
    assert results[0]["pass_at_k"] == results[1]["pass_at_k"]
    usage = json.loads((hit / "manifest.json").read_text())["generation_summary"]["usage"]
    assert usage["retries_by_cause"] == {"connection": 1, "rate_limited": 1, "server_error": 1, "timeout": 1}
    assert usage["requests"] == N_TASKS  # one request of n=2 per task


def test_a_killed_run_resumes_without_asking_for_stored_samples(model_dir, server, problems, tmp_path, monkeypatch):
    from codemix.eval.generation import generate
    from codemix.eval.generation.store import SampleStore

    common = dict(model_ref=str(model_dir), prompt_style="completion", n_samples=3, temperature=0.8,
                  max_new_tokens=16, seed=1, backend="openai")
    options = {"base_url": server.url, "concurrency": 1}  # one at a time: the kill lands after task 2
    generate(problems, out_dir=tmp_path / "whole", backend_options=options, **common)
    append, calls = SampleStore.append, []

    def killed_on_third_answer(self, samples, raws):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        append(self, samples, raws)

    monkeypatch.setattr(SampleStore, "append", killed_on_third_answer)
    with pytest.raises(KeyboardInterrupt):
        generate(problems, out_dir=tmp_path / "parts", backend_options=options, **common)
    monkeypatch.setattr(SampleStore, "append", append)
    before = len(server.stats()["prompts"])
    resumed = generate(problems, out_dir=tmp_path / "parts", backend_options=options, **common)
    assert resumed["resumed"] == 6 and resumed["generated"] == 12
    assert server.stats()["prompts"][before:] == [p.prompt for p in problems[2:]]  # never the stored ones
    assert (tmp_path / "parts" / "samples.jsonl").read_bytes() == (tmp_path / "whole" / "samples.jsonl").read_bytes()


def test_servers_that_ignore_n_or_limit_stops_give_every_sample(model_dir, server, problems, tmp_path):
    from codemix.eval.generation import generate

    common = dict(model_ref=str(model_dir), prompt_style="completion", max_new_tokens=16, seed=0, backend="openai",
                  backend_options={"base_url": server.url})
    generate(problems, out_dir=tmp_path / "plain", **common)
    server.configure(max_stops=4)  # as OpenAI's own API: more than 4 stop sequences is a 400
    try:
        limited = generate(problems, out_dir=tmp_path / "limited", **common)
        server.configure(ignore_n=True)
        sampled = generate(problems, out_dir=tmp_path / "one-choice", n_samples=3, temperature=0.8,
                           **{**common, "seed": 2})
    finally:
        server.configure()
    assert limited["usage"]["stop_limit"] == 4 and limited["usage"]["retries"] == 0
    # The other stop sequences are cut here: the same text as a server that takes them all.
    assert (tmp_path / "limited" / "samples.jsonl").read_bytes() == (tmp_path / "plain" / "samples.jsonl").read_bytes()
    assert sampled["usage"]["server_ignored_n"] and sampled["usage"]["requests"] == 3 * N_TASKS
    rows = _rows(tmp_path / "one-choice" / "samples.jsonl")
    assert [(r["task_id"], r["sample_index"]) for r in rows] == [(p.task_id, i) for p in problems for i in range(3)]


# ---------------------------------------------------------------- the key, refusals

def test_the_key_is_in_no_output_and_refusals_are_one_line(model_dir, tmp_path, monkeypatch, capfd):
    secret = f"sk-codemix-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    served = ["--backend", "openai", "--api-key-env", KEY_ENV, "--prompt-style", "completion", "--max-new-tokens", "12"]
    with serve(model_dir, api_key_env=KEY_ENV) as s:
        assert _eval(str(model_dir), tmp_path / "ok", *served, "--base-url", s.url, "--n", "2",
                     "--temperature", "0.8") == 0
        usage = json.loads((tmp_path / "ok" / "pyfuncs" / "generation.json").read_text())["summary"]["usage"]
        assert usage["requests"] == N_TASKS and usage["api_key_env"] == KEY_ENV
        assert len(_rows(tmp_path / "ok" / "pyfuncs" / "samples.jsonl")) == 2 * N_TASKS

        wrong = f"sk-wrong-{uuid.uuid4().hex}"
        monkeypatch.setenv(KEY_ENV, wrong)  # the server echoes what it got in its 401
        assert _eval(str(model_dir), tmp_path / "refused", *served, "--base-url", s.url) == 2
        refused = capfd.readouterr()
        assert refused.err.strip().splitlines()[-1].startswith("codemix: error: ") and "refused the key in" in refused.err
        assert wrong not in refused.out + refused.err and "***" in refused.err
        assert s.stats()["arrivals"] == N_TASKS  # a 401 is not retried (nor a generation request made)

        monkeypatch.setenv(KEY_ENV, secret)
        assert _eval("no-such-model", tmp_path / "unknown", *served, "--base-url", s.url) == 2
        unknown = capfd.readouterr()
        assert f"does not serve 'no-such-model'; it serves '{model_dir}'" in unknown.err

        # A key set for another service is not sent to this server unless named for it.
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        assert _eval(str(model_dir), tmp_path / "unnamed", *served[:2], *served[4:], "--base-url", s.url) == 2
        unnamed = capfd.readouterr()
        assert "refused no key" in unnamed.err and "Incorrect API key provided: EMPTY" in unnamed.err
    outputs = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert outputs and not any(secret in text for text in outputs)
    assert secret not in refused.out + refused.err + unknown.out + unknown.err + unnamed.out + unnamed.err


def test_bad_servers_and_settings_are_one_line(model_dir, tmp_path, capsys):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    cases = [
        (["--backend", "openai", "--base-url", f"http://127.0.0.1:{closed}/v1"], "cannot reach"),
        (["--backend", "openai"], "backend openai needs base_url"),
        (["--base-url", "http://127.0.0.1:1/v1"], "base_url: only used with backend openai"),
        (["--backend", "openai", "--base-url", "http://u:secret@127.0.0.1:1/v1"], "holds credentials"),
        (["--backend", "openai", "--base-url", "http://127.0.0.1:1/v1", "--adapter", str(tmp_path)],
         "serve the adapter there"),
        (["--backend", "openai", "--base-url", "http://127.0.0.1:1/v1", "--concurrency", "0"], "concurrency"),
        (["--max-model-len", "512"], "max_model_len: only used with backend vllm"),
    ]
    for flags, expected in cases:
        assert _eval(str(model_dir), tmp_path / "out", *flags) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("codemix: error: ") and expected in err[0], (flags, err)
        assert "secret" not in err[0]
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- retry arithmetic and request plans

def test_backoff_doubles_with_jitter_and_honours_retry_after():
    rng = random.Random(0)
    waits = [backoff_delay(i, None, rng) for i in range(5)]
    for i, w in enumerate(waits):
        assert BACKOFF_BASE_S * 2 ** i / 2 <= w <= BACKOFF_BASE_S * 2 ** i
    assert waits == [backoff_delay(i, None, r) for r in [random.Random(0)] for i in range(5)]  # seeded
    assert backoff_delay(0, 7.0, random.Random(0)) == 7.0  # never sooner than the server asks
    assert backoff_delay(0, 0.0, random.Random(0)) >= BACKOFF_BASE_S / 2
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert 50 < retry_after_seconds({"retry-after": _http_date(60)}) <= 60
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds({}) is None


def _http_date(seconds_from_now: float) -> str:
    import time
    from email.utils import formatdate

    return formatdate(time.time() + seconds_from_now, usegmt=True)


def test_samples_of_a_task_share_a_request_up_to_the_limit():
    def req(prompt, seed):
        return Request([1], seed, 8, ("\n",), prompt)

    requests = [req("a", i) for i in range(5)] + [req("b", 9)] + [req("a", 10)]
    blocks = plan_blocks(requests, per_request=3)
    assert [b.indices for b in blocks] == [(0, 1, 2), (3, 4), (5,), (6,)]
    assert [b.request.seed for b in blocks] == [0, 3, 9, 10]  # each request seeded by its first sample


def test_an_adapter_or_an_empty_name_is_refused_before_anything_loads(tmp_path):
    with pytest.raises(CodemixError, match="serve the adapter there"):
        OpenAIBackend.resolve("served-model", str(tmp_path))
    with pytest.raises(CodemixError, match="empty"):
        OpenAIBackend.resolve("  ", None)
    assert OpenAIBackend.resolve("org/served-model", None).checkpoint is None  # no Hub lookup for a served name
