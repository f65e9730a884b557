"""Strict verdicts: the expected values never enter the sample's process.

In the default (in-process) mode a sample's program runs with the benchmark's asserts, and
`passed` means it reached its end; code in the same interpreter can forge that (return an
object whose `__eq__` is always true, skip the asserts with `sys.settrace`, find the nonce in
memory). Here the sample's process gets a driver instead of the tests (eval/benchmarks/calls.py
splits them): it runs the solution, makes the test's calls with literal arguments and writes
each result to the data channel (descriptor 4) as plain data. The harness decodes the results
and evaluates the test's own checks on them. A program that does not compute the right values
cannot pass, whatever it does to its own interpreter.

The driver and the plain-data encoding are in eval/scoring/strict_driver.py.

Limits, in plain words: only tests that are calls with literal arguments are checked strictly
(eval/benchmarks/calls.py; the rest keep the in-process check and results.json lists them);
results must be plain builtin values (a numpy number or a namedtuple fails even where == would
hold); a wrong sample runs every call, not only up to its first failing assert, so it can take
longer (up to its time limit); and the sample can still compute the right answers any way it
likes, including from a copy of the benchmark it can read.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import json
import math

from codemix.eval.benchmarks.calls import (
    CHECK_FUNCTIONS,
    CHECK_MATH_FUNCTIONS,
    OUT,
    AssertPlan,
    ReferencePlan,
    plan_calls,
)
from codemix.eval.sandbox.executor import Executor, Job, RunResult
from codemix.eval.scoring.strict_driver import MAX_DEPTH, driver_program, reference_program


class Malformed(ValueError):
    """The data channel held something the driver does not write."""


def decode_records(data: bytes) -> tuple[list[dict], bool, str]:
    """(records before "end", whether "end" came and matched their count, problem or "")."""
    records: list[dict] = []
    for number, line in enumerate(data.split(b"\n")):
        if not line:
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return records, False, f"data record {number + 1} is not JSON"
        if not isinstance(record, dict) or len(record) not in (1, 2):
            return records, False, f"data record {number + 1} is not a result"
        if "end" in record:
            return records, record["end"] == len(records), ""
        try:
            if "ok" in record:
                record = {"ok": decode_value(record["ok"], 0)}
            elif not (set(record) in ({"raised", "message"}, {"unencodable", "at"})
                      and all(isinstance(v, str) for v in record.values())):
                raise Malformed("unknown record")
        except (Malformed, ValueError, TypeError, OverflowError, RecursionError) as e:
            return records, False, f"data record {number + 1} does not decode ({e})"[:300]
        records.append(record)
    return records, False, ""


class SampleOrderSet(set):
    """A set that iterates (and prints) in the order the sample's process did, under the sample's
    hash seed: a check that makes a sequence of it (`tuple(...)`, `list(...)`, `str(...)`, `sum`)
    sees what the in-process test saw, whatever this process's own hash seed (strings hash
    differently in every process that does not fix PYTHONHASHSEED)."""

    def __init__(self, items=()):
        super().__init__(items)
        self.order = list(dict.fromkeys(items))  # what set() kept, in the sample's order

    def __iter__(self):
        return iter(self.order)

    def __repr__(self):
        return "{" + ", ".join(map(repr, self.order)) + "}" if self.order else "set()"


class SampleOrderFrozenset(frozenset):
    """SampleOrderSet's frozen twin."""

    def __new__(cls, items=()):
        made = super().__new__(cls, items)
        made.order = list(dict.fromkeys(items))
        return made

    def __iter__(self):
        return iter(self.order)

    def __repr__(self):
        return "frozenset({" + ", ".join(map(repr, self.order)) + "})" if self.order else "frozenset()"


def decode_value(x, depth: int):
    """A value the driver encoded, as the builtins it was (sets iterate in the sample's order)."""
    if depth > MAX_DEPTH:
        raise Malformed(f"nested deeper than {MAX_DEPTH}")
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, list):
        return [decode_value(v, depth + 1) for v in x]
    if not isinstance(x, dict) or len(x) != 1:
        raise Malformed("not a tagged value")
    (tag, body), = x.items()
    if tag == "int" and isinstance(body, str):
        return int(body, 16)  # hexadecimal: no limit on digits, linear time
    if tag == "float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "bytes" and isinstance(body, str):
        return bytes.fromhex(body)
    if not isinstance(body, list):
        raise Malformed(f"bad {tag!r} value")
    items = [decode_value(v, depth + 1) for v in body]
    if tag == "tuple":
        return tuple(items)
    if tag == "set":
        return SampleOrderSet(items)
    if tag == "frozenset":
        return SampleOrderFrozenset(items)
    if tag == "complex" and len(items) == 2 and all(type(v) is float for v in items):
        return complex(*items)
    if tag == "dict" and all(isinstance(p, list) and len(p) == 2 for p in items):
        return dict(items)
    raise Malformed(f"unknown tag {tag!r}")


