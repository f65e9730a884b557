"""Strict verdicts (eval/scoring/strict.py): the encoding of results, the checks evaluated outside
the sample's process, forged passes that fail, and agreement with the in-process verdicts on
honest samples."""

import json
import math
import os
import subprocess
import sys

import pytest
from codemix.eval.benchmarks.calls import AssertPlan, Check
from codemix.eval.scoring.strict import (
    MAX_DEPTH,
    decode_records,
    driver_program,
    judge_asserts,
    plus_equal,
)

VALUES = {
    "tuple": (1, 2), "list of tuple": [1, (2,)], "true": True, "one": 1, "float one": 1.0, "minus zero": -0.0,
    "nan": math.nan, "inf": math.inf, "minus inf": -math.inf, "big int": 2 ** 100, "big negative": -(2 ** 70),
    "text": "é\udc80\n\"", "bytes": b"\x00\xff", "complex": 1 + 2j, "set": {1, 2}, "frozenset": frozenset({3}),
    "dict": {(1, 2): [3], "a": None, 1: {True: 1.5}}, "empty": [[], (), {}, set(), ""],
    "deep": [[[[[[[[[[1]]]]]]]]]],
}


def run_driver(plan: AssertPlan, solution: str) -> bytes:
    """The driver program in a plain interpreter (the code here is ours: no sandbox needed) with
    descriptor 4 on a pipe; returns what it wrote there."""
    read, write = os.pipe()
    program = f"import os\nos.dup2({write}, 4)\n" + driver_program(plan, solution)
    proc = subprocess.Popen([sys.executable, "-c", program], pass_fds=(write,), stdout=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    assert proc.wait(timeout=60) == 0
    return data


def plan_of(calls, checks=("True",)) -> AssertPlan:
    return AssertPlan("f", "", "", tuple(calls), tuple(Check(c, c, i + 1) for i, c in enumerate(checks)))


def same(a, b) -> bool:
    """Equal with the same types all the way down (nan equal to nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) and same(k, next(j for j in b if j == k)) for k in a)
    return a == b


def test_results_come_back_as_the_exact_builtins_they_were():
    names = list(VALUES)
    solution = f"nan, inf = float('nan'), float('inf')\nVALUES = {VALUES!r}"  # repr writes nan and inf as names
    solution += f"\nNAMES = {names!r}\ndef f(i):\n    return VALUES[NAMES[i]]\n"
    records, ended, problem = decode_records(run_driver(plan_of([f"f({i})" for i in range(len(names))]), solution))
    assert ended and not problem
    got = {name: r["ok"] for name, r in zip(names, records)}
    assert [n for n in names if not same(got[n], VALUES[n])] == []
    # what the comparison relies on: True stays apart from 1, a tuple from a list
    assert got["true"] is True and type(got["one"]) is int and type(got["tuple"]) is tuple


def test_the_standard_librarys_dicts_come_back_as_dicts():
    solution = ("import collections\ndef f(i):\n    return [collections.Counter('aab'), collections.OrderedDict(b=1, a=2),"
                " collections.defaultdict(int, {1: 2})][i]\n")
    records, ended, _ = decode_records(run_driver(plan_of(["f(0)", "f(1)", "f(2)"]), solution))
    assert ended and [r["ok"] for r in records] == [{"a": 2, "b": 1}, {"b": 1, "a": 2}, {1: 2}]
    assert {type(r["ok"]) for r in records} == {dict}


@pytest.mark.parametrize("returned, named, at", [
    ("class I(int):\n    pass\nR = I(3)", "__main__.I", ""),
    ("class A:\n    def __eq__(self, other):\n        return True\nR = [1, A()]", "__main__.A", "[1]"),
    ("R = {'k': (x for x in [])}", "builtins.generator", "['k']"),
    ("R = []\nR.append(R)", f"nesting deeper than {MAX_DEPTH}", ""),
])
def test_anything_else_is_named_and_fails(returned, named, at):
    records, ended, _ = decode_records(run_driver(plan_of(["f()", "f()"]), returned + "\ndef f():\n    return R\n"))
    assert not ended and len(records) == 1  # the first unencodable result stops the calls
    assert records[0]["unencodable"] == named
    assert records[0]["at"].startswith(at)


def test_a_raised_exception_is_recorded_and_stops_the_calls():
    solution = "def f(x):\n    if x == 2:\n        raise ValueError('no two')\n    return x\n"
    records, ended, _ = decode_records(run_driver(plan_of(["f(1)", "f(2)", "f(3)"]), solution))
    assert records == [{"ok": 1}, {"raised": "builtins.ValueError", "message": "no two"}] and not ended


@pytest.mark.parametrize("data, problem", [
    (b"not json\n", "not JSON"),
    (b'{"ok": {"weird": 1}}\n', "does not decode"),
    (b'{"ok": ' + b"1" * 5000 + b"}\n", "not JSON"),  # decimal ints past 4300 digits: the driver sends hex
    (b'{"ok": {"set": [[1]]}}\n', "does not decode"),  # a list in a set
    (b'{"ok": ' + b"[" * (MAX_DEPTH + 5) + b"]" * (MAX_DEPTH + 5) + b"}\n", "does not decode"),
    (b'{"raised": 1, "message": ""}\n', "does not decode"),
    (b"[1]\n", "is not a result"),
])
def test_decoding_refuses_what_the_driver_never_writes(data, problem):
    records, ended, why = decode_records(b'{"ok": 1}\n' + data + b'{"end": 2}\n')
    assert records == [{"ok": 1}] and not ended and problem in why


def test_the_end_must_count_the_results():
    assert decode_records(b'{"ok": 1}\n{"end": 1}\n')[1]
    assert not decode_records(b'{"ok": 1}\n{"ok": 1}\n{"end": 1}\n')[1]


def _data(*values) -> bytes:
    return b"".join(json.dumps(v).encode() + b"\n" for v in values)


PASSED = ("passed", "")


def test_checks_are_the_tests_own_semantics():
    plan = plan_of(["f(1)", "f(2)", "f(3)"], ["_cm_out(0) is True", "_cm_out(1) == True", "abs(_cm_out(2) - 0.33) < 1e-06"])
    assert judge_asserts(plan, _data({"ok": True}, {"ok": 1}, {"ok": 0.3300000001}, {"end": 3}), PASSED) == PASSED
    # 1 is not `True` (but == True, as in the original test)
    verdict, message = judge_asserts(plan, _data({"ok": 1}, {"ok": 1}, {"ok": 0.33}, {"end": 3}), PASSED)
    assert verdict == "failed" and message.startswith("assert #1 failed (line 1): _cm_out(0) is True")
    verdict, message = judge_asserts(plan, _data({"ok": True}, {"ok": 1}, {"ok": "x"}, {"end": 3}), PASSED)
    assert verdict == "failed" and "assert #3 (line 3) raised TypeError" in message
    plan = plan_of(["f(1)"], ["set(_cm_out(0)) == set((4, 5))"])
    assert judge_asserts(plan, _data({"ok": {"tuple": [5, 4, 4]}}, {"end": 1}), PASSED) == PASSED


def test_the_first_failing_assert_decides_as_in_the_original():
    plan = plan_of(["f(1)", "f(2)"], ["_cm_out(0) == 1", "_cm_out(1) == 2"])
    raised = {"raised": "builtins.ZeroDivisionError", "message": "division by zero"}
    verdict, message = judge_asserts(plan, _data({"ok": 1}, raised), ("failed", "exited with status 1"))
    assert verdict == "failed" and message == "assert #2 (line 2): call #1 f(2) raised builtins.ZeroDivisionError: division by zero"
    # a wrong first result fails the sample even when a later call hung
    assert judge_asserts(plan, _data({"ok": 0}), ("timeout", "wall-clock limit of 3 s exceeded"))[0] == "failed"
    # a result that never came takes the sandbox's verdict
    assert judge_asserts(plan, _data({"ok": 1}), ("timeout", "wall-clock limit of 3 s exceeded")) == \
        ("timeout", "wall-clock limit of 3 s exceeded")
    verdict, message = judge_asserts(plan, b"", ("failed", "SyntaxError: invalid syntax (line 3)"))
    assert verdict == "failed" and message == "no result for call #0: SyntaxError: invalid syntax (line 3)"
    # the program reached its end (the nonce) without making the calls: not a pass
    assert judge_asserts(plan, b"", PASSED)[0] == "failed"
    # every result right, but no end record, or the process failed on its way out
    assert judge_asserts(plan, _data({"ok": 1}, {"ok": 2}), PASSED)[0] == "failed"
    assert judge_asserts(plan, _data({"ok": 1}, {"ok": 2}, {"end": 2}), ("failed", "killed by SIGKILL")) == \
        ("failed", "killed by SIGKILL")


@pytest.mark.parametrize("out, exp, args, atol, oracle, equal", [
    (0.5, 0.5, [3.5], 0, "", True),
    (0.5 + 1e-12, 0.5, [3.5], 0, "", True),   # float outputs: at least 1e-6 absolute
    (0.5 + 1e-3, 0.5, [3.5], 0, "", False),
    ([1.0, 2.0 + 1e-9], [1.0, 2.0], [0], 0, "", True),
    ((1, 2), [1, 2], [0], 0, "", False),       # a tuple is not a list, as in EvalPlus
    (math.nan, math.nan, [0], 1e-6, "", True),
    (1, True, [0], 0, "", True),
    ("1", 1, [0], 1e-6, "", False),
    ((4, 3), (3, 4), [[3, 4], [4]], 0, "set", True),
    (True, True, ["x"], 0, "not_none", True),
    ("match", True, ["x"], 0, "not_none", True),
    (None, True, ["x"], 0, "not_none", False),
    (1.0, 0.999, [[-1, 1]], 1e-6, "find_zero", True),  # any root of the polynomial passes
    (2.0, 1.0, [[-1, 1]], 1e-6, "find_zero", False),
])
def test_evalplus_comparison(out, exp, args, atol, oracle, equal):
    assert plus_equal(out, exp, args, atol, oracle) is equal
