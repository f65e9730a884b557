"""Generation speed: samples/s of the HF backend batched vs one prompt at a time (tiny model, CPU),
and, when CUDA and vLLM are present, HF vs vLLM on a real model (~0.5B); with `--backend openai`,
the openai backend through a local OpenAI-compatible server (tests/helpers/openai_server.py, the
same tiny model) at concurrency 1, 4 and 16 against in-process HF generation.

    python speed/generate_speed.py                       # CPU: tiny random Llama
    python speed/generate_speed.py --model /models/Qwen2.5-0.5B --tasks 164 --n-samples 10 \
        --temperature 0.8                                     # + GPU: HF vs vLLM (local model dir)
    python speed/generate_speed.py --backend openai      # CPU: served at concurrency 1/4/16 vs in-process

Both parts run the project's real code path (prompts, stop sequences, per-row seeds) on
HumanEval prompts and print a table plus the ratio; `--json` writes the numbers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")


def _problems(n: int) -> list:
    from codemix.eval.benchmarks import load_problems

    return load_problems("humaneval")[:n]


def tiny_model(problems):
    """A random 2-layer Llama (hidden 64) with a BPE tokenizer trained on the prompts (0.2 s)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from codemix.finetune.tokenizer import build_tokenizer

    texts = [p.prompt for p in problems]
    tokenizer = build_tokenizer("bpe", texts=texts, vocab_size=512)
    torch.manual_seed(0)
    # initializer_range 0.2: sharper logits than the default 0.02, so greedy text varies per
    # prompt instead of repeating one token (closer to a trained model's workload).
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=256, max_position_embeddings=2048, tie_word_embeddings=True, initializer_range=0.2,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)).eval()
    return model, tokenizer


def hf_batched_vs_single(problems, *, max_new_tokens: int, batch_size: int) -> dict:
    from codemix.eval.generation import PromptSpec, build_prompt, encode_prompt_text, stop_sequences
    from codemix.eval.generation.backend import Request
    from codemix.eval.generation.hf import generate_all

    model, tokenizer = tiny_model(problems)
    spec = PromptSpec("completion", None)
    requests = [Request(encode_prompt_text(build_prompt(p, spec, tokenizer), spec, tokenizer), seed=i,
                        max_new_tokens=max_new_tokens, stops=stop_sequences(spec, tokenizer, p))
                for i, p in enumerate(problems)]
    generate_all(model, tokenizer, requests[:2], batch_size=2, eos_ids=[tokenizer.eos_token_id],
                 temperature=0.0, top_p=1.0, on_batch=lambda *a: None)  # warm-up (lazy imports, allocator)
    rows, outputs = [], {}
    for label, size in ((f"batched ({batch_size})", batch_size), ("one at a time", 1)):
        out: dict = {}
        started = time.perf_counter()
        generate_all(model, tokenizer, requests, batch_size=size, eos_ids=[tokenizer.eos_token_id],
                     temperature=0.0, top_p=1.0,
                     on_batch=lambda idx, gens, out=out: out.update(zip(idx, gens, strict=True)))
        seconds = time.perf_counter() - started
        tokens = sum(g.n_tokens for g in out.values())
        rows.append({"backend": "hf", "mode": label, "samples": len(out), "tokens": tokens,
                     "seconds": round(seconds, 3), "samples_per_s": round(len(out) / seconds, 3),
                     "tokens_per_s": round(tokens / seconds, 1)})
        outputs[label] = [out[i].raw for i in range(len(requests))]
    first, second = outputs.values()
    return {"rows": rows, "ratio": round(rows[0]["samples_per_s"] / rows[1]["samples_per_s"], 2),
            "ratio_of": "batched / one at a time", "identical_outputs": first == second,
            "model": "random Llama, hidden 64, 2 layers (CPU)", "max_new_tokens": max_new_tokens}


def hf_vs_vllm(problems, *, model: str, max_new_tokens: int, batch_size: int, n_samples: int,
               temperature: float) -> dict:
    from codemix.eval.generation import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("hf", "vllm"):
            summary = generate(problems, model_ref=model, out_dir=Path(tmp) / backend, prompt_style="completion",
                               n_samples=n_samples, temperature=temperature, top_p=0.95,
                               max_new_tokens=max_new_tokens, seed=0, batch_size=batch_size, backend=backend)
            rows.append({"backend": backend, "mode": f"batch {batch_size}" if backend == "hf" else "continuous",
                         "samples": summary["generated"], "seconds": summary["seconds"],
                         "samples_per_s": summary["samples_per_s"], "tokens_per_s": summary["tokens_per_s"]})
    return {"rows": rows, "ratio": round(rows[1]["samples_per_s"] / rows[0]["samples_per_s"], 2),
            "ratio_of": "vllm / hf", "model": model, "max_new_tokens": max_new_tokens}


