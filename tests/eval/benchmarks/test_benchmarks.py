"""Benchmark problems: loaders, prompts, hashes, and the reference solutions through the sandbox
(HumanEval 164/164, MBPP 498/500 with exactly the two upstream failures, `return None` fails)."""

import gzip
import json

import pytest

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks import (
    benchmark_names,
    load_problems,
    normalise_task_id,
    problems_hash,
    source_hash,
)
from codemix.eval.sandbox.executor import Executor, Job
from helpers.plus import HUMANEVAL_PLUS_RECORDS


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=2) as ex:
        yield ex


def _verdicts(executor, problems, solution_of, timeout=30.0):
    jobs = [Job(p.task_id, p.test_program(solution_of(p)), timeout) for p in problems]
    return {key: result for key, result in executor.run(jobs)}


def _returns_none(p):
    # The reference with its entry point replaced by one that returns None.
    return p.canonical_solution + f"\n\ndef {p.entry_point}(*args, **kwargs):\n    return None\n"


def test_humaneval_references_pass_and_return_none_fails(executor):
    problems = load_problems("humaneval")
    assert len(problems) == 164 and problems[0].task_id == "HumanEval/0"
    ok = _verdicts(executor, problems, lambda p: p.canonical_solution)
    assert [k for k, r in ok.items() if r.verdict != "passed"] == []
    bad = _verdicts(executor, problems, lambda p: p.prompt + "    return None\n")
    assert [k for k, r in bad.items() if r.verdict != "failed"] == []


def test_mbpp_test_split_references_498_of_500(executor, data_file):
    problems = load_problems("mbpp", str(data_file("mbpp/mbpp.jsonl")))
    assert len(problems) == 500
    assert {p.task_id for p in problems} == {f"Mbpp/{i}" for i in range(11, 511)}
    ok = _verdicts(executor, problems, lambda p: p.canonical_solution)
    assert sorted(k for k, r in ok.items() if r.verdict != "passed") == ["Mbpp/341", "Mbpp/367"]
    bad = _verdicts(executor, problems, _returns_none)
    assert [k for k, r in bad.items() if r.verdict == "passed"] == []


def test_mbpp_sanitized_references_pass(executor, data_file):
    problems = load_problems("mbpp-sanitized", str(data_file("mbpp/sanitized-mbpp.json")))
    assert len(problems) == 257
    ok = _verdicts(executor, problems, lambda p: p.canonical_solution)
    assert [k for k, r in ok.items() if r.verdict != "passed"] == []


def test_prompts_of_both_styles(data_file):
    he = load_problems("humaneval")[0]
    assert he.prompt.startswith("from typing import List") and he.entry_point == "has_close_elements"
    assert he.prompt in he.instruction and "code block" in he.instruction
    assert he.test_program(he.prompt + "X").startswith(he.prompt + "X")
    assert he.test_program("pass").rstrip().endswith("check(has_close_elements)")
    mb = load_problems("mbpp", str(data_file("mbpp/mbpp.jsonl")))[0]
    assert mb.task_id == "Mbpp/11" and mb.entry_point == "remove_Occ"
    assert mb.prompt.startswith('"""\n') and "assert remove_Occ" in mb.prompt
    assert "Your code should pass these tests" in mb.instruction
    assert mb.solution_from_completion("def f(): pass") == mb.prompt + "def f(): pass"


def test_task_ids_from_other_tools_are_normalised():
    assert normalise_task_id("mbpp", 11) == "Mbpp/11"
    assert normalise_task_id("mbpp-sanitized", "mbpp/12") == "Mbpp/12"
    assert normalise_task_id("mbpp", " 13 ") == "Mbpp/13"
    assert normalise_task_id("humaneval", "HumanEval/3") == "HumanEval/3"
    assert normalise_task_id("humaneval", 3) == "3"  # no guessing for HumanEval


def test_problems_hash_follows_content_not_location(tmp_path, data_file):
    a = load_problems("humaneval")
    from codemix.mixing.benchmark_records import humaneval_package_file

    copy = tmp_path / "he.jsonl.gz"
    copy.write_bytes(humaneval_package_file().read_bytes())
    b = load_problems("humaneval", str(copy))
    assert problems_hash(a) == problems_hash(b)
    assert problems_hash(a) != problems_hash(a[:-1])
    assert source_hash("humaneval", None) == source_hash("humaneval", str(copy))
    assert source_hash("mbpp", str(data_file("mbpp/mbpp.jsonl", exact=True))).startswith("0b7004a7")


