"""Strict verdicts (eval/scoring/strict.py): the encoding of results, the checks evaluated outside
the sample's process, forged passes that fail, and agreement with the in-process verdicts on
honest samples."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codemix.eval.benchmarks.calls import AssertPlan, Check
from codemix.eval.scoring.strict import decode_records, judge_asserts, plus_equal
from codemix.eval.scoring.strict_driver import MAX_DEPTH, driver_program
from helpers.plus import HUMANEVAL_PLUS_RECORDS

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
    """Equal with the same types all the way down (nan equal to nan; a decoded set is a set that
    iterates in the sample's order)."""
    from codemix.eval.scoring.strict import SampleOrderFrozenset, SampleOrderSet

    base = {SampleOrderSet: set, SampleOrderFrozenset: frozenset}
    if base.get(type(a), type(a)) is not base.get(type(b), type(b)):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) and same(k, next(j for j in b if j == k)) for k in a)
    return a == b


def test_results_come_back_as_the_exact_builtins_they_were():
    names = list(VALUES)
    solution = f"nan, inf = float('nan'), float('inf')\nVALUES = {VALUES!r}"  # repr writes nan and inf as names
    solution += f"\nNAMES = {names!r}\ndef f(i):\n    return VALUES[NAMES[i]]\n"
    records, ended, problem = decode_records(run_driver(plan_of([f"f({i})" for i in range(len(names))]), solution))
    assert ended and not problem
    got = {name: r["ok"] for name, r in zip(names, records, strict=True)}
    assert [n for n in names if not same(got[n], VALUES[n])] == []
    # what the comparison relies on: True stays apart from 1, a tuple from a list
    assert got["true"] is True and type(got["one"]) is int and type(got["tuple"]) is tuple


def test_the_standard_librarys_dicts_come_back_as_dicts():
    solution = ("import collections\ndef f(i):\n    return [collections.Counter('aab'), collections.OrderedDict(b=1, a=2),"
                " collections.defaultdict(int, {1: 2}), collections.ChainMap({1: 2}, {1: 3, 4: 5}),"
                " collections.UserDict(a=[1])][i]\n")
    records, ended, _ = decode_records(run_driver(plan_of([f"f({i})" for i in range(5)]), solution))
    assert ended and [r["ok"] for r in records] == [{"a": 2, "b": 1}, {"b": 1, "a": 2}, {1: 2}, {1: 2, 4: 5}, {"a": [1]}]
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


def test_sets_iterate_in_the_samples_order_whatever_the_harness_hash_seed():
    """The sample's process iterated these sets in this order (under its hash seed); tuple(),
    str() and iteration in a check see that order, as the in-process test did."""
    order = ["b", "a", "c", "aa", "bb", "cc", "x1", "x2"]
    printed = "frozenset({" + ", ".join(map(repr, order)) + "})"
    plan = plan_of(["f()", "f()"], [f"tuple(_cm_out(0)) == {tuple(order)!r}", f"str(_cm_out(1)) == {printed!r}",
                                    f"_cm_out(1) == frozenset({set(order)!r})"])
    data = _data({"ok": {"set": order}}, {"ok": {"frozenset": order}}, {"end": 2})
    assert judge_asserts(plan, data, PASSED) == PASSED
    reordered = _data({"ok": {"set": order[::-1]}}, {"ok": {"frozenset": order}}, {"end": 2})
    assert judge_asserts(plan, reordered, PASSED)[0] == "failed"


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


# ------------------------------------------------------------------ in the sandbox: forged passes

FIND_NONCE = ("import os, sys\n"
              "def _nonce():\n"
              "    f = sys._getframe()\n"
              "    while f is not None:\n"
              "        for v in list(f.f_locals.values()):\n"
              "            if isinstance(v, bytes) and len(v) >= 16:\n"
              "                return v\n"
              "        f = f.f_back\n"
              "    return b''\n")
