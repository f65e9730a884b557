"""A problem's tests as calls and checks, for strict verdicts (eval/scoring/strict.py).

Strict verdicts keep the expected values out of the sample's process: the sample receives only
the calls (a function name and literal arguments), returns what each call produced as plain
data, and the harness evaluates the test's own checks on that data. `plan_calls(problem)`
splits a problem's tests that way, or says why it cannot:

- HumanEval / MBPP asserts, parsed with `ast`: every statement of `check(candidate)` (HumanEval)
  or of the test list (MBPP) must be an assert whose expression calls the function under test
  only with literal arguments, and otherwise uses only literals, comparisons, arithmetic and a
  few pure builtins (`abs`, `set`, `sorted`, `math.isclose`, ... below). The expression is kept
  with each call replaced by `_cm_out(i)`, the i-th call's result, and is evaluated outside.
- EvalPlus (humaneval+ / mbpp+): the inputs of the release file are the calls; the expected
  values are the reference solution's outputs, computed in a sandbox process of their own, and
  compared with EvalPlus's rules (eval/benchmarks/plus.py).

Anything else (loops, random inputs, helper functions of the test, variables) keeps the
in-process check; `plan_calls` returns the reason, which results.json records.
"""

from __future__ import annotations

import ast
import dataclasses

from codemix.eval.benchmarks.problem import Problem

# Pure builtins a check may apply to results (outside the sandbox, on plain data): each runs in
# time linear in its input, which the sandbox's data limit bounds.
CHECK_FUNCTIONS = frozenset({"abs", "all", "any", "bool", "dict", "float", "frozenset", "int", "len", "list",
                             "max", "min", "round", "set", "sorted", "str", "sum", "tuple"})
CHECK_MATH_FUNCTIONS = frozenset({"isclose", "fabs", "isnan", "isinf", "isfinite", "floor", "ceil"})
# Builtins an argument may use; the argument is evaluated in the sample's namespace, as in the
# original test, so these need not be pure, only free of the expected values.
ARGUMENT_FUNCTIONS = frozenset({"float", "int", "str", "list", "tuple", "set", "dict", "frozenset", "range",
                                "sorted", "bytes", "complex"})
# Multiplying or raising by a number the sample chose could take the harness any time or memory
# (`[0] * 10**12`, `2 ** 10**9`): allowed only between the test's own constants.
_UNBOUNDED_OPS = (ast.Mult, ast.Pow, ast.LShift, ast.MatMult)
_SAFE_OPS = (ast.Add, ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.BitAnd, ast.BitOr, ast.BitXor, ast.RShift)
OUT = "_cm_out"


@dataclasses.dataclass(frozen=True)
class Check:
    """One assert: `expression` is its test with the i-th call replaced by `_cm_out(i)`."""
    expression: str
    source: str  # the assert as written, for messages
    line: int


@dataclasses.dataclass(frozen=True)
class AssertPlan:
    """Calls (each the source of a call to a global name, literal arguments only) and the asserts
    that check their results. `before` / `after` run around the solution in the sample's
    process as the original test program has them there (setup imports; the test module's
    imports and constants, which a solution may rely on) and hold no expected values."""
    entry_point: str
    before: str
    after: str
    calls: tuple[str, ...]
    checks: tuple[Check, ...]


@dataclasses.dataclass(frozen=True)
class ReferencePlan:
    """EvalPlus: `inputs_json` (a JSON list of argument lists) through `entry_point`; expected
    values from `reference` run alone; `atol` / `oracle` as in eval/benchmarks/plus.py."""
    entry_point: str
    inputs_json: str
    reference: str
    atol: float
    oracle: str


class NotStrict(Exception):
    """The test cannot be split into calls and checks; the message says why."""