def test_loader_errors_are_clear(tmp_path, data_file):
    with pytest.raises(CodemixError, match="unknown benchmark 'humanevel'"):
        load_problems("humanevel")
    with pytest.raises(CodemixError, match="does not exist"):
        load_problems("mbpp", str(tmp_path / "nope.jsonl"))
    with pytest.raises(CodemixError, match="sanitized"):
        load_problems("mbpp", str(data_file("mbpp/sanitized-mbpp.json")))
    with pytest.raises(CodemixError, match="EvalPlus release file"):
        load_problems("humaneval+")
    bad = tmp_path / "plus.jsonl"
    bad.write_text(json.dumps({"task_id": "HumanEval/0", "prompt": "x"}) + "\n")
    with pytest.raises(CodemixError, match=r"plus.jsonl: row 1: not an EvalPlus record"):
        load_problems("humaneval+", str(bad))
    assert set(benchmark_names()) >= {"humaneval", "mbpp", "mbpp-sanitized", "humaneval+", "mbpp+", "pyfuncs"}


_HE_PLUS = HUMANEVAL_PLUS_RECORDS
_MBPP_PLUS = [
    {"task_id": "Mbpp/2", "entry_point": "similar_elements",
     "prompt": '"""\nWrite a function to find the shared elements from the given two lists.\n"""\n',
     "canonical_solution": "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n", "atol": 0,
     "base_input": [[[3, 4, 5, 6], [5, 7, 4, 10]]], "plus_input": [[[1, 2, 3, 4, 5], [5, 4, 3, 9]]]},
]


def _write_gz(path, rows):
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def test_evalplus_problems_need_base_and_plus_inputs(executor, tmp_path):
    path = tmp_path / "HumanEvalPlus.jsonl.gz"
    _write_gz(path, _HE_PLUS)
    trunc, zero = load_problems("humaneval+", str(path))
    cases = {
        "reference": (trunc, trunc.canonical_solution, "passed"),
        # off by 1e-12: inside the 1e-6 tolerance EvalPlus enforces for float outputs
        "float-noise": (trunc, trunc.prompt + "    return number % 1.0 + 1e-12\n", "passed"),
        # right on the base inputs (x.5, x.25), wrong on a plus input (123.456)
        "base-only": (trunc, trunc.prompt + "    return 0.5 if number % 1 == 0.5 else (0.25 if number % 1 == 0.25 else 0.0)\n", "failed"),
        # another root than the reference's is fine for find_zero: checked by evaluating poly
        "other-root": (zero, zero.prompt + "    import numpy\n    r = numpy.roots(list(reversed(xs)))\n"
                                           "    return float(max(x.real for x in r if abs(x.imag) < 1e-9))\n", "passed"),
        "zero-wrong": (zero, zero.prompt + "    return 123.0\n", "failed"),
    }
    jobs = [Job(name, p.test_program(sol), 30.0) for name, (p, sol, _) in cases.items()]
    got = {k: r for k, r in executor.run(jobs)}
    assert {k: r.verdict for k, r in got.items()} == {k: v[2] for k, v in cases.items()}, got
    assert "input #2 [123.456]" in got["base-only"].error  # the first plus input


def test_mbpp_plus_set_oracle(executor, tmp_path):
    path = tmp_path / "MbppPlus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _MBPP_PLUS))
    (p,) = load_problems("mbpp+", str(path))
    jobs = [Job("ref", p.test_program(p.canonical_solution), 30.0),
            Job("reordered", p.test_program("def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b), reverse=True))\n"), 30.0),
            Job("wrong", p.test_program("def similar_elements(a, b):\n    return tuple(set(a))\n"), 30.0)]
    assert {k: r.verdict for k, r in executor.run(jobs)} == {"ref": "passed", "reordered": "passed", "wrong": "failed"}


def test_pyfuncs_heldout_tasks_pass_their_tests(executor):
    try:
        problems = load_problems("pyfuncs")
    except CodemixError as e:
        pytest.skip(f"built-in task generator not available yet: {e}")
    assert problems and all(p.task_id.startswith("pyfuncs/") for p in problems)
    ok = _verdicts(executor, problems, lambda p: p.canonical_solution)
    assert [k for k, r in ok.items() if r.verdict != "passed"] == []
    bad = _verdicts(executor, problems, _returns_none)
    assert [k for k, r in bad.items() if r.verdict == "passed"] == []
