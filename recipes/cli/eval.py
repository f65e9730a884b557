"""`codemix eval MODEL`: generate with a checkpoint / model and score it on code benchmarks.

Settings default to the recipe schema's `eval:` defaults (one source of truth: EvalConfig)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from codemix.recipes.cli import add_guard_args
from codemix.recipes.cli.eval_flags import add_shared_flags


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a codemix train checkpoint dir, a local model dir, or a Hub model id")
    p.add_argument("--adapter", help="peft adapter dir to apply on top of MODEL")
    add_shared_flags(p, one_benchmark=False)
    p.add_argument("--prompt-style", choices=["auto", "completion", "instruction"], default=None)
    p.add_argument("--backend", choices=["hf", "vllm"], default=None)
    p.add_argument("--n", dest="n_samples", type=int, default=None, help="samples per task (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="output dir (default: evals/<model name>)")
    p.add_argument("--force", action="store_true", help="regenerate and rescore even when up to date")
    add_guard_args(p)


def default_out_dir(model: str) -> Path:
    """evals/<model name>, for checkpoints too: a run's own eval/ belongs to `codemix run`, whose
    results (and up-to-date check) an ad-hoc eval with other settings must not replace."""
    return Path("evals") / re.sub(r"[^A-Za-z0-9._-]+", "--", model.strip("/"))


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from codemix.eval.benchmarks import get_benchmark
    from codemix.eval.config import EvalConfig
    from codemix.eval.evaluate import evaluate_model
    from codemix.core.errors import CodemixError
    from codemix.recipes.cli.eval_flags import check_shared, parse_problems
    from codemix.recipes.loader import validation_message
    from codemix.recipes.report.single import results_table

    check_shared(args)
    benchmarks = args.benchmarks or EvalConfig.model_fields["benchmarks"].default_factory()
    for bench in benchmarks:
        get_benchmark(bench)  # the did-you-mean error before anything else
    problems = parse_problems(args.problems, benchmarks, bare_for_one=True)
    given = {"benchmarks": args.benchmarks, "prompt_style": args.prompt_style, "backend": args.backend,
             "n_samples": args.n_samples, "temperature": args.temperature, "top_p": args.top_p,
             "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "k": args.k,
             "tasks": args.tasks, "limit": args.limit, "workers": args.workers, "timeout": args.timeout,
             "problems": problems, "hash_seed": args.hash_seed}
    try:
        cfg = EvalConfig(model=args.model, adapter=args.adapter, **{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise CodemixError(validation_message("codemix eval", e, EvalConfig).replace("codemix eval: ", "", 1)) from None
    # Everything that can be checked without loading a model is checked before any directory is
    # made: the model reference, the adapter, the backend, the benchmarks and their problems.
    from codemix.eval.benchmarks import load_problems
    from codemix.eval.generation.backend import get_backend
    from codemix.finetune.checkpoint import resolve_model

    resolve_model(args.model, args.adapter)
    get_backend(cfg.backend).check_available()
    for bench in cfg.benchmarks:
        load_problems(bench, cfg.problems.get(bench))
    out = args.out or default_out_dir(args.model)
    results = evaluate_model(args.model, cfg, adapter=args.adapter, out_dir=out, seed=args.seed, force=args.force,
                             wait=args.wait, keep=args.keep)
    print()
    trained = args.adapter is not None or (Path(args.model) / "manifest.json").is_file()
    print(results_table(results, label="trained" if trained else "base"))
    print("\nresults: " + ", ".join(str(Path(out) / b / "results.json") for b in results))
    return 0