def plan_calls(problem: Problem) -> AssertPlan | ReferencePlan | str:
    """The problem's tests as calls and checks, or the reason they keep the in-process check."""
    from codemix.eval.benchmarks.plus import plus_parts

    parts = plus_parts(problem)
    if parts is not None:
        if not problem.entry_point.isidentifier():  # it is written into the driver as a name
            return f"the entry point {problem.entry_point!r} is not a Python name"
        return ReferencePlan(problem.entry_point, *parts)
    try:
        return _assert_plan(problem)
    except NotStrict as e:
        return str(e)
    except SyntaxError as e:
        return f"the test code does not parse ({e.msg})"


def _assert_plan(problem: Problem) -> AssertPlan:
    before = _only_imports(problem.test_setup, "the test setup")
    module = ast.parse(problem.test_code)
    check_fn = next((s for s in module.body if isinstance(s, ast.FunctionDef) and s.name == "check"), None)
    if check_fn is None:  # MBPP: asserts at module level
        return _plan(problem, before, "", module.body, callees={problem.entry_point: problem.entry_point})
    params = [a.arg for a in check_fn.args.args]
    if len(params) != 1 or check_fn.args.vararg or check_fn.args.kwonlyargs or check_fn.decorator_list:
        raise NotStrict("check() does not take exactly one parameter (the candidate)")
    after = []
    for stmt in module.body:
        if stmt is check_fn:
            continue
        if _is_check_call(stmt, problem.entry_point):
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) or _is_constant_assign(stmt):
            after.append(ast.get_source_segment(problem.test_code, stmt))
        elif not _is_docstring(stmt):
            raise NotStrict(f"the test module has a statement other than imports and constants "
                            f"(line {stmt.lineno}: {_head(problem.test_code, stmt)})")
    # The test module defines `check`, replacing any `check` of the solution; a solution that
    # calls its own `check` fails in the original program, so it must here too.
    after.append(f"def check({params[0]}):\n    raise AssertionError('check() is the benchmark\\'s test function')")
    callees = {params[0]: problem.entry_point, problem.entry_point: problem.entry_point}
    return _plan(problem, before, "\n".join(after), check_fn.body, callees=callees)


def _plan(problem: Problem, before: str, after: str, statements: list[ast.stmt],
          callees: dict[str, str]) -> AssertPlan:
    calls: list[str] = []
    checks: list[Check] = []
    for stmt in statements:
        if _is_docstring(stmt) or isinstance(stmt, ast.Pass) or _is_bare_builtin(stmt):
            continue
        if not isinstance(stmt, ast.Assert):
            raise NotStrict(f"the tests have a statement other than asserts (line {stmt.lineno}: "
                            f"{_head(problem.test_code, stmt)})")
        rewriter = _CallRewriter(problem.test_code, callees, first_index=len(calls))
        expression = rewriter.visit(stmt.test)
        if not rewriter.calls:
            if isinstance(stmt.test, ast.Constant) and stmt.test.value:
                continue  # `assert True`: HumanEval's placeholders
            raise NotStrict(f"an assert does not call {problem.entry_point} (line {stmt.lineno})")
        calls.extend(rewriter.calls)
        checks.append(Check(ast.unparse(expression), _head(problem.test_code, stmt, 300), stmt.lineno))
    if not checks:
        raise NotStrict("no assert calls the function under test")
    return AssertPlan(problem.entry_point, before, after, tuple(calls), tuple(checks))