def describe(record: dict, call: str) -> str:
    """What went wrong with one call, for the verdict's message."""
    if "raised" in record:
        message = f": {record['message']}" if record["message"] else ""
        return f"{call} raised {record['raised']}{message}"
    return (f"{call} returned a {record['unencodable']}{' at ' + record['at'] if record['at'] else ''}, "
            f"not plain data (strict verdicts compare only builtin values)")


class _CallFailed(Exception):
    pass


class _Missing(Exception):
    pass


_CHECK_NAMESPACE = {"__builtins__": {name: getattr(builtins, name) for name in CHECK_FUNCTIONS},
                    "math": type("math", (), {n: staticmethod(getattr(math, n)) for n in CHECK_MATH_FUNCTIONS})}


def judge_asserts(plan: AssertPlan, data: bytes, sandbox: tuple[str, str]) -> tuple[str, str]:
    """(verdict, message): the test's asserts, in order, on the results the sample wrote. The first
    failing assert decides, as in the original test; a result that never came takes the
    sandbox's verdict (timeout, a crash) unless an earlier assert already failed."""
    records, ended, problem = decode_records(data)

    def out(i: int):
        if i >= len(records):
            raise _Missing(i)
        record = records[i]
        if "ok" not in record:
            raise _CallFailed(describe(record, f"call #{i} {plan.calls[i][:120]}"))
        return record["ok"]

    namespace = dict(_CHECK_NAMESPACE, **{OUT: out})
    for number, check in enumerate(plan.checks):
        try:
            ok = bool(eval(_compiled(check.expression), namespace))
        except _Missing as e:
            return _missing(e.args[0], sandbox, problem)
        except _CallFailed as e:
            return "failed", f"assert #{number + 1} (line {check.line}): {e}"
        except Exception as e:
            return "failed", f"assert #{number + 1} (line {check.line}) raised {type(e).__name__}: {e}"[:500]
        if not ok:
            return "failed", f"assert #{number + 1} failed (line {check.line}): {check.source}"
    return _finish(ended, len(records) == len(plan.calls), sandbox, problem)


def judge_reference(plan: ReferencePlan, expected: list, data: bytes, sandbox: tuple[str, str]) -> tuple[str, str]:
    """(verdict, message): every input's result against the reference's, compared as EvalPlus
    compares (eval/benchmarks/plus.py); the first mismatch decides."""
    records, ended, problem = decode_records(data)
    inputs = json.loads(plan.inputs_json)
    for i, (args, exp) in enumerate(zip(inputs, expected, strict=True)):
        if i >= len(records):
            return _missing(i, sandbox, problem)
        where = f"input #{i} {json.dumps(args)[:200]}"
        if "ok" not in records[i]:
            return "failed", describe(records[i], where)
        got = records[i]["ok"]
        try:
            ok = plus_equal(got, exp, args, plan.atol, plan.oracle)
        except Exception as e:
            return "failed", f"{where}: comparing the result raised {type(e).__name__}: {e}"[:500]
        if not ok:
            return "failed", f"{where}: got {repr(got)[:200]}"
    return _finish(ended, len(records) == len(inputs), sandbox, problem)


def plus_equal(out, exp, args: list, atol: float, oracle: str) -> bool:
    """EvalPlus's comparison of one result (the in-process `_cm_check` of eval/benchmarks/plus.py)."""
    if oracle == "find_zero":
        return abs(sum(c * math.pow(out, i) for i, c in enumerate(args[0]))) <= max(atol, 1e-6)
    if oracle == "set":
        return set(out) == set(exp)
    if oracle == "not_none":
        return out == exp if isinstance(out, bool) else (out is not None) == exp
    if out == exp:
        return True
    tol = 1e-6 if atol == 0 and _is_floats(exp) else atol
    return bool(tol) and _close(out, exp, tol)


def _is_floats(x) -> bool:
    return isinstance(x, float) or (isinstance(x, (list, tuple)) and bool(x) and all(isinstance(i, float) for i in x))


def _close(out, exp, atol: float) -> bool:
    if isinstance(exp, (list, tuple)):
        return (isinstance(out, (list, tuple)) and len(out) == len(exp)
                and all(_close(o, e, atol) for o, e in zip(out, exp, strict=True)))
    try:
        return abs(out - exp) <= atol + 1e-7 * abs(exp) or (math.isnan(out) and math.isnan(exp))
    except TypeError:
        return False


