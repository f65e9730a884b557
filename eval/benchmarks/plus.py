"""HumanEval+ and MBPP+ (EvalPlus release files) as codemix problems.

An EvalPlus record carries test *inputs* (`base_input`: the original benchmark's, `plus_input`:
EvalPlus's extra ones), not assertions; the expected outputs are whatever the reference
solution returns. EvalPlus computes them once in a trusted process. Here the test program does
it itself, before the sample's code is even defined, so nothing has to travel between
processes and the sample cannot influence them:

    setup:    inputs = <JSON>; expected = [reference(*deepcopy(x)) for x in inputs]
    solution: the sample
    tests:    every input through the sample's function, compared as EvalPlus compares
              (exact match, else float tolerance: `atol`, at least 1e-6 for float outputs;
              special oracles for HumanEval/32 and a few MBPP+ tasks)

Base and plus inputs run in one program, so a sample passes only if it passes both, which is
EvalPlus's "plus" verdict. Limitation: inputs are used as stored in the file (JSON), without
EvalPlus's per-task conversion of some MBPP+ arguments from lists back to tuples or sets; the
reference sees the same inputs, so only a solution that depends on the argument's exact type
can be judged differently.
"""

from __future__ import annotations

import json

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks.base import Benchmark
from codemix.eval.benchmarks.problem import Problem
from codemix.eval.benchmarks.registry import register
from codemix.mixing.benchmark_records import read_json_records

_PLUS_INSTRUCTION = ("Please provide a self-contained Python script that solves the following "
                     "problem in a markdown code block:\n```\n{prompt}\n```\n")

# MBPP+ tasks whose answer is a collection in no particular order, and tasks whose answer only
# has to be None or not (EvalPlus's special oracles, by entry point).
_SET_EQUAL_ENTRY_POINTS = {"similar_elements", "find_char_long", "common_in_nested_lists",
                           "extract_singly", "larg_nnum", "intersection_array", "find_dissimilar", "Diff"}
_NOT_NONE_ENTRY_POINTS = {"check_str", "text_match_three", "text_starta_endb"}

_SETUP = '''\
import copy as _cm_copy, json as _cm_json, math as _cm_math
_cm_inputs = _cm_json.loads({inputs})
_cm_reference_ns = {{"__name__": "_codemix_reference"}}
exec(compile({reference}, "<reference>", "exec"), _cm_reference_ns)
_cm_expected = [_cm_reference_ns[{entry!r}](*_cm_copy.deepcopy(_cm_x)) for _cm_x in _cm_inputs]
del _cm_reference_ns


def _cm_is_floats(x):
    return isinstance(x, float) or (isinstance(x, (list, tuple)) and bool(x) and all(isinstance(i, float) for i in x))


def _cm_close(out, exp, atol):
    # numpy.testing.assert_allclose semantics (rtol 1e-7) for numbers and flat sequences
    if isinstance(exp, (list, tuple)):
        return (isinstance(out, (list, tuple)) and len(out) == len(exp)
                and all(_cm_close(o, e, atol) for o, e in zip(out, exp)))
    try:
        return abs(out - exp) <= atol + 1e-7 * abs(exp) or (_cm_math.isnan(out) and _cm_math.isnan(exp))
    except TypeError:
        return False


def _cm_poly(xs, x):
    return sum(c * _cm_math.pow(x, i) for i, c in enumerate(xs))


def _cm_check(candidate, atol, oracle):
    for _cm_i, (_cm_args, _cm_exp) in enumerate(zip(_cm_inputs, _cm_expected)):
        _cm_out = candidate(*_cm_copy.deepcopy(_cm_args))
        if oracle == "find_zero":
            _cm_ok = abs(_cm_poly(_cm_args[0], _cm_out)) <= max(atol, 1e-6)
        elif oracle == "set":
            _cm_ok = set(_cm_out) == set(_cm_exp)
        elif oracle == "not_none":
            _cm_ok = _cm_out == _cm_exp if isinstance(_cm_out, bool) else (_cm_out is not None) == _cm_exp
        else:
            _cm_ok = _cm_out == _cm_exp
            _cm_tol = 1e-6 if atol == 0 and _cm_is_floats(_cm_exp) else atol
            if not _cm_ok and _cm_tol:
                _cm_ok = _cm_close(_cm_out, _cm_exp, _cm_tol)
        assert _cm_ok, f"input #{{_cm_i}} {{repr(_cm_args)[:200]}}: got {{repr(_cm_out)[:200]}}"
'''