class _CallRewriter(ast.NodeTransformer):
    """Replaces calls of the function under test with `_cm_out(i)` (their source goes to
    `calls`, in evaluation order) and refuses every node the harness must not evaluate."""

    def __init__(self, source: str, callees: dict[str, str], first_index: int):
        self.source, self.callees, self.next = source, callees, first_index
        self.calls: list[str] = []
        self.depth_with_results = 0

    def generic_visit(self, node: ast.AST) -> ast.AST:
        allowed = (ast.Compare, ast.UnaryOp, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Load,
                   ast.cmpop, ast.unaryop, ast.keyword, ast.Subscript, ast.Slice)
        if not isinstance(node, allowed):
            raise NotStrict(f"a check uses {type(node).__name__} "
                            f"({ast.get_source_segment(self.source, node) or ast.unparse(node)})"[:200])
        return super().generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        if isinstance(node.op, _UNBOUNDED_OPS) and _calls_any(node, self.callees):
            raise NotStrict(f"a check multiplies or raises a result ({ast.unparse(node)[:120]})")
        if not isinstance(node.op, _SAFE_OPS + _UNBOUNDED_OPS):
            raise NotStrict(f"a check uses the operator {type(node.op).__name__}")
        return ast.BinOp(self.visit(node.left), node.op, self.visit(node.right))

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in CHECK_FUNCTIONS:
            return node
        raise NotStrict(f"a check uses the name {node.id!r}")

    def visit_Call(self, node: ast.Call) -> ast.AST:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.callees:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                check_argument(arg, self.source)
            if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
                raise NotStrict("a call of the function under test unpacks its arguments")
            text = ast.unparse(ast.Call(ast.Name(self.callees[func.id], ast.Load()), node.args, node.keywords))
            self.calls.append(text)
            index = self.next
            self.next += 1
            return ast.Call(ast.Name(OUT, ast.Load()), [ast.Constant(index)], [])
        if isinstance(func, ast.Name) and func.id in CHECK_FUNCTIONS:
            pass
        elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math"
              and func.attr in CHECK_MATH_FUNCTIONS):
            pass
        else:
            raise NotStrict(f"a check calls {ast.unparse(func)[:80]}")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise NotStrict("a check unpacks arguments")
        return ast.Call(func, [self.visit(a) for a in node.args],
                        [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords])


def check_argument(node: ast.AST, source: str) -> None:
    """An argument of the function under test: literals, arithmetic on them and a few
    constructors (`float('inf')`, `list(range(5))`), no names: it is evaluated in the sample's
    process and must not carry anything but the input."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if not (isinstance(sub.func, ast.Name) and sub.func.id in ARGUMENT_FUNCTIONS):
                raise NotStrict(f"an argument calls {ast.unparse(sub.func)[:80]}")
        elif isinstance(sub, ast.Name):
            if sub.id not in ARGUMENT_FUNCTIONS:
                raise NotStrict(f"an argument uses the name {sub.id!r} "
                                f"({ast.get_source_segment(source, node) or ast.unparse(node)})"[:200])
        elif not isinstance(sub, (ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp, ast.BinOp,
                                  ast.Load, ast.operator, ast.unaryop, ast.keyword)):
            raise NotStrict(f"an argument uses {type(sub).__name__} ({ast.unparse(node)[:120]})")


def _calls_any(node: ast.AST, callees: dict[str, str]) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in callees
               for n in ast.walk(node))


def _only_imports(code: str, what: str) -> str:
    for stmt in ast.parse(code).body:
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            raise NotStrict(f"{what} does more than import (line {stmt.lineno}: {_head(code, stmt)})")
    return code


def _is_check_call(stmt: ast.stmt, entry_point: str) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "check"
            and len(stmt.value.args) == 1 and not stmt.value.keywords
            and isinstance(stmt.value.args[0], ast.Name) and stmt.value.args[0].id == entry_point)


def _is_constant_assign(stmt: ast.stmt) -> bool:
    """`METADATA = {...}`: a name bound to a literal (HumanEval's test modules)."""
    if not (isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets)):
        return False
    try:
        ast.literal_eval(stmt.value)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _is_bare_builtin(stmt: ast.stmt) -> bool:
    """A statement that only names a builtin (HumanEval/129's stray `print`): it does nothing."""
    import builtins

    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name) and hasattr(builtins, stmt.value.id)


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _head(source: str, node: ast.AST, limit: int = 80) -> str:
    text = ast.get_source_segment(source, node) or ast.unparse(node)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
