"""`Problem`: one benchmark task, the unit that generation prompts and scoring checks."""

from __future__ import annotations

import dataclasses
import re

from codemix.core.artifacts import hash_json

# The fields every problem had before exact-match benchmarks; a problem that leaves the newer
# fields at their defaults hashes exactly as before, so earlier results keep their
# problems_hash (and resume into the same eval directories).
_CORE_FIELDS = 8


@dataclasses.dataclass(frozen=True)
class Problem:
    """One benchmark task.

    `prompt` is completion-style (the model continues it; the sample's solution is prompt +
    completion); `instruction` is the same task as a request to a chat model, whose answer is a
    whole program. `canonical_solution` is a whole program that passes. The test program is
    `test_setup` + solution + `test_code`: setup and tests are the benchmark's own (trusted)
    code, the solution is the sample's."""
    task_id: str
    benchmark: str
    prompt: str
    instruction: str
    entry_point: str
    canonical_solution: str
    test_code: str
    test_setup: str = ""
    # Exact-match benchmarks: the expected answer (compared with the sample's completion).
    reference: str | None = None
    # Completion-style stop sequences of this problem (empty: the standard code stops).
    stop: tuple[str, ...] = ()
    # Subsets the problem belongs to (e.g. ("unseen", "noop")): the metric is reported per group.
    groups: tuple[str, ...] = ()

    def solution_from_completion(self, completion: str) -> str:
        return self.prompt + completion

    def test_program(self, solution: str) -> str:
        parts = [self.test_setup, solution, self.test_code]
        return "\n".join(p.rstrip("\n") for p in parts if p) + "\n"


def problems_hash(problems: list[Problem]) -> str:
    """Hash of everything that decides a verdict or a prompt, independent of where the problems
    were read from (package file, local copy or the Hub give the same hash)."""
    rows = []
    for p in problems:
        row = dataclasses.astuple(p)
        if p.reference is None and not p.stop and not p.groups:
            row = row[:_CORE_FIELDS]
        rows.append(row)
    return hash_json(rows)


def normalise_task_id(benchmark: str, task_id: object) -> str:
    """Task ids as other tools write them: MBPP ids may be bare numbers (11, "11") or any case
    of "mbpp/11"; everything else must match exactly."""
    tid = str(task_id).strip()
    if benchmark.startswith("mbpp"):
        m = re.fullmatch(r"(?:mbpp/)?(\d+)", tid, flags=re.I)
        if m:
            return f"Mbpp/{int(m.group(1))}"
    return tid