def _missing(index: int, sandbox: tuple[str, str], problem: str) -> tuple[str, str]:
    verdict, message = sandbox
    if verdict in ("timeout", "error"):
        return verdict, message
    why = problem or (message if verdict == "failed" else "the program ended without making it")
    return "failed", f"no result for call #{index}: {why}"[:1000]


def _finish(ended: bool, complete: bool, sandbox: tuple[str, str], problem: str) -> tuple[str, str]:
    if not (ended and complete):
        return "failed", f"the results did not end as the driver ends them{': ' + problem if problem else ''}"
    if sandbox[0] != "passed":  # every result right, then the process failed on its way out
        return sandbox
    return "passed", ""


_CODE_CACHE: dict[str, object] = {}


def _compiled(expression: str):
    code = _CODE_CACHE.get(expression)
    if code is None:
        code = _CODE_CACHE[expression] = compile(expression, "<check>", "eval")
    return code


# ----------------------------------------------------------------------------- scoring a run

VERDICT_MODES = ("in-process", "strict")
# Data a sample may write for an assert plan: a right answer is about as large as the expected
# literals in the test code (the largest MBPP / HumanEval test file is ~7 KB), so 1 MiB is far
# above any honest result and still cheap to carry back and decode (~10 ms).
ASSERT_DATA_BYTES = 1 << 20
# The reference solution's outputs for an EvalPlus problem (its largest inputs hold ~10^5
# elements); a sample may write twice the reference's bytes plus 1 MiB (floats printed longer,
# sets in another order are the same size).
REFERENCE_DATA_BYTES = 64 << 20


@dataclasses.dataclass(frozen=True)
class StrictTask:
    """One problem checked strictly: its plan and, for EvalPlus, the reference's outputs."""
    plan: AssertPlan | ReferencePlan
    expected: list | None = None
    data_bytes: int = ASSERT_DATA_BYTES

    def job(self, key, solution: str, timeout: float) -> Job:
        return Job(key, functools.partial(driver_program, self.plan, solution), timeout, data_bytes=self.data_bytes)

    def judge(self, result: RunResult) -> tuple[str, str]:
        sandbox = (result.verdict, result.error)
        if result.verdict == "error":
            return sandbox
        if self.expected is None:
            return judge_asserts(self.plan, result.data, sandbox)
        return judge_reference(self.plan, self.expected, result.data, sandbox)


def check_verdict_mode(mode: str) -> str:
    if mode not in VERDICT_MODES:
        from codemix.core.errors import CodemixError

        raise CodemixError(f"verdicts: unknown mode {mode!r}; choose one of {', '.join(VERDICT_MODES)}")
    return mode


def prepare(problems: list, executor: Executor, limits_by_task: dict[str, float]) -> tuple[dict[str, StrictTask], dict[str, str]]:
    """({task_id: StrictTask} for the problems checked strictly, {task_id: reason} for the rest).
    EvalPlus references run first, each alone in the sandbox: their outputs are the expected
    values, and a reference whose outputs are not plain data keeps its problem in-process."""
    strict: dict[str, StrictTask] = {}
    reasons: dict[str, str] = {}
    references: dict[str, ReferencePlan] = {}
    for problem in problems:
        plan = plan_calls(problem)
        if isinstance(plan, str):
            reasons[problem.task_id] = plan
        elif isinstance(plan, ReferencePlan):
            references[problem.task_id] = plan
        else:
            strict[problem.task_id] = StrictTask(plan)
    jobs = [Job(tid, functools.partial(reference_program, plan), limits_by_task[tid], data_bytes=REFERENCE_DATA_BYTES)
            for tid, plan in references.items()]
    for task_id, result in executor.run(jobs):
        records, ended, problem = decode_records(result.data)
        bad = next((i for i, r in enumerate(records) if "ok" not in r), None)
        if bad is not None:
            reasons[task_id] = "the reference solution's " + describe(records[bad], f"input #{bad}")
        elif result.verdict != "passed" or not ended:
            reasons[task_id] = f"the reference solution did not run through ({problem or result.error or result.verdict})"
        else:
            strict[task_id] = StrictTask(references[task_id], [r["ok"] for r in records],
                                         data_bytes=2 * len(result.data) + ASSERT_DATA_BYTES)
    order = {p.task_id: i for i, p in enumerate(problems)}
    return strict, dict(sorted(reasons.items(), key=lambda item: order[item[0]]))


def coverage(strict: dict[str, StrictTask], reasons: dict[str, str]) -> dict:
    """results.json's record of which problems were checked how."""
    return {"strict_tasks": len(strict), "in_process_tasks": len(reasons), "in_process": reasons}