def openai_vs_hf(problems, *, max_new_tokens: int, batch_size: int, concurrencies=(1, 4, 16)) -> dict:
    """In-process HF generation, then the same greedy samples through the local server at each
    concurrency (one request per sample; the server batches what arrives together)."""
    from codemix.eval.generation import generate

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers.openai_server import serve

    model, tokenizer = tiny_model(problems)
    rows, samples = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(Path(tmp) / "model")
        tokenizer.save_pretrained(Path(tmp) / "model")
        common = dict(model_ref=str(Path(tmp) / "model"), prompt_style="completion", max_new_tokens=max_new_tokens,
                      seed=0, batch_size=batch_size)
        generate(problems[:2], out_dir=Path(tmp) / "warm-hf", **common)  # lazy imports, allocator
        summary = generate(problems, out_dir=Path(tmp) / "hf", **common)
        rows.append({"backend": "hf", "mode": f"in-process {batch_size}", "samples": summary["generated"],
                     "seconds": summary["seconds"], "samples_per_s": summary["samples_per_s"],
                     "tokens_per_s": summary["tokens_per_s"]})
        samples["hf"] = (Path(tmp) / "hf" / "samples.jsonl").read_text()
        with serve(Path(tmp) / "model") as server:
            generate(problems[:2], out_dir=Path(tmp) / "warm-served", backend="openai",
                     backend_options={"base_url": server.url}, **common)
            server.stats(reset_peak=True)
            for c in concurrencies:
                summary = generate(problems, out_dir=Path(tmp) / f"c{c}", backend="openai",
                                   backend_options={"base_url": server.url, "concurrency": c}, **common)
                rows.append({"backend": "openai", "mode": f"concurrency {c}", "samples": summary["generated"],
                             "seconds": summary["seconds"], "samples_per_s": summary["samples_per_s"],
                             "tokens_per_s": summary["tokens_per_s"],
                             "latency_p50_s": summary["usage"]["latency_s"]["p50"],
                             "max_in_flight": server.stats(reset_peak=True)["max_in_flight"]})
                samples[c] = (Path(tmp) / f"c{c}" / "samples.jsonl").read_text()
    by_c = {r["mode"]: r["samples_per_s"] for r in rows}
    low, high = concurrencies[0], concurrencies[-1]
    return {"rows": rows, "ratio": round(by_c[f"concurrency {high}"] / by_c[f"concurrency {low}"], 2),
            "ratio_of": f"openai concurrency {high} / concurrency {low}",
            "served_vs_in_process": round(by_c[f"concurrency {high}"] / rows[0]["samples_per_s"], 2),
            "identical_outputs": len(set(samples.values())) == 1,
            "model": "random Llama, hidden 64, 2 layers (CPU), served by tests/helpers/openai_server.py",
            "max_new_tokens": max_new_tokens}


def _table(result: dict) -> str:
    lines = [f"{'backend':8} {'mode':16} {'samples':>8} {'seconds':>9} {'samples/s':>10} {'tokens/s':>10}"]
    for r in result["rows"]:
        lines.append(f"{r['backend']:8} {r['mode']:16} {r['samples']:>8} {r['seconds']:>9.2f} "
                     f"{r['samples_per_s']:>10.2f} {r['tokens_per_s'] or 0:>10.1f}")
    lines.append(f"ratio {result['ratio_of']}: {result['ratio']:.2f}x   ({result['model']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=32, help="HumanEval problems to generate for")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", help="local model directory for the GPU comparison (HF vs vLLM)")
    ap.add_argument("--n-samples", type=int, default=1, help="GPU comparison: samples per task")
    ap.add_argument("--temperature", type=float, default=0.0, help="GPU comparison: 0 = greedy")
    ap.add_argument("--backend", choices=["hf", "openai"], default="hf",
                    help="openai: through a local server at concurrency 1, 4, 16 vs in-process HF")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    problems = _problems(args.tasks)
    if args.backend == "openai":
        result = openai_vs_hf(problems, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
        print(_table(result))
        for r in result["rows"][1:]:
            print(f"{r['mode']}: latency p50 {r['latency_p50_s']} s, at most {r['max_in_flight']} requests in "
                  "flight at once on the server")
        print(f"served at the highest concurrency / in-process: {result['served_vs_in_process']:.2f}x; "
              f"greedy samples identical everywhere: {result['identical_outputs']}")
        if args.json:
            args.json.write_text(json.dumps({"openai": result}, indent=2) + "\n", encoding="utf-8")
        return 0
    results = {"cpu": hf_batched_vs_single(problems, max_new_tokens=args.max_new_tokens,
                                           batch_size=args.batch_size)}
    print(_table(results["cpu"]))
    print(f"greedy outputs identical batched vs one at a time: {results['cpu']['identical_outputs']}")

    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None:
        if not args.model:
            print("CUDA and vLLM present: pass --model <local ~0.5B model dir> for the HF vs vLLM comparison")
        else:
            results["gpu"] = hf_vs_vllm(problems, model=args.model, max_new_tokens=args.max_new_tokens,
                                        batch_size=args.batch_size, n_samples=args.n_samples,
                                        temperature=args.temperature)
            print()
            print(_table(results["gpu"]))
    else:
        print("HF vs vLLM skipped: needs a CUDA GPU and the vllm package")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