# Each is a whole solution for HumanEval/0 (has_close_elements) or HumanEval/2 (truncate_number).
FORGERIES = {
    "frame walk to the nonce": FIND_NONCE + "os.write(3, _nonce())\nos._exit(0)\n",
    "os._exit replaced": FIND_NONCE + ("_real_exit = os._exit\n"
                                       "def _fake_exit(code):\n    os.write(3, _nonce())\n    _real_exit(0)\n"
                                       "os._exit = _fake_exit\n"),
    "SystemExit(0)": "def {entry}(*args):\n    raise SystemExit(0)\n",
    "stdout whose flush writes to descriptor 3": FIND_NONCE + (
        "class _Out:\n    def write(self, s):\n        return len(s)\n"
        "    def flush(self):\n        os.write(3, _nonce())\n        os._exit(0)\n"
        "sys.stdout = _Out()\n"),
    "settrace jumps check() to its last line": (
        "import sys\n"
        "def _tracer(frame, event, arg):\n"
        "    if frame.f_code.co_name != 'check':\n        return None\n"
        "    last = max(line for _, _, line in frame.f_code.co_lines() if line)\n"
        "    def _local(frame, event, arg):\n"
        "        if event == 'line' and frame.f_lineno < last:\n"
        "            frame.f_lineno = last\n"
        "        return _local\n"
        "    return _local\n"
        "sys.settrace(_tracer)\n"),
    "__eq__ always true": ("class _Yes:\n    def __eq__(self, other):\n        return True\n"
                           "def {entry}(*args):\n    return _Yes()\n"),
    "catch-all object": ("class _All:\n"
                         "    def __eq__(self, o):\n        return True\n"
                         "    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = lambda self, o: True\n"
                         "    def __sub__(self, o):\n        return self\n"
                         "    __rsub__ = __add__ = __radd__ = __mul__ = __truediv__ = __sub__\n"
                         "    def __abs__(self):\n        return self\n"
                         "    def __bool__(self):\n        return True\n"
                         "def {entry}(*args):\n    return _All()\n"),
    "writes its own results": ("import os\n"
                               "os.write(4, b''.join(b'{{\"ok\": true}}\\n' for _ in range(40)) + b'{{\"end\": 40}}\\n')\n"
                               "os._exit(0)\n"),
}
# What the wrong-but-not-forging part of each sample returns: the last HumanEval/0 and /2
# asserts expect False and 0.456, so with the settrace jump these answers pass in-process.
WRONG = {"HumanEval/0": "def has_close_elements(numbers, threshold):\n    return False\n",
         "HumanEval/2": "def truncate_number(number):\n    return 0.456\n"}


@pytest.fixture(scope="module")
def guarded_executor():
    """Hostile samples run only inside a cgroup guard (tests/helpers/sandbox_guard.py)."""
    from codemix.eval.sandbox.executor import Executor
    from helpers.sandbox_guard import guard_or_skip

    for guard in guard_or_skip("codemix-test-strict"):
        with Executor(workers=2, retry_timeouts=False, join_cgroups=guard.dirs) as executor:
            yield executor


def _verdicts(executor, problems, solutions: dict) -> dict:
    """{key: (in-process verdict, strict verdict and message)} for {(task_id, name): solution}."""
    from codemix.eval.benchmarks.calls import plan_calls
    from codemix.eval.sandbox.executor import Job
    from codemix.eval.scoring.strict import StrictTask

    strict = {tid: StrictTask(plan_calls(problems[tid])) for tid, _ in solutions}
    jobs = [Job(("in-process", key), problems[key[0]].test_program(sol), 5.0) for key, sol in solutions.items()]
    jobs += [strict[key[0]].job(("strict", key), sol, 5.0) for key, sol in solutions.items()]
    got = {}
    for (mode, key), result in executor.run(jobs):
        got[mode, key] = (result.verdict, result.error) if mode == "in-process" else strict[key[0]].judge(result)
    return {key: (got["in-process", key][0], got["strict", key]) for key in solutions}