def plus_problem(record: dict, benchmark: str, where: str) -> Problem:
    """A Problem from one EvalPlus record (`where` names the file and row in errors)."""
    missing = [f for f in ("task_id", "prompt", "entry_point", "base_input", "plus_input")
               if f not in record]
    reference = record.get("canonical_solution") or record.get("code")
    if missing or not reference:
        raise CodemixError(f"{where}: not an EvalPlus record (missing "
                           f"{', '.join(missing) or 'canonical_solution/code'})")
    entry = record["entry_point"]
    prompt = record["prompt"]
    if f"def {entry}" not in reference:  # HumanEval+: the body only, as in HumanEval
        reference = prompt + reference
    inputs = list(record["base_input"]) + list(record["plus_input"])
    bad = next((i for i, x in enumerate(inputs) if not isinstance(x, list)), None)
    if bad is not None:
        raise CodemixError(f"{where}: input #{bad} is not a list of arguments")
    atol = float(record.get("atol") or 0)
    oracle = ("find_zero" if entry == "find_zero" and benchmark == "humaneval+"
              else "set" if entry in _SET_EQUAL_ENTRY_POINTS and benchmark == "mbpp+"
              else "not_none" if entry in _NOT_NONE_ENTRY_POINTS and benchmark == "mbpp+" else "")
    setup = _SETUP.format(inputs=repr(json.dumps(inputs)), reference=repr(reference), entry=entry)
    return Problem(
        task_id=str(record["task_id"]), benchmark=benchmark, prompt=prompt,
        instruction=_PLUS_INSTRUCTION.format(prompt=prompt.strip()), entry_point=entry,
        canonical_solution=reference,
        test_code=f"_cm_check({entry}, {atol!r}, {oracle!r})\n", test_setup=setup)


def plus_parts(problem: Problem) -> tuple[str, str, float, str] | None:
    """(inputs as JSON, reference source, atol, oracle) of a problem `plus_problem` built, read
    back from its test program (strict verdicts need them apart); None for any other problem."""
    import ast

    if problem.benchmark not in ("humaneval+", "mbpp+") or not problem.test_code.startswith("_cm_check("):
        return None
    try:
        check = ast.parse(problem.test_code).body[0].value
        atol, oracle = (ast.literal_eval(a) for a in check.args[1:3])
        inputs = reference = None
        for stmt in ast.parse(problem.test_setup).body:
            if isinstance(stmt, ast.Assign) and getattr(stmt.targets[0], "id", "") == "_cm_inputs":
                inputs = ast.literal_eval(stmt.value.args[0])
            elif isinstance(stmt, ast.Expr) and getattr(stmt.value.func, "id", "") == "exec":
                reference = ast.literal_eval(stmt.value.args[0].args[0])
    except (SyntaxError, ValueError, AttributeError, IndexError, TypeError):
        return None
    if not isinstance(inputs, str) or not isinstance(reference, str):
        return None
    return inputs, reference, float(atol), str(oracle)


def _plus_problems(benchmark: str, path: str | None) -> list[Problem]:
    if path is None or path == "hub":  # no Hub copy of the release files is read
        raise CodemixError(f"{benchmark}: pass the EvalPlus release file with --problems "
                           f"(e.g. {'HumanEvalPlus' if benchmark == 'humaneval+' else 'MbppPlus'}-v0.x.jsonl.gz)")
    return [plus_problem(r, benchmark, f"{path}: row {i + 1}") for i, r in enumerate(read_json_records(path))]


for _name, _file in (("humaneval+", "HumanEvalPlus-v0.x.jsonl.gz"), ("mbpp+", "MbppPlus-v0.x.jsonl.gz")):
    register(Benchmark(
        name=_name, scorer="execute", description=f"EvalPlus {_name} (release file {_file})",
        load=lambda path, _name=_name: _plus_problems(_name, path), default_source=None,
        path_hint=f"the EvalPlus release file (e.g. {_file})"))
