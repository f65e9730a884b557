"""`codemix eval MODEL`: generate with a checkpoint / model and score it on code benchmarks.

Settings default to the recipe schema's `eval:` defaults (one source of truth: EvalConfig)."""

from __future__ import annotations

import argparse
from pathlib import Path

from codemix.recipes.cli import add_guard_args
from codemix.recipes.cli.eval_flags import add_backend_flags, add_shared_flags


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a codemix train checkpoint dir, a local model dir, or a Hub model id")
    p.add_argument("--adapter", help="peft adapter dir to apply on top of MODEL")
    add_shared_flags(p, one_benchmark=False)
    p.add_argument("--prompt-style", choices=["auto", "completion", "instruction"], default=None)
    p.add_argument("--backend", choices=["hf", "vllm", "openai"], default=None,
                   help="hf (default), vllm (GPU), or openai: MODEL served by an OpenAI-compatible server at --base-url")
    p.add_argument("--n", dest="n_samples", type=int, default=None, help="samples per task (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="output dir (default: evals/<model name>)")
    p.add_argument("--force", action="store_true", help="regenerate and rescore even when up to date")
    add_backend_flags(p)
    add_guard_args(p)


def run(args: argparse.Namespace) -> int:
    from codemix.api.stages import evaluate
    from codemix.eval.benchmarks import get_benchmark
    from codemix.eval.config import EvalConfig
    from codemix.finetune.checkpoint import is_trained_model
    from codemix.recipes.cli.eval_flags import BACKEND_FLAG_KEYS, check_shared, parse_problems
    from codemix.recipes.report.single import results_table

    check_shared(args)
    benchmarks = args.benchmarks or EvalConfig.model_fields["benchmarks"].default_factory()
    for bench in benchmarks:
        get_benchmark(bench)  # the did-you-mean error before --problems is read
    problems = parse_problems(args.problems, benchmarks, bare_for_one=True)
    result = evaluate(args.model, adapter=args.adapter, benchmarks=args.benchmarks, problems=problems, out=args.out,
                      seed=args.seed, prompt_style=args.prompt_style, backend=args.backend, n_samples=args.n_samples,
                      temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                      batch_size=args.batch_size, k=args.k, tasks=args.tasks, limit=args.limit, workers=args.workers,
                      timeout=args.timeout, hash_seed=args.hash_seed, verdicts=args.verdicts,
                      **{key: getattr(args, key) for key in BACKEND_FLAG_KEYS}, force=args.force,
                      wait=args.wait, keep=args.keep)
    print()
    # `trained` for a codemix checkpoint however it is named (its run dir, train dir or model/
    # folder) or a model with an adapter; `base` for anything else.
    trained = is_trained_model(args.model, args.adapter)
    print(results_table(result.data, label="trained" if trained else "base"))
    print("\nresults: " + ", ".join(str(r.results_path) for r in result.benchmarks.values()))
    return 0