def test_forged_passes_fail_in_strict_mode(guarded_executor, humaneval_problems):
    solutions = {}
    for tid in WRONG:
        entry = humaneval_problems[tid].entry_point
        for name, code in FORGERIES.items():
            solutions[tid, name] = WRONG[tid] + code.format(entry=entry)
    got = _verdicts(guarded_executor, humaneval_problems, solutions)
    assert {key: strict[0] for key, (_, strict) in got.items() if strict[0] != "failed"} == {}
    # the reason for the mode: objects that answer every comparison pass the in-process tests
    for tid in WRONG:
        assert got[tid, "__eq__ always true"][0] == "passed" or tid == "HumanEval/2"
        assert got[tid, "catch-all object"][0] == "passed"
        assert "not plain data" in got[tid, "catch-all object"][1][1]


# ------------------------------------------------------------------ agreement on honest samples

def _agreement(executor, benchmark, samples, problems_path, tmp_path) -> tuple[dict, list]:
    from codemix.eval.scoring import score_samples

    rows, results = {}, {}
    for mode in ("in-process", "strict"):
        out = tmp_path / mode
        results[mode] = score_samples(benchmark, samples, problems_path=problems_path, out_dir=out,
                                      executor=executor, show_table=False, verdicts=mode)
        rows[mode] = {(r["task_id"], r["sample_index"]): r["verdict"]
                      for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    differ = [(key, rows["in-process"][key], rows["strict"][key]) for key in rows["strict"]
              if rows["strict"][key] != rows["in-process"][key]]
    return results, differ


@pytest.fixture(scope="module")
def executor():
    from codemix.eval.sandbox.executor import Executor

    with Executor(workers=2) as ex:
        yield ex


def _canonical_samples(path, problems):
    path.write_text("".join(json.dumps({"task_id": p.task_id, "solution": p.canonical_solution}) + "\n"
                            for p in problems))
    return path


@pytest.mark.usefixtures("private_cache")
def test_strict_agrees_on_every_humaneval_reference(executor, humaneval_problems, tmp_path):
    samples = _canonical_samples(tmp_path / "samples.jsonl", humaneval_problems.values())
    results, differ = _agreement(executor, "humaneval", samples, None, tmp_path)
    assert differ == []
    assert results["strict"]["verdicts"]["passed"] == 164 and results["strict"]["verdict_mode"] == "strict"
    assert results["strict"]["strict"]["strict_tasks"] == 158
    assert set(results["strict"]["strict"]["in_process"]) == {"HumanEval/32", "HumanEval/38", "HumanEval/44",
                                                             "HumanEval/50", "HumanEval/53", "HumanEval/151"}
    assert results["in-process"]["verdict_mode"] == "in-process" and "strict" not in results["in-process"]


def test_strict_agrees_on_every_mbpp_reference(executor, data_file, tmp_path):
    """In-process, every reference passes but two: 367's setup builds trees before the solution
    defines their class (it fails upstream too) and 341 compares a tuple made from a set with a
    fixed order. Strict must give exactly that (a fixed time limit: the agreement, not the limits,
    is under test; the slow parity test runs both modes)."""
    from codemix.eval.benchmarks import load_problems
    from codemix.eval.scoring import score_samples

    path = str(data_file("mbpp/mbpp.jsonl"))
    samples = _canonical_samples(tmp_path / "samples.jsonl", load_problems("mbpp", path))
    results = score_samples("mbpp", samples, problems_path=path, out_dir=tmp_path / "out", executor=executor,
                            timeout=10.0, show_table=False, verdicts="strict")
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["task_id"] for r in rows if r["verdict"] != "passed") == ["Mbpp/341", "Mbpp/367"]
    assert results["strict"]["strict_tasks"] == 499 and list(results["strict"]["in_process"]) == ["Mbpp/367"]


PARITY = sorted((Path(__file__).resolve().parents[2] / "data" / "parity").glob("*.jsonl.gz"))


