"""Two EvalPlus-format HumanEval+ records (HumanEval/2, and HumanEval/32 with its tolerance and
find_zero check), for tests of the plus loader and of strict verdicts."""

HUMANEVAL_PLUS_RECORDS = [
    {"task_id": "HumanEval/2", "entry_point": "truncate_number",
     "prompt": 'def truncate_number(number: float) -> float:\n    """Decimal part of number."""\n',
     "canonical_solution": "    return number % 1.0\n", "atol": 0,
     "base_input": [[3.5], [1.25]], "plus_input": [[123.456], [1e-9], [7.0]]},
    {"task_id": "HumanEval/32", "entry_point": "find_zero",
     "prompt": "import math\n\ndef poly(xs, x):\n    return sum(c * math.pow(x, i) for i, c in enumerate(xs))\n\n"
               "def find_zero(xs: list):\n    \"\"\"A zero of the polynomial xs.\"\"\"\n",
     "canonical_solution": "    lo, hi = -1.0, 1.0\n    while poly(xs, lo) * poly(xs, hi) > 0:\n        lo *= 2.0\n        hi *= 2.0\n"
                           "    while hi - lo > 1e-10:\n        mid = (lo + hi) / 2.0\n"
                           "        if poly(xs, mid) * poly(xs, lo) > 0:\n            lo = mid\n        else:\n            hi = mid\n"
                           "    return lo\n",
     "atol": 1e-6, "base_input": [[[1, 2]], [[-6, 11, -6, 1]]], "plus_input": [[[2, -3, 1]]]},
]
