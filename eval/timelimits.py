"""Per-problem time limits: max(3 s, 5 x the reference solution's runtime on this machine).

A fixed limit is either too tight for the few slow test suites (HumanEval/75's reference takes
~0.25 s here, most take under 1 ms) or needlessly loose for the rest, so each problem's
reference solution is run once through the same sandbox, and the measured times are cached per
problem set and machine (`$CODEMIX_CACHE_DIR`, else `~/.cache/codemix`).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from codemix.core.artifacts import atomic_write_json
from codemix.core.progress import progress
from codemix.eval.benchmarks.problem import Problem, problems_hash
from codemix.eval.sandbox.executor import Executor, Job

MIN_LIMIT_S = 3.0
REFERENCE_FACTOR = 5.0
# A reference that runs this long is broken; it is measured under this limit and no sample
# waits longer than it.
MAX_LIMIT_S = 60.0


def cache_dir() -> Path:
    if os.environ.get("CODEMIX_CACHE_DIR"):
        return Path(os.environ["CODEMIX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codemix"


def _cache_file(problems: list[Problem]) -> Path:
    machine = f"{platform.node()}-{os.cpu_count()}cpu"
    return cache_dir() / "reference-times" / f"{problems_hash(problems)[:16]}-{machine}.json"


def measure_reference_times(problems: list[Problem], executor: Executor) -> dict[str, float]:
    """Seconds each problem's reference solution takes in the sandbox (cached)."""
    path = _cache_file(problems)
    cached: dict[str, float] = {}
    if path.is_file():
        try:
            cached = {k: float(v) for k, v in json.loads(path.read_text())["reference_s"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            cached = {}  # unreadable cache: measure again
    todo = [p for p in problems if p.task_id not in cached]
    if todo:
        jobs = [Job(p.task_id, p.test_program(p.canonical_solution), MAX_LIMIT_S) for p in todo]
        for task_id, result in progress(executor.run(jobs), desc="timing reference solutions",
                                        total=len(jobs), unit="task"):
            cached[task_id] = result.duration_s
        atomic_write_json(path, {"reference_s": cached, "problems_hash": problems_hash(problems)})
    return {p.task_id: cached[p.task_id] for p in problems}


def time_limits(problems: list[Problem], executor: Executor,
                fixed: float | None = None) -> tuple[dict[str, float], dict]:
    """({task_id: seconds}, description for results.json)."""
    if fixed is not None:
        return {p.task_id: float(fixed) for p in problems}, {"mode": "fixed", "seconds": float(fixed)}
    reference = measure_reference_times(problems, executor)
    limits = {tid: min(MAX_LIMIT_S, max(MIN_LIMIT_S, REFERENCE_FACTOR * t)) for tid, t in reference.items()}
    return limits, {"mode": "measured", "min_s": MIN_LIMIT_S, "factor": REFERENCE_FACTOR,
                    "max_s": round(max(limits.values()), 3), "cache": str(_cache_file(problems))}
