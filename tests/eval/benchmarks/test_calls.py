"""eval/benchmarks/calls.py: which tests split into calls and checks (strict verdicts), what the
sample's process receives (inputs only) and what keeps the in-process check, with its reason."""

import gzip
import json

import pytest

from codemix.eval.benchmarks import Problem, load_problems
from codemix.eval.benchmarks.calls import AssertPlan, ReferencePlan, plan_calls

# HumanEval's tests that are not calls with literal arguments: random inputs (32, 38, 50, 53),
# a loop (44), variables computed by the test (151).
HUMANEVAL_IN_PROCESS = {"HumanEval/32", "HumanEval/38", "HumanEval/44", "HumanEval/50", "HumanEval/53",
                        "HumanEval/151"}


def _problem(test_code: str, setup: str = "", entry: str = "f") -> Problem:
    return Problem(task_id="T/0", benchmark="humaneval", prompt="", instruction="", entry_point=entry,
                   canonical_solution="", test_code=test_code, test_setup=setup)


def _humaneval_check(body: str, entry: str = "f") -> str:
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return f"METADATA = {{}}\nimport math\n\ndef check(candidate):\n{lines}\n\ncheck({entry})\n"


def test_humaneval_coverage(humaneval_problems):
    plans = {tid: plan_calls(p) for tid, p in humaneval_problems.items()}
    in_process = {tid for tid, plan in plans.items() if isinstance(plan, str)}
    assert in_process == HUMANEVAL_IN_PROCESS
    assert "statement other than asserts" in plans["HumanEval/44"]
    assert all(isinstance(plans[t], AssertPlan) for t in ("HumanEval/0", "HumanEval/2", "HumanEval/129"))


def test_the_sample_receives_inputs_never_expected_values(humaneval_problems):
    plan = plan_calls(humaneval_problems["HumanEval/2"])
    assert plan.calls == ("truncate_number(3.5)", "truncate_number(1.33)", "truncate_number(123.456)")
    assert [c.expression for c in plan.checks] == ["_cm_out(0) == 0.5", "abs(_cm_out(1) - 0.33) < 1e-06",
                                                   "abs(_cm_out(2) - 0.456) < 1e-06"]
    sent = "\n".join([plan.before, plan.after, *plan.calls])
    assert "0.33" not in sent.replace("1.33", "") and "0.456" not in sent and "0.5" not in sent
    # HumanEval/0: every expected True/False stays with the checks
    plan = plan_calls(humaneval_problems["HumanEval/0"])
    assert "True" not in "".join(plan.calls) and "False" not in "".join(plan.calls)
    assert len(plan.calls) == len(plan.checks) == 7


def test_calls_keep_the_tests_semantics(humaneval_problems):
    # HumanEval/33 compares the candidate with the entry point called by its own name: two calls
    plan = plan_calls(humaneval_problems["HumanEval/33"])
    assert plan.checks[0].expression == "tuple(_cm_out(0)) == tuple(_cm_out(1))"
    assert plan.calls[:2] == ("sort_third([1, 2, 3])", "sort_third([1, 2, 3])")
    # the test module's imports run beside the solution, as in the original program (a solution
    # may use `math` without importing it), and its check() replaces any check of the solution
    plan = plan_calls(_problem(_humaneval_check("assert candidate(2) is True\nassert not candidate(3)")))
    assert "import math" in plan.after and "def check(candidate)" in plan.after
    assert [c.expression for c in plan.checks] == ["_cm_out(0) is True", "not _cm_out(1)"]
    plan = plan_calls(_problem(_humaneval_check(
        "assert True\nassert True, 'placeholder'\nassert math.isclose(candidate(x=1.5), 2.0, rel_tol=1e-3)\n"
        "assert set(candidate([1, 2] * 3)) == set((1, 2))\nassert sorted(candidate(-1))[0] == -float('inf')")))
    assert plan.calls == ("f(x=1.5)", "f([1, 2] * 3)", "f(-1)")
    assert [c.expression for c in plan.checks] == [
        "math.isclose(_cm_out(0), 2.0, rel_tol=0.001)", "set(_cm_out(1)) == set((1, 2))",
        "sorted(_cm_out(2))[0] == -float('inf')"]


@pytest.mark.parametrize("body, reason", [
    ("for x in range(3):\n    assert candidate(x) == x", "statement other than asserts"),
    ("y = 3\nassert candidate(y) == 3", "statement other than asserts"),
    ("assert candidate(1) == helper(1)", "calls helper"),
    ("assert candidate(1) == 1 or candidate(2) == 2", "BoolOp"),
    ("assert candidate(1) * 2 == 4", "multiplies or raises a result"),
    ("assert 2 ** candidate(1) == 4", "multiplies or raises a result"),
    ("assert candidate(candidate(1)) == 1", "argument calls candidate"),
    ("assert candidate(x) == 1", "argument uses the name 'x'"),
    ("assert candidate(*[1]) == 1", "Starred"),
    ("assert candidate(1).real == 1", "Attribute"),
    ("assert candidate(1).__class__ == int", "Attribute"),
    ("assert candidate(open('x')) == 1", "argument calls open"),
    ("assert math.floor(1.5) == 1", "does not call f"),
    ("assert [x for x in candidate(1)] == [1]", "ListComp"),
])
def test_what_keeps_the_in_process_check(body, reason):
    plan = plan_calls(_problem(_humaneval_check(body)))
    assert isinstance(plan, str) and reason in plan, plan


def test_module_statements_and_setup_that_keep_the_in_process_check():
    code = "import random\nX = random.random()\n\ndef check(candidate):\n    assert candidate(1) == 1\n\ncheck(f)\n"
    assert "other than imports and constants" in plan_calls(_problem(code))
    assert "setup does more than import" in plan_calls(_problem("assert f(1) == 1", setup="root = Node(1)"))
    assert "does not parse" in plan_calls(_problem("assert f(1 == 1"))
    assert isinstance(plan_calls(_problem("assert f(1) == 1", setup="import math")), AssertPlan)


def test_mbpp_coverage(data_file):
    full = {p.task_id: plan_calls(p) for p in load_problems("mbpp", str(data_file("mbpp/mbpp.jsonl")))}
    assert {t for t, plan in full.items() if isinstance(plan, str)} == {"Mbpp/367"}  # trees built by setup
    plan = full["Mbpp/11"]
    assert plan.calls[0] == "remove_Occ('hello', 'l')" and plan.checks[0].expression == "_cm_out(0) == 'heo'"
    sanitized = [plan_calls(p) for p in load_problems("mbpp-sanitized", str(data_file("mbpp/sanitized-mbpp.json")))]
    assert all(isinstance(plan, AssertPlan) for plan in sanitized)
    assert sum("math.isclose" in c.expression for plan in sanitized for c in plan.checks) >= 30


def test_evalplus_problems_plan_their_inputs(tmp_path):
    record = {"task_id": "HumanEval/2", "entry_point": "truncate_number",
              "prompt": "def truncate_number(number: float) -> float:\n", "canonical_solution": "    return number % 1.0\n",
              "atol": 1e-6, "base_input": [[3.5]], "plus_input": [[123.456], [7.0]]}
    path = tmp_path / "HumanEvalPlus.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(record) + "\n")
    (problem,) = load_problems("humaneval+", str(path))
    plan = plan_calls(problem)
    assert isinstance(plan, ReferencePlan)
    assert json.loads(plan.inputs_json) == [[3.5], [123.456], [7.0]]
    assert plan.reference == record["prompt"] + record["canonical_solution"]
    assert (plan.atol, plan.oracle, plan.entry_point) == (1e-6, "", "truncate_number")
