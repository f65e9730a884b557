"""The driver: what runs in the sample's process in strict mode (eval/scoring/strict.py judges
what it writes). It runs the solution, makes the test's calls and writes each result to the
data channel (descriptor 4) as plain data, one JSON line per call, then {"end": N}:

    {"ok": value}  {"raised": "builtins.ValueError", "message": "..."}  {"unencodable": "module.Type", "at": "[0]"}

Plain data is exact builtins only: None, bool, int, float, str, bytes, complex, list, tuple,
set, frozenset, dict (and the standard library's Counter, OrderedDict, defaultdict, ChainMap and
UserDict, sent as the dict of their items, which is what a dict compares them by: MBPP's
references return Counters, model samples ChainMaps), tagged so that a tuple stays a tuple, a
float nan or inf and dict keys survive, and True stays apart from 1. Anything else (another
subclass, numpy scalars, an object of the sample's) is reported by its type and stops the calls.
"""

from __future__ import annotations

import functools

from codemix.eval.benchmarks.calls import AssertPlan, ReferencePlan

DATA_FD = 4
# Nesting the decoder follows; deeper results (or a list containing itself) are "unencodable"
# in the sample's process already. 100 is far beyond any benchmark's expected value (HumanEval's
# deepest is 3) and keeps the harness's own recursion well inside Python's default 1000.
MAX_DEPTH = 100
MESSAGE_CHARS = 200

# Runs in the sample's process before the solution: everything the driver needs is bound inside
# a closure first, so a solution that rebinds a builtin or a module global changes nothing here
# (a solution can still write anything to descriptor 4, but it cannot know the expected values).
DRIVER_SOURCE = r'''
def _cm_strict_driver():
    import collections, copy, json, os
    write, dumps, loads, deepcopy = os.write, json.dumps, json.loads, copy.deepcopy
    type_, len_, str_, repr_, format_, exc_ = type, len, str, repr, format, BaseException
    getattr_, enumerate_ = getattr, enumerate
    # The standard library's mappings compare with a dict as the dict of their items does.
    dicts = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
    mappings = (collections.ChainMap, collections.UserDict)
    plain = (type(None), bool, str, int, float, bytes, complex, list, tuple, set, frozenset) + dicts + mappings
    items, dict_ = dict.items, dict
    tags = {tuple: "tuple", set: "set", frozenset: "frozenset"}
    max_depth = @MAX_DEPTH@

    class Unencodable(Exception):
        pass

    def name_of(t):
        return (str_(getattr_(t, "__module__", "?")) + "." + str_(getattr_(t, "__qualname__", "?")))[:120]

    def encode(x, at, depth):
        t = type_(x)
        if t not in plain:
            raise Unencodable(name_of(t), at)
        if depth > max_depth:
            raise Unencodable("nesting deeper than " + str_(max_depth), at)
        if x is None or t is bool or t is str:
            return x
        if t is int:
            return x if -(1 << 62) < x < (1 << 62) else {"int": format_(x, "x")}
        if t is float:
            return x if x - x == 0 else {"float": repr_(x)}
        if t is list:
            return [encode(v, at + "[" + str_(i) + "]", depth + 1) for i, v in enumerate_(x)]
        if t in mappings:
            x, t = dict_(x), dict
        if t in dicts:
            return {"dict": [[encode(k, at + "{key}", depth + 1), encode(v, at + "[" + repr_(k)[:40] + "]", depth + 1)]
                             for k, v in items(x)]}
        if t is bytes:
            return {"bytes": x.hex()}
        if t is complex:
            return {"complex": [encode(x.real, at, depth + 1), encode(x.imag, at, depth + 1)]}
        return {tags[t]: [encode(v, at + "[" + str_(i) + "]", depth + 1) for i, v in enumerate_(x)]}

    def emit(record):
        data = (dumps(record, ensure_ascii=True, allow_nan=False) + "\n").encode()
        while data:
            data = data[write(@DATA_FD@, data):]

    def result(make):
        try:
            value = make()
        except exc_ as e:
            try:
                message = str_(e)[:@MESSAGE_CHARS@]
            except exc_:
                message = ""
            emit({"raised": name_of(type_(e)), "message": message})
            return False
        try:
            emit({"ok": encode(value, "", 0)})
        except Unencodable as e:
            emit({"unencodable": e.args[0], "at": e.args[1]})
            return False
        return True

    def run(calls=None, inputs=None, function=None):
        if inputs is not None:
            calls = [(lambda a=a: function(*deepcopy(a))) for a in loads(inputs)]
        for make in calls:
            if not result(make):
                return
        emit({"end": len_(calls)})

    return run


_cm_strict_run = _cm_strict_driver()
del _cm_strict_driver
'''.replace("@MAX_DEPTH@", str(MAX_DEPTH)).replace("@DATA_FD@", str(DATA_FD)).replace("@MESSAGE_CHARS@", str(MESSAGE_CHARS))


@functools.cache
def driver_prelude() -> str:
    """The driver as the program carries it: compiled here once and marshalled, run from that when
    the sample's interpreter is this one (its bytecode format), else from the source. Compiling
    the 90-line source cost 0.53 ms a sample, a tenth of an honest HumanEval sample's time in the
    sandbox; loading the marshalled code costs 0.13 ms."""
    import marshal
    import sys

    code = marshal.dumps(compile(DRIVER_SOURCE, "<strict driver>", "exec")).hex()
    same = f"_cm_sys.implementation.name == 'cpython' and _cm_sys.version_info[:2] == {tuple(sys.version_info[:2])}"
    return (f"import marshal as _cm_marshal, sys as _cm_sys\n"
            f"if {same}:\n    exec(_cm_marshal.loads(bytes.fromhex({code!r})))\n"
            f"else:\n    exec({DRIVER_SOURCE!r})\n"
            f"del _cm_marshal, _cm_sys\n")


def driver_program(plan: AssertPlan | ReferencePlan, solution: str) -> str:
    """The sample's program in strict mode: driver, setup, solution, the test module's imports,
    then the calls. Nothing in it is an expected value."""
    if isinstance(plan, ReferencePlan):
        # The function as the in-process test takes it: the global of that name once the solution ran.
        run = f"_cm_strict_run(inputs={plan.inputs_json!r}, function={plan.entry_point})"
        parts = [driver_prelude(), solution, run]
    else:
        # Each call a lambda at module level: compiled with the program (before the fork, in the
        # worker), its names looked up in the sample's globals when it runs, as in the test.
        run = "_cm_strict_run([\n" + "".join(f"    lambda: {call},\n" for call in plan.calls) + "])"
        parts = [driver_prelude(), plan.before, solution, plan.after, run]
    return "\n".join(p.rstrip("\n") for p in parts if p) + "\n"


def reference_program(plan: ReferencePlan) -> str:
    """EvalPlus: the reference solution alone through the same driver; its results are the
    expected values."""
    return driver_program(plan, plan.reference)
