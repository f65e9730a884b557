"""The `exact_match` scorer: a sample is correct when its answer equals the problem's reference
(`Problem.reference`), compared after stripping surrounding whitespace. No code runs, so no
sandbox. The answer is the sample's completion: for a sample stored as a whole "solution" that
starts with the prompt, the text after the prompt.

Accuracy is the mean over problems of the share of correct samples, with a seeded percentile
bootstrap CI over problems (the same resampling as pass@k's), overall and per group
(`Problem.groups`, e.g. seen vs unseen rules, no-op vs applied).

    out_dir/results.jsonl   one row per sample: task_id, sample_index, verdict, answer
    out_dir/results.json    the summary (eval/scoring/results.py lists its keys)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from codemix.core.artifacts import atomic_write_json, atomic_write_text
from codemix.core.errors import CodemixError
from codemix.eval.benchmarks import Problem, get_benchmark, problems_hash, source_hash
from codemix.eval.passk import bootstrap_ci
from codemix.eval.samples import samples_hash
from codemix.eval.scoring.results import format_table, note_counts, per_task_counts, sample_counts, select

VERDICTS = ("passed", "failed")


def answer_of(problem: Problem, solution: str) -> str:
    return solution[len(problem.prompt):] if problem.prompt and solution.startswith(problem.prompt) else solution


def accuracy_block(per_task: dict[str, dict[str, int]], task_ids: Sequence[str]) -> dict:
    values = np.array([per_task[t]["c"] / per_task[t]["n"] for t in task_ids if t in per_task], dtype=np.float64)
    if len(values) == 0:
        return {"n_tasks": 0, "accuracy": float("nan"), "accuracy_ci": [float("nan"), float("nan")]}
    return {"n_tasks": int(len(values)), "accuracy": float(values.mean()), "accuracy_ci": list(bootstrap_ci(values))}


def score_exact_match(benchmark: str, samples_path: str | Path, *, out_dir: str | Path,
                      problems_path: str | None = None, tasks: Sequence[str] | None = None,
                      limit: int | None = None, show_table: bool = True, skip_bad_rows: bool = False) -> dict:
    started = time.monotonic()
    sel = select(benchmark, samples_path, problems_path, tasks, limit, skip_bad_rows=skip_bad_rows)
    by_id = {p.task_id: p for p in sel.problems}
    missing_reference = [p.task_id for p in sel.problems if p.reference is None]
    if missing_reference:
        raise CodemixError(f"{benchmark}: an exact_match benchmark needs a reference answer for every problem; "
                           f"{missing_reference[0]} has none")
    rows = []
    for s in sel.samples:
        problem = by_id[s.task_id]
        answer = answer_of(problem, s.solution)
        ok = answer.strip() == problem.reference.strip()
        rows.append({"task_id": s.task_id, "sample_index": s.index, "verdict": "passed" if ok and not s.note else "failed",
                     "answer": answer, **({"note": s.note} if s.note else {})})
    order = {p.task_id: i for i, p in enumerate(sel.problems)}
    rows.sort(key=lambda r: (order[r["task_id"]], r["sample_index"]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    per_task, missing = per_task_counts(sel.problems, rows)
    overall = accuracy_block(per_task, [p.task_id for p in sel.problems])
    group_names = list(dict.fromkeys(g for p in sel.problems for g in p.groups))
    groups = {}
    for g in group_names:
        members = [p.task_id for p in sel.problems if g in p.groups]
        # the members are named so a report can pair runs on a group (e.g. unseen rules) alone
        groups[g] = {**accuracy_block(per_task, members), "task_ids": members}
    verdicts = Counter(r["verdict"] for r in rows)
    wall = time.monotonic() - started
    results = {
        "benchmark": benchmark, "metric": "accuracy", "n_tasks": len(sel.problems), "n_attempted": len(per_task),
        "missing_tasks": missing, "n_samples": len(rows), **sample_counts(per_task),
        "accuracy": overall["accuracy"], "accuracy_ci": overall["accuracy_ci"], "groups": groups,
        "per_task": per_task, "verdicts": {v: verdicts.get(v, 0) for v in VERDICTS}, "notes": note_counts(rows),
        "problems_hash": problems_hash(sel.problems), "problems_per_run": get_benchmark(benchmark).problems_per_run,
        "problems_file_hash": source_hash(benchmark, problems_path),
        "samples_hash": samples_hash(samples_path), "skipped_samples": sel.skipped,
        "skipped_rows": sel.skipped_rows_json(),
        "timing": {"wall_s": round(wall, 3), "executed": len(rows), "resumed": 0},
    }
    atomic_write_json(out / "results.json", results)
    if show_table:
        print(format_table(results))
    return results
