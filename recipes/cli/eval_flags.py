"""The flags `codemix eval` and `codemix score` share, defined once so that each means the same in
both: `--benchmarks/--benchmark` (either spelling), `--problems BENCH=PATH`, `--k` (default 1, the
same checks), `--tasks`, `--limit`, `--workers`, `--timeout`, `--verdicts`; and `codemix eval`'s
backend settings (`--base-url`, `--concurrency`, `--max-model-len`, ...), kept beside them."""

from __future__ import annotations

import argparse

K_DEFAULT = [1]
VERDICT_MODES = ("in-process", "strict")  # codemix.eval.scoring.strict.VERDICT_MODES, without importing it here


def csv_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def k_list(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. --k 1,10; got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"k values must be positive integers, e.g. --k 1,10; got {text!r}")
    return ks


def hash_seed_arg(text: str) -> int | str:
    if text == "random":
        return text
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'random', got {text!r}") from None
    if not 0 <= seed <= 4294967295:
        raise argparse.ArgumentTypeError(f"must be in [0, 4294967295] (PYTHONHASHSEED's range), got {seed}")
    return seed


def add_shared_flags(p: argparse.ArgumentParser, *, one_benchmark: bool) -> None:
    what = ("the benchmark the samples answer" if one_benchmark
            else "benchmarks to score, comma-separated (default humaneval,mbpp)")
    p.add_argument("--benchmarks", "--benchmark", dest="benchmarks", type=csv_list, default=None,
                   required=one_benchmark, metavar="NAME[,NAME]",
                   help=f"{what}: humaneval, mbpp, mbpp-sanitized, humaneval+, mbpp+, pyfuncs, or any registered one")
    p.add_argument("--problems", action="append", default=[], metavar="BENCH=PATH",
                   help="local problems file for a benchmark, e.g. mbpp=../shared/data/mbpp/mbpp.jsonl "
                        "(repeatable; 'hub' for the Hub copy)" + ("; a bare PATH is for the one benchmark scored"
                                                                 if one_benchmark else ""))
    p.add_argument("--k", type=k_list, default=None, metavar="K[,K]",
                   help="pass@k values, e.g. 1,10 (default 1; each k must be <= the samples per task)")
    p.add_argument("--tasks", type=csv_list, default=None, metavar="ID[,ID]", help="only these task ids (comma-separated)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N tasks of each benchmark")
    p.add_argument("--workers", type=int, default=None, help="sandbox workers (default: one per core)")
    p.add_argument("--hash-seed", type=hash_seed_arg, default=None, metavar="N|random",
                   help="PYTHONHASHSEED of the executed samples, also the seed `random` starts from in each "
                        "(default 0: the same verdicts in every run; recorded in results.json); 'random': a random "
                        "one per worker and fresh `random` state per sample")
    p.add_argument("--verdicts", choices=VERDICT_MODES, default=None,
                   help="how executed samples are judged (default in-process; recorded in results.json): 'strict' "
                        "gives the sample's process only the test inputs and checks the plain data it returns "
                        "outside, so no program can forge a pass; tests that are not calls with literal arguments "
                        "keep the in-process check and are counted")
    p.add_argument("--timeout", type=float, default=None,
                   help="per-sample time limit in seconds (default: max(3 s, 5 x the reference solution's runtime))")
    p.add_argument("--allow-weaker-isolation", type=csv_list, default=None, metavar="LAYER[,LAYER]",
                   help="run on when these sandbox isolation layers (e.g. seccomp, pid-namespace, or all) are "
                        "supported here but cannot be put in force; by default that stops the run. Sets "
                        "CODEMIX_ALLOW_WEAKER_ISOLATION for this process and the ones it starts")


# The backend settings of `codemix eval` (EvalConfig's keys of the same names, checked there).
BACKEND_FLAG_KEYS = ("base_url", "api_key_env", "tokenizer", "concurrency", "request_timeout", "max_retries",
                     "tensor_parallel_size", "gpu_memory_utilization", "max_model_len")


def add_backend_flags(p: argparse.ArgumentParser) -> None:
    served = p.add_argument_group("--backend openai (a served model; MODEL is the name it is served under)")
    served.add_argument("--base-url", metavar="URL", help="the server's API root, e.g. http://127.0.0.1:8000/v1")
    served.add_argument("--api-key-env", metavar="NAME",
                        help="environment variable holding the API key, e.g. OPENAI_API_KEY (default: no key); "
                             "the key itself is never written anywhere")
    served.add_argument("--tokenizer", metavar="PATH|ID",
                        help="local tokenizer for prompts, context budget and --prompt-style auto (default: MODEL "
                             "when it is a local directory; else the server's chat template is used)")
    served.add_argument("--concurrency", type=int, metavar="N", help="requests in flight (default 16)")
    served.add_argument("--request-timeout", type=float, metavar="S",
                        help="seconds per request before it is retried (default 300)")
    served.add_argument("--max-retries", type=int, metavar="N",
                        help="retries per request after a 429, 5xx, timeout or dropped connection (default 6)")
    engine = p.add_argument_group("--backend vllm (larger models)")
    engine.add_argument("--tensor-parallel-size", type=int, metavar="N", help="GPUs the model is split over")
    engine.add_argument("--gpu-memory-utilization", type=float, metavar="F",
                        help="share of each GPU's memory vLLM may take (default 0.9)")
    engine.add_argument("--max-model-len", type=int, metavar="N",
                        help="context length vLLM reserves KV cache for (default: what the longest request needs)")


def check_shared(args: argparse.Namespace) -> None:
    from codemix.core.errors import CodemixError

    if args.workers is not None and args.workers < 1:
        raise CodemixError(f"--workers must be at least 1, got {args.workers}")
    if args.timeout is not None and args.timeout <= 0:
        raise CodemixError(f"--timeout must be positive, got {args.timeout}")
    if args.limit is not None and args.limit < 1:
        raise CodemixError(f"--limit must be at least 1, got {args.limit}")
    if args.allow_weaker_isolation is not None:
        import os

        from codemix.eval.sandbox.environment import ALLOW_WEAKER_ENV, allowed_weaker
        from codemix.eval.sandbox.executor import OPTIONAL_LAYERS

        allowed_weaker(args.allow_weaker_isolation, OPTIONAL_LAYERS)  # unknown names fail here, not later
        os.environ[ALLOW_WEAKER_ENV] = ",".join(args.allow_weaker_isolation)


def parse_problems(items: list[str], benchmarks: list[str], *, bare_for_one: bool) -> dict[str, str]:
    """`--problems BENCH=PATH` (repeatable) -> {bench: path}; with `bare_for_one` a plain PATH
    is the problems file of the one benchmark given."""
    from codemix.core.errors import CodemixError
    from codemix.eval.benchmarks import benchmark_names

    names = set(benchmark_names())
    out: dict[str, str] = {}
    for item in items:
        bench, sep, path = item.partition("=")
        if sep and bench in names and path:
            pass
        elif bare_for_one and len(benchmarks) == 1 and not (sep and bench in names):
            bench, path = benchmarks[0], item
        else:
            example = benchmarks[0] if benchmarks else "mbpp"
            raise CodemixError(f"--problems {item!r}: expected BENCH=PATH with BENCH a benchmark name, "
                               f"e.g. --problems {example}=data/{example}.jsonl")
        if benchmarks and bench not in benchmarks:
            raise CodemixError(f"--problems {item}: {bench} is not among the benchmarks scored "
                               f"({', '.join(benchmarks)})")
        out[bench] = path
    return out
