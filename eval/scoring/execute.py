"""The `execute` scorer: every sample's program runs against its problem's tests in the
sandbox; pass@k with bootstrap CIs.

    out_dir/results.jsonl     one row per sample, appended as verdicts arrive (the resume log),
                              rewritten in task order at the end
    out_dir/results.json      the summary (eval/scoring/results.py lists its keys)
    out_dir/results.run.json  what the log belongs to (benchmark, problems, limits): a log
                              written for anything else is not resumed

A killed run re-run with the same samples keeps every verdict already in results.jsonl and
executes only the rest; the summary is computed from the log, so it comes out the same.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from codemix.core.artifacts import atomic_write_json, atomic_write_text, hash_json
from codemix.core.progress import progress
from codemix.eval.benchmarks import problems_hash, source_hash
from codemix.eval.passk import pass_at_k_report
from codemix.eval.samples import NOTES, Sample, samples_hash
from codemix.eval.sandbox import environment, hidden_paths
from codemix.eval.sandbox.executor import VERDICTS, Executor, Job, Limits
from codemix.eval.scoring.results import (
    check_k,
    format_table,
    log,
    note_counts,
    per_task_counts,
    sample_counts,
    select,
)
from codemix.eval.scoring.strict import check_verdict_mode
from codemix.eval.scoring.strict import coverage as strict_coverage
from codemix.eval.scoring.strict import prepare as prepare_strict
from codemix.eval.timelimits import time_limits

RESULT_FIELDS = ("task_id", "sample_index", "verdict", "error", "duration_s", "cpu_s", "retried", "solution_hash", "note")


_announced: set[str] = set()


def announce_isolation(executor: Executor) -> None:
    """The isolation layers, printed once per process (a run scores several benchmarks and models
    with the same layers; they are recorded in every results.json)."""
    # The layers once; the hidden problem files once per set (each benchmark hides its own).
    # (hidden-problem-files is left out of the key: it is used or not per benchmark, and the
    # line below names what each one hides)
    detail = {k: v for k, v in executor.layer_detail.items() if k != hidden_paths.LAYER}
    layers = json.dumps([[x for x in executor.layers if x != hidden_paths.LAYER], detail], sort_keys=True, default=str)
    if layers not in _announced:
        _announced.add(layers)
        log(f"[score] isolation: {', '.join(executor.layers)}")
        for name, state in executor.layer_detail.items():
            if state.startswith("unavailable") or state.startswith("partial"):
                log(f"[score] warning: isolation layer {name} {state}")
    hidden = json.dumps(sorted(map(str, executor.hidden_paths)))
    if executor.hidden_paths and hidden not in _announced:
        _announced.add(hidden)
        log(f"[score] hidden from the samples: {', '.join(map(str, executor.hidden_paths))}")


def problem_sources(benchmark: str, problems_path: str | None, *, samples_path: str | Path,
                    out_dir: str | Path) -> list[str]:
    """What the samples of `benchmark` must not read (the tests and reference solutions they
    are scored against): the problems file given, or the benchmark's default file, each with its
    directory where nothing the run needs lives there (hidden_paths.file_or_its_directory), and
    the Hugging Face caches (MBPP and the EvalPlus sets read from the Hub land there)."""
    from codemix.eval.benchmarks import get_benchmark

    bench = get_benchmark(benchmark)
    needed = hidden_paths.needed_paths(sys.executable, environment.samples_import_path())
    keep_visible = [*needed, str(samples_path), str(out_dir)]
    files = []
    if problems_path is None and bench.default_file is not None:
        files.append(bench.default_file())
    elif problems_path not in (None, "hub") and bench.path_is_file:
        files.append(problems_path)
    paths = [hidden_paths.file_or_its_directory(f, keep_visible) for f in files]
    for cache in hidden_paths.hugging_face_caches():
        holds = next((n for n in keep_visible if hidden_paths.is_under(os.path.realpath(n), cache)), None)
        if holds is None:
            paths.append(cache)
        else:
            log(f"[score] warning: the Hugging Face cache {cache} holds {holds}; it stays readable to the samples")
    return paths


def _hiding_record(executor: Executor, wanted: list[str], layers: list[str], detail: dict) -> tuple[list, dict]:
    """results.json's isolation and isolation_detail. An executor passed in by the caller was
    started for other paths, maybe none: where it leaves one of `wanted` readable, the layer is
    recorded as not in force, and said, rather than claimed."""
    covered = {p for p in wanted if any(hidden_paths.is_under(os.path.realpath(p), h) for h in executor.hidden_paths)}
    missing = [p for p in wanted if p not in covered and os.path.exists(p)]
    if not missing or detail.get(hidden_paths.LAYER, "").startswith(("unavailable", "unused: switched off")):
        return layers, detail  # all hidden, or the executor's own record already says why not
    state = f"not in force: the executor passed in leaves {', '.join(missing)} readable"
    log(f"[score] warning: isolation layer {hidden_paths.LAYER} {state}")
    return [x for x in layers if x != hidden_paths.LAYER], {**detail, hidden_paths.LAYER: state}


def _load_log(path: Path, wanted: dict[tuple[str, int], Sample]) -> dict[tuple[str, int], dict]:
    """Verdicts already in the log for exactly these samples (same solution text). A torn last
    line (the run was killed mid-write) is dropped."""
    done: dict[tuple[str, int], dict] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            key = (row["task_id"], int(row["sample_index"]))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        sample = wanted.get(key)
        if sample is not None and row.get("solution_hash") == sample.solution_hash \
                and row.get("verdict") in VERDICTS:
            done[key] = {f: row.get(f) for f in RESULT_FIELDS}
    return done


def score_execute(benchmark: str, samples_path: str | Path, *, problems_path: str | None = None,
                  k: Sequence[int] = (1,), workers: int | None = None,
                  timeout: float | None = None, out_dir: str | Path,
                  tasks: Sequence[str] | None = None, limit: int | None = None, limits: Limits | None = None,
                  executor: Executor | None = None, show_table: bool = True,
                  hash_seed: int | str = 0, skip_bad_rows: bool = False, verdicts: str = "in-process") -> dict:
    """Execute every sample against its problem's tests; returns the results.json dict.

    `tasks` restricts scoring to those task ids (samples of other tasks are skipped);
    `executor` lets a caller reuse a running sandbox pool (otherwise one is started, with
    `hash_seed`: PYTHONHASHSEED and `random`'s seed in every sample, or "random"). The hash seed
    in force is recorded in results.json and keys the resume log: verdicts found under another
    seed are not reused. `skip_bad_rows`: malformed samples rows are left out and listed
    (results.json's skipped_rows) instead of failing the file. `verdicts`: "in-process" (the
    program runs with the tests) or "strict" (eval/scoring/strict.py: the tests' expected values
    never enter the sample's process); recorded, and it keys the resume log too."""
    started = time.monotonic()
    check_verdict_mode(verdicts)
    sel = select(benchmark, samples_path, problems_path, tasks, limit, skip_bad_rows=skip_bad_rows)
    problems, samples, skipped = sel.problems, sel.samples, sel.skipped
    check_k(k, samples)
    by_id = {p.task_id: p for p in problems}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    hide = problem_sources(benchmark, problems_path, samples_path=samples_path, out_dir=out)
    own_executor = executor is None
    if own_executor:
        executor = Executor(workers=workers, limits=limits or Limits(), hash_seed=hash_seed, hide=hide)
    try:
        announce_isolation(executor)
        limits_by_task, limit_info = time_limits(problems, executor, fixed=timeout)
        run_key = {"benchmark": benchmark, "problems_hash": problems_hash(problems),
                   "time_limits": hash_json(limits_by_task), "hash_seed": executor.hash_seed}
        if verdicts != "in-process":  # only then: in-process logs of earlier versions still resume
            run_key["verdicts"] = verdicts
        strict, in_process = prepare_strict(problems, executor, limits_by_task) if verdicts == "strict" else ({}, {})
        log_path, run_path = out / "results.jsonl", out / "results.run.json"
        previous = json.loads(run_path.read_text()) if run_path.is_file() else None
        wanted = {(s.task_id, s.index): s for s in samples}
        done = _load_log(log_path, wanted) if previous == run_key else {}
        # Keep only the reusable rows (drops torn lines and rows of other samples).
        atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in done.values()))
        atomic_write_json(run_path, run_key)
        todo = [s for s in samples if (s.task_id, s.index) not in done]
        resumed = len(done)
        # A sample with no program (prompt too long for the model, no code in the response) fails
        # without being run; its reason is kept and counted.
        for s in [s for s in todo if s.note]:
            done[s.task_id, s.index] = {"task_id": s.task_id, "sample_index": s.index, "verdict": "failed",
                                        "error": NOTES[s.note], "duration_s": 0.0, "retried": False,
                                        "solution_hash": s.solution_hash, "note": s.note}
        unrun = sum(1 for s in todo if s.note)
        todo = [s for s in todo if not s.note]
        if resumed:
            log(f"[score] resuming: {resumed} verdicts kept from {log_path}, {len(todo)} to run")
        run_started = time.monotonic()
        # Programs are built when a worker takes the job: MBPP+/HumanEval+ programs carry
        # their test inputs and can be large.
        jobs = [strict[s.task_id].job((s.task_id, s.index), s.solution, limits_by_task[s.task_id])
                if s.task_id in strict else
                Job((s.task_id, s.index), functools.partial(by_id[s.task_id].test_program, s.solution),
                    limits_by_task[s.task_id]) for s in todo]
        with open(log_path, "a", encoding="utf-8") as log_file:
            for (task_id, index), result in progress(executor.run(jobs), desc=f"scoring {benchmark}",
                                                     total=len(jobs), unit="sample"):
                if task_id in strict:
                    result.verdict, result.error = strict[task_id].judge(result)
                row = {"task_id": task_id, "sample_index": index, "verdict": result.verdict,
                       "error": result.error, "duration_s": round(result.duration_s, 4),
                       "cpu_s": round(result.cpu_s, 4), "retried": result.retried, "solution_hash": wanted[task_id, index].solution_hash}
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
                done[task_id, index] = row
        run_seconds = time.monotonic() - run_started
        workers_used, restarts = executor.n_workers, executor.restarts
        isolation, isolation_detail = _hiding_record(executor, hide, executor.layers, executor.layer_detail)
        hash_seed_used = executor.hash_seed
    finally:
        if own_executor:
            executor.close()

    order = {p.task_id: i for i, p in enumerate(problems)}
    rows = sorted(done.values(), key=lambda r: (order[r["task_id"]], r["sample_index"]))
    atomic_write_text(log_path, "".join(json.dumps(r) + "\n" for r in rows))
    results = summarize(benchmark, problems, rows, k)
    results.update({
        "problems_hash": problems_hash(problems),
        "problems_file_hash": source_hash(benchmark, problems_path),
        "samples_hash": samples_hash(samples_path),
        "skipped_samples": skipped, "skipped_rows": sel.skipped_rows_json(),
        "isolation": isolation, "isolation_detail": isolation_detail, "hash_seed": hash_seed_used,
        "verdict_mode": verdicts, **({"strict": strict_coverage(strict, in_process)} if verdicts == "strict" else {}),
        "timing": {"wall_s": round(time.monotonic() - started, 3), "run_s": round(run_seconds, 3),
                   "executed": len(todo), "resumed": resumed, "not_run": unrun,
                   "samples_per_s": round(len(todo) / run_seconds, 2) if todo and run_seconds > 0 else None,
                   "retries": sum(1 for r in rows if r["retried"]), "workers": workers_used,
                   "worker_restarts": restarts, "time_limit": limit_info},
    })
    atomic_write_json(out / "results.json", results)
    if show_table:
        print(format_table(results))
    return results


def summarize(benchmark: str, problems, rows: list[dict], k: Sequence[int]) -> dict:
    """The verdict-derived part of results.json (everything but hashes and timing)."""
    per_task, missing = per_task_counts(problems, rows)
    counts = [(t["n"], t["c"]) for t in per_task.values()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        means, cis = pass_at_k_report(counts, k)
    for w in caught:
        log(f"[score] warning: {w.message}")
    verdicts = Counter(r["verdict"] for r in rows)
    return {
        "benchmark": benchmark, "metric": "pass@k", "n_tasks": len(problems), "n_attempted": len(per_task),
        "missing_tasks": missing, "n_samples": len(rows), **sample_counts(per_task),
        "pass_at_k": means, "pass_at_k_ci": cis, "per_task": per_task,
        "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS},
        "notes": note_counts(rows),
    }
