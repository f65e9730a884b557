"""MBPP: the full release's test split (500 problems, task_id 11-510) and the sanitized one (257),
from local files or the Hub."""

from __future__ import annotations

import re

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks.base import Benchmark
from codemix.eval.benchmarks.problem import Problem
from codemix.eval.benchmarks.registry import register
from codemix.mixing.benchmark_records import MBPP_HUB_ID, load_mbpp

_MBPP_INSTRUCTION = ("You are an expert Python programmer, and here is your task: {text} "
                     "Your code should pass these tests:\n\n{tests}\n")


def mbpp_entry_point(code: str, first_test: str, where: str) -> str:
    """The function the tests call: a function the reference defines whose name the first
    test calls."""
    names = re.findall(r"^def\s+(\w+)\s*\(", code, flags=re.M)
    called = [n for n in names if re.search(rf"\b{re.escape(n)}\s*\(", first_test)]
    if not called:
        raise CodemixError(f"{where}: cannot tell which function the tests call "
                           f"(defined: {', '.join(names) or 'none'}; test: {first_test[:80]})")
    return called[0]


def _mbpp_problem(r: dict, sanitized: bool) -> Problem:
    text = r["prompt"] if sanitized else r["text"]
    tests = [t.strip() for t in r["test_list"]]
    code = r["code"].replace("\r\n", "\n")
    task_id = f"Mbpp/{int(r['task_id'])}"
    # Setup first, as the reference harnesses do: the imports the tests need, or MBPP's
    # test_setup_code. (The one non-empty test_setup_code, task 367's, builds trees from the
    # solution's Node class before the solution defines it, which is why 367's reference fails
    # upstream; keeping the upstream order keeps scores comparable.)
    if sanitized:
        setup = "\n".join(r.get("test_imports") or [])
    else:
        setup = (r.get("test_setup_code") or "").replace("\r\n", "\n")
    test_code = "\n".join(tests)
    return Problem(
        task_id=task_id, benchmark="mbpp-sanitized" if sanitized else "mbpp",
        # Completion style as in bigcode-evaluation-harness: description and one test in a
        # docstring; the model writes the whole function after it.
        prompt=f'"""\n{text.strip()}\n{tests[0]}\n"""\n',
        instruction=_MBPP_INSTRUCTION.format(text=text.strip(), tests="\n".join(tests)),
        entry_point=mbpp_entry_point(code, tests[0], task_id), canonical_solution=code,
        test_code=test_code, test_setup=setup)


register(Benchmark(
    name="mbpp", scorer="execute", description="MBPP (full release, 500-problem test split)",
    load=lambda path: [_mbpp_problem(r, sanitized=False) for r in load_mbpp("full", path)],
    path_hint="mbpp.jsonl (the full release)", hub_id=MBPP_HUB_ID))
register(Benchmark(
    name="mbpp-sanitized", scorer="execute", description="MBPP sanitized (257-problem test split)",
    load=lambda path: [_mbpp_problem(r, sanitized=True) for r in load_mbpp("sanitized", path)],
    path_hint="sanitized-mbpp.json", hub_id=MBPP_HUB_ID))