@pytest.mark.slow
@pytest.mark.usefixtures("private_cache")
@pytest.mark.parametrize("samples", PARITY, ids=[p.name.split(".")[0] for p in PARITY])
def test_strict_agrees_on_real_model_samples(executor, data_file, samples, tmp_path):
    """Model samples (right, wrong, crashing, timing out): the same verdict for every one."""
    benchmark = samples.name.split("_")[0]
    path = None if benchmark == "humaneval" else str(data_file("mbpp/mbpp.jsonl"))
    results, differ = _agreement(executor, benchmark, samples, path, tmp_path)
    # A sample near its time limit may time out in one run and fail (or pass) in the other under
    # the machine's load, whatever the mode (HumanEval/33 #7 of codet spends 2.2 s of its 3 s
    # failing to import a module): only the pass verdicts must match.
    assert [d for d in differ if "passed" in d[1:]] == []
    assert [d for d in differ if {"failed", "timeout"} != set(d[1:])] == []


def test_the_driver_runs_from_source_in_another_interpreter(monkeypatch):
    """The driver travels compiled (marshal) for this interpreter; any other one compiles the
    source it carries too: both give the same records."""
    import codemix.eval.scoring.strict_driver as strict_driver

    plan = plan_of(["f(1)", "f(2)"])
    solution = "def f(x):\n    return (x, [x * 0.5])\n"
    compiled = run_driver(plan, solution)
    assert "marshal" in driver_program(plan, solution)
    version = f"{tuple(sys.version_info[:2])}"
    other = strict_driver.driver_prelude().replace(version, "(2, 7)")
    monkeypatch.setattr(strict_driver, "driver_prelude", lambda: other)
    expected = _data({"ok": {"tuple": [1, [0.5]]}}, {"ok": {"tuple": [2, [1.0]]}}, {"end": 2})
    assert run_driver(plan, solution) == compiled == expected


HUMANEVAL_PLUS = [
    *HUMANEVAL_PLUS_RECORDS,
    # a reference whose outputs are not plain data: the problem keeps the in-process check
    {"task_id": "HumanEval/900", "entry_point": "pair", "prompt": "def pair(x):\n",
     "canonical_solution": "    import fractions\n    return fractions.Fraction(x, 2)\n", "atol": 0,
     "base_input": [[1]], "plus_input": [[3]]},
]


@pytest.mark.usefixtures("private_cache")
def test_evalplus_strict_agrees_with_in_process(executor, tmp_path):
    import gzip

    path = tmp_path / "HumanEvalPlus.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in HUMANEVAL_PLUS)
    completions = {
        "HumanEval/2": ["    return number % 1.0\n",
                        "    return number % 1.0 + 1e-12\n",  # inside the 1e-6 float tolerance
                        "    return 0.5 if number % 1 == 0.5 else (0.25 if number % 1 == 0.25 else 0.0)\n",  # base only
                        "    return (number % 1.0,)\n"],
        "HumanEval/32": ["    import numpy\n    r = numpy.roots(list(reversed(xs)))\n"
                         "    return float(max(x.real for x in r if abs(x.imag) < 1e-9))\n",  # another root
                         "    return 123.0\n"],
        "HumanEval/900": ["    import fractions\n    return fractions.Fraction(x, 2)\n", "    return x / 3\n"],
    }
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n"
                               for t, cs in completions.items() for c in cs))
    results, differ = _agreement(executor, "humaneval+", samples, str(path), tmp_path)
    assert differ == []
    assert results["strict"]["per_task"] == {"HumanEval/2": {"n": 4, "c": 2}, "HumanEval/32": {"n": 2, "c": 1},
                                             "HumanEval/900": {"n": 2, "c": 1}}
    coverage = results["strict"]["strict"]
    assert coverage["strict_tasks"] == 2 and list(coverage["in_process"]) == ["HumanEval/900"]
    assert "fractions.Fraction" in coverage["in_process"]["HumanEval/900"]
    rows = [json.loads(line) for line in (tmp_path / "strict" / "results.jsonl").read_text().splitlines()]
    base_only = next(r for r in rows if r["task_id"] == "HumanEval/2" and r["sample_index"] == 2)
    assert base_only["error"].startswith("input #2 [123.456]: got ")


