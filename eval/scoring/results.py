"""What both scorer kinds share: selecting problems and samples, and the results.json shape.

results.json keys (a contract other tools read): benchmark, metric ("pass@k" | "accuracy"),
n_tasks, n_attempted, missing_tasks, n_samples, samples_per_task(_range), per_task {task_id:
{n, c}}, notes {reason: samples that held no program, failed unrun: prompt_too_long, no_code},
problems_hash, problems_file_hash, samples_hash, skipped_samples, skipped_rows (malformed samples
rows left out with --skip-bad-rows: [{line, problem}], else []), timing; and
  execute:     pass_at_k {"pass@k": x}, pass_at_k_ci {"pass@k": [lo, hi]}, verdicts, isolation,
               hash_seed (PYTHONHASHSEED and `random` seed of the samples, or "random")
  exact_match: accuracy, accuracy_ci [lo, hi], groups {group: {n_tasks, accuracy, accuracy_ci}}
Values are fractions in [0, 1]; tables print percentages.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks import Problem, load_problems
from codemix.eval.samples import Sample, SkippedRow, read_samples, show_path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Selection:
    problems: list[Problem]       # the problems scored (all, or those in `tasks`)
    samples: list[Sample]         # the samples of those problems
    skipped: int                  # samples of other tasks, left out
    skipped_rows: list[SkippedRow]  # malformed rows left out (skip_bad_rows only)

    def skipped_rows_json(self) -> list[dict]:
        return [{"line": r.line, "problem": r.problem} for r in self.skipped_rows]


def check_args(*, k: Sequence[int], workers: int | None, timeout: float | None) -> None:
    if timeout is not None and timeout <= 0:
        raise CodemixError(f"timeout must be positive, got {timeout}")
    if workers is not None and workers < 1:
        raise CodemixError(f"workers must be at least 1, got {workers}")
    bad_k = [x for x in k if isinstance(x, bool) or not isinstance(x, int) or x < 1]
    if bad_k or not k:
        raise CodemixError(f"k must be positive integers, got {list(k)}")


def check_k(k: Sequence[int], samples: Sequence[Sample]) -> None:
    """k larger than every task's samples is an error, as in `codemix eval` (a k between the
    smallest and the largest count is left out with a warning by the estimator)."""
    from collections import Counter

    from codemix.eval.config import k_error

    most = max(Counter(s.task_id for s in samples).values(), default=0)
    too_big = [x for x in k if x > most]
    if too_big and most:
        raise CodemixError(k_error(too_big, most))


def select(benchmark: str, samples_path: str | Path, problems_path: str | None,
           tasks: Sequence[str] | None, limit: int | None = None, *, skip_bad_rows: bool = False) -> Selection:
    """The problems to score and their samples. `skip_bad_rows`: malformed samples rows are left
    out (listed on stderr and in Selection.skipped_rows) instead of failing the file."""
    all_problems = load_problems(benchmark, problems_path)
    problems = all_problems
    if tasks is not None:
        wanted_tasks = set(tasks)
        unknown = sorted(wanted_tasks - {p.task_id for p in all_problems})
        if unknown:
            raise CodemixError(f"{benchmark}: no such task(s): {', '.join(unknown[:5])}")
        problems = [p for p in all_problems if p.task_id in wanted_tasks]
    if limit is not None:
        problems = problems[:limit]
    by_id = {p.task_id for p in problems}
    skipped_rows: list[SkippedRow] | None = [] if skip_bad_rows else None
    all_samples = read_samples(samples_path, benchmark, {p.task_id: p for p in all_problems}, skipped_rows=skipped_rows)
    if skipped_rows:
        log(f"[score] warning: {show_path(samples_path)}: skipped {len(skipped_rows)} bad row(s) (--skip-bad-rows): "
            + "; ".join(f"line {r.line}: {r.problem}" for r in skipped_rows[:5])
            + (f"; ... (all {len(skipped_rows)} in results.json)" if len(skipped_rows) > 5 else ""))
    samples = [s for s in all_samples if s.task_id in by_id]
    return Selection(problems, samples, len(all_samples) - len(samples), skipped_rows or [])


def check_samples(benchmark: str, samples_path: str | Path, problems_path: str | None, *,
                  skip_bad_rows: bool = False) -> None:
    """Read the samples once before an output directory is made, so that a bad samples file
    fails with nothing written (the scorers read them again: a few seconds for 100,000 rows)."""
    read_samples(samples_path, benchmark, {p.task_id: p for p in load_problems(benchmark, problems_path)},
                 skipped_rows=[] if skip_bad_rows else None)


def per_task_counts(problems: Sequence[Problem], rows: list[dict]) -> tuple[dict[str, dict[str, int]], list[str]]:
    """({task_id: {"n": samples, "c": correct}}, ids of problems with no sample)."""
    per_task: dict[str, dict[str, int]] = {}
    for r in rows:
        t = per_task.setdefault(r["task_id"], {"n": 0, "c": 0})
        t["n"] += 1
        t["c"] += r["verdict"] == "passed"
    missing = [p.task_id for p in problems if p.task_id not in per_task]
    if missing:
        log(f"[score] warning: {len(missing)} task(s) have no samples and are left out "
            f"(not attempted): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return per_task, missing


def note_counts(rows: list[dict]) -> dict[str, int]:
    """{reason: samples} for samples that held no program (codemix.eval.samples.NOTES)."""
    counts: dict[str, int] = {}
    for r in rows:
        if r.get("note"):
            counts[r["note"]] = counts.get(r["note"], 0) + 1
    return counts


def note_lines(results: dict) -> list[str]:
    """"500 of 500 samples had no code": one line per reason a sample held no program."""
    text = {"no_code": "had no code", "prompt_too_long": "were not generated: prompt longer than the model's context"}
    return [f"{n} of {results['n_samples']} samples {text.get(note, note)}" for note, n in results.get("notes", {}).items()]


def sample_counts(per_task: dict[str, dict[str, int]]) -> dict:
    ns = sorted({t["n"] for t in per_task.values()})
    return {"samples_per_task": ns[0] if ns else 0, "samples_per_task_range": [ns[0], ns[-1]] if ns else [0, 0]}


def headline(results: dict) -> str:
    t = results["timing"]
    spt = results["samples_per_task_range"]
    return (f"{results['benchmark']}: {results['n_attempted']}/{results['n_tasks']} tasks, "
            f"{spt[0] if spt[0] == spt[1] else f'{spt[0]}-{spt[1]}'} samples/task, "
            f"{results['n_samples']} samples ({t['executed']} run, {t['resumed']} resumed"
            + (f", {t['not_run']} without a program" if t.get("not_run") else "") + f") in {t['wall_s']:.1f} s")


def format_table(results: dict) -> str:
    """The per-benchmark block `codemix score` prints (percentages, 95% CIs)."""
    lines = [headline(results), f"  {'metric':<10}{'value %':>9}   95% CI"]
    if results.get("metric") == "accuracy":
        values = {"accuracy": (results["accuracy"], results["accuracy_ci"])}
        values.update({f"  {g}": (v["accuracy"], v["accuracy_ci"]) for g, v in results.get("groups", {}).items()})
    else:
        values = {key: (v, results["pass_at_k_ci"][key]) for key, v in results["pass_at_k"].items()}
    for key, (value, (lo, hi)) in values.items():
        lines.append(f"  {key:<10}{100 * value:>9.1f}   [{100 * lo:.1f}, {100 * hi:.1f}]")
    if not values:
        lines.append("  (no pass@k: no k is <= the samples per task)")
    lines.append("  verdicts: " + " · ".join(f"{v} {n}" for v, n in results["verdicts"].items())
                 + (f" · retried {results['timing']['retries']}" if "retries" in results["timing"] else ""))
    lines.extend("  " + line for line in note_lines(results))
    bad = results.get("skipped_rows") or []
    if bad:
        shown = ", ".join(str(r["line"]) for r in bad[:10]) + (", ..." if len(bad) > 10 else "")
        lines.append(f"  {len(bad)} malformed samples row{'s' if len(bad) > 1 else ''} skipped (--skip-bad-rows): "
                     f"line{'s' if len(bad) > 1 else ''} {shown}")
    # The isolation layers are printed once per process when scoring starts (execute.py) and
    # recorded in results.json; not repeated in every benchmark's block.
    return "\n".join(lines)
