"""Scoring: samples in, per-sample verdicts and the benchmark's metric out (`codemix score`, and
`codemix eval` after generation). `score_samples` dispatches on the benchmark's scorer kind:

- execute (eval/scoring/execute.py): programs run in the sandbox; pass@k.
- exact_match (eval/scoring/exact_match.py): answers compared with references; accuracy.

Both write results.jsonl and results.json of the same shape (eval/scoring/results.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codemix.eval.scoring.results import check_args, format_table

__all__ = ["format_table", "score_samples"]


def score_samples(benchmark: str, samples_path: str | Path, *, problems_path: str | None = None,
                  k: Sequence[int] = (1,), workers: int | None = None,
                  timeout: float | None = None, out_dir: str | Path,
                  tasks: Sequence[str] | None = None, limit: int | None = None, limits: Any = None,
                  executor: Any = None, show_table: bool = True, hash_seed: int | str = 0,
                  skip_bad_rows: bool = False, verdicts: str = "in-process") -> dict:
    """Score every sample of `samples_path` on `benchmark`; returns the results.json dict.

    `tasks` restricts scoring to those task ids (samples of other tasks are skipped), `limit` to
    the first N of them in problem order (bigcode-evaluation-harness's --limit). For
    executed benchmarks, `executor` lets a caller reuse a running sandbox pool and `limits`
    sets its resource limits, `hash_seed` the samples' PYTHONHASHSEED and `random` seed (or
    "random"); exact-match benchmarks ignore k, workers, timeout, limits and hash_seed.
    `skip_bad_rows`: malformed samples rows are left out and listed (results.json's skipped_rows)
    instead of failing the file. `verdicts`: "in-process" or "strict" (eval/scoring/strict.py);
    exact-match benchmarks run no code and ignore it."""
    from codemix.core.errors import CodemixError
    from codemix.eval.benchmarks import get_benchmark
    from codemix.eval.sandbox.executor import check_hash_seed
    from codemix.eval.scoring.strict import check_verdict_mode

    check_args(k=k, workers=workers, timeout=timeout)
    check_verdict_mode(verdicts)
    try:
        check_hash_seed(hash_seed)
    except ValueError as e:
        raise CodemixError(str(e)) from None
    bench = get_benchmark(benchmark)
    if bench.scorer == "exact_match":
        from codemix.eval.scoring.exact_match import score_exact_match

        return score_exact_match(benchmark, samples_path, out_dir=out_dir, problems_path=problems_path,
                                 tasks=tasks, limit=limit, show_table=show_table, skip_bad_rows=skip_bad_rows)
    from codemix.eval.scoring.execute import score_execute

    return score_execute(benchmark, samples_path, problems_path=problems_path, k=k, workers=workers,
                         timeout=timeout, out_dir=out_dir, tasks=tasks, limit=limit, limits=limits, executor=executor,
                         show_table=show_table, hash_seed=hash_seed, skip_bad_rows=skip_bad_rows, verdicts=verdicts)