# ------------------------------------------------------------------ exposed: recipe key, flags, resume

@pytest.mark.usefixtures("private_cache")
def test_switching_the_mode_never_reuses_verdicts(executor, humaneval_problems, tmp_path):
    from codemix.eval.scoring import score_samples

    tasks = ["HumanEval/0", "HumanEval/1"]
    samples = _canonical_samples(tmp_path / "samples.jsonl", [humaneval_problems[t] for t in tasks])
    runs = [score_samples("humaneval", samples, out_dir=tmp_path / "out", executor=executor, timeout=5.0,
                          show_table=False, verdicts=mode)["timing"]
            for mode in ("in-process", "strict", "strict", "in-process")]
    assert [(t["executed"], t["resumed"]) for t in runs] == [(2, 0), (2, 0), (0, 2), (2, 0)]


def test_unknown_modes_are_errors_naming_the_key(tmp_path, capsys):
    from pydantic import ValidationError

    from codemix.core.errors import CodemixError
    from codemix.eval.config import EvalConfig
    from codemix.eval.scoring import score_samples
    from codemix.recipes.cli import main

    assert EvalConfig().verdicts == "in-process" and EvalConfig(verdicts="strict").verdicts == "strict"
    with pytest.raises(ValidationError, match="verdicts"):
        EvalConfig(verdicts="strictly")
    with pytest.raises(CodemixError, match="verdicts: unknown mode 'strictly'; choose one of in-process, strict"):
        score_samples("humaneval", tmp_path / "none.jsonl", out_dir=tmp_path / "o", verdicts="strictly")
    for command in (["score", "--benchmark", "humaneval", "--samples", str(tmp_path / "s.jsonl")], ["eval", "gpt2"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--verdicts", "strictly"])
        assert exit_.value.code == 2
        assert "argument --verdicts: invalid choice: 'strictly' (choose from 'in-process', 'strict')" in capsys.readouterr().err


def test_the_flag_means_the_same_in_score_and_eval():
    import argparse

    from codemix.eval.config import EvalConfig
    from codemix.eval.scoring.strict import VERDICT_MODES
    from codemix.recipes.cli import eval as eval_command
    from codemix.recipes.cli import score as score_command
    from codemix.recipes.cli.eval_flags import VERDICT_MODES as FLAG_MODES

    actions = []
    for command in (score_command, eval_command):
        parser = argparse.ArgumentParser()
        command.register(parser)
        actions.append(next(a for a in parser._actions if "--verdicts" in a.option_strings))
    assert actions[0].choices == actions[1].choices == FLAG_MODES == VERDICT_MODES
    assert actions[0].help == actions[1].help and actions[0].default is None
    assert EvalConfig.model_fields["verdicts"].annotation.__args__ == VERDICT_MODES


@pytest.mark.usefixtures("private_cache")
def test_codemix_eval_scores_in_the_mode_asked_and_rescores_when_it_changes(tmp_path, monkeypatch, capsys):
    from codemix.finetune.tokenizer import build_tokenizer
    from codemix.recipes.cli import main
    from helpers.generation import tiny_llama

    monkeypatch.chdir(tmp_path)
    model = tmp_path / "tiny"
    tokenizer = build_tokenizer("byte")
    tiny_llama(tokenizer).save_pretrained(model)
    tokenizer.save_pretrained(model)
    argv = ["eval", str(model), "--benchmark", "humaneval", "--limit", "2", "--max-new-tokens", "4", "--out", "ev"]
    assert main([*argv, "--verdicts", "strict"]) == 0
    results = json.loads((tmp_path / "ev" / "humaneval" / "results.json").read_text())
    assert results["verdict_mode"] == "strict" and results["strict"]["strict_tasks"] == 2
    assert main(argv) == 0  # the default mode: other inputs, scored again
    assert "up to date" not in capsys.readouterr().out
    assert json.loads((tmp_path / "ev" / "humaneval" / "results.json").read_text())["verdict_mode"] == "in-process"
