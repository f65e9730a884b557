"""pyfuncs: held-out tasks of codemix's built-in "write a Python function" generator (139 by
default; `seed=N` as the problems path selects another draw)."""

from __future__ import annotations

import re

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks.base import Benchmark
from codemix.eval.benchmarks.problem import Problem
from codemix.eval.benchmarks.registry import register


def _pyfuncs_problems(path: str | None) -> list[Problem]:
    try:
        from codemix.mixing.builtin import pyfuncs_heldout_tasks
    except ImportError as e:
        raise CodemixError(f"pyfuncs: the built-in task generator is not available ({e})") from None
    seed = 0
    if path is not None:  # "seed=N" selects another draw of the held-out tasks
        m = re.fullmatch(r"seed=(\d+)", str(path))
        if not m:
            raise CodemixError(f"pyfuncs: problems must be 'seed=N' (the tasks are generated), got {path!r}")
        seed = int(m.group(1))
    return [Problem(task_id=t["task_id"], benchmark="pyfuncs", prompt=t["prompt"],
                    instruction=t["instruction"], entry_point=t["entry_point"],
                    canonical_solution=t["canonical_solution"], test_code="\n".join(t["tests"]))
            for t in pyfuncs_heldout_tasks(seed=seed)]


register(Benchmark(
    name="pyfuncs", scorer="execute", description="held-out tasks of the built-in pyfuncs generator",
    load=_pyfuncs_problems, default_source="codemix's built-in generator", path_is_file=False))
