"""One pyfuncs task family: a parameterised "Write a Python function ..." task with its reference
solution and a reference implementation that computes the expected test values.

A family's text is made of str.format templates over its parameter tuple `p`:
`entry` (the function name, e.g. "add_{0}"), two `descs` (third-person clauses, "returns x plus
{0}") and `body` (the function body, lines joined by "\\n", without the def's indentation).
The expected values in the tests come from `ref`, a plain Python function, rather than from
executing the solution: compiling code per row would cost ~50 us and make 1M rows take
minutes. tests/test_builtin.py executes every family's solution against its tests, so `ref` and
`body` cannot drift apart silently.

Every family takes exactly one argument; constants are baked into the function name and body
(`add_7(x)`), which keeps instructions and solutions short enough for a ~1M-parameter model
with 256-token contexts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from codemix.mixing.builtin.draw import Rand

# How many phrasings each family has: 3 instruction frames x 2 descriptions.
N_VARIANTS = 6


@dataclass(frozen=True)
class Family:
    name: str
    arg: str  # the argument's name, e.g. "nums"
    arg_desc: str  # the argument in words, e.g. "a list of integers nums"
    entry: str  # function-name template
    descs: tuple[str, str]  # description templates, completing "... that <desc>."
    body: str  # body template
    param_names: tuple[str, ...]
    sample: Callable[[Rand], tuple]  # draws a parameter tuple
    ref: Callable[[tuple, Any], Any]  # ref(p, argument) -> expected result
    cases: Callable[[tuple], list]  # test arguments for parameters p
    weight: int = 2  # relative share of rows (1 for families with few parameter values)


class Code(NamedTuple):
    """Everything about a task that depends on (family, params) but not on the phrasing."""

    entry_point: str
    solution: str
    response: str
    tests: tuple[str, ...]
    params: dict[str, Any]
    descs: tuple[str, str]


def code(fam: Family, p: tuple) -> Code:
    entry = fam.entry.format(*p)
    body = fam.body.format(*p).replace("\n", "\n    ")
    solution = f"def {entry}({fam.arg}):\n    {body}\n"
    ref = fam.ref
    # repr(arg) is taken before ref runs, so a ref that mutated its input could not skew the test.
    tests = tuple(f"assert {entry}({arg!r}) == {ref(p, arg)!r}" for arg in fam.cases(p))
    descs = (fam.descs[0].format(*p), fam.descs[1].format(*p))
    return Code(entry, solution, fenced(solution), tests, dict(zip(fam.param_names, p, strict=True)), descs)


def instruction(fam: Family, c: Code, variant: int) -> str:
    """The instruction of phrasing `variant` (0..N_VARIANTS-1): frame variant // 2, desc variant % 2."""
    # f-strings rather than FRAMES[i].format(...): 3x faster, and this runs once per row.
    desc, frame = c.descs[variant & 1], variant >> 1
    if frame == 0:
        return f"Write a Python function `{c.entry_point}({fam.arg})` that {desc}."
    if frame == 1:
        return f"Write a Python function {c.entry_point}({fam.arg}) which {desc}."
    return f"Write a Python function called {c.entry_point} that takes {fam.arg_desc} and {desc}."


def docstring_prompt(fam: Family, entry: str, desc: str) -> str:
    """HumanEval-style completion prompt: the def line and a one-line docstring."""
    return f'def {entry}({fam.arg}):\n    """{desc[0].upper()}{desc[1:]}."""\n'


def fenced(solution: str) -> str:
    """A row's response: the solution as one fenced Python block and nothing else."""
    return f"```python\n{solution}```"
