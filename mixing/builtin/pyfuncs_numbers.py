"""pyfuncs families over integers and lists of integers (arithmetic, small algorithms, lists).

Constants range up to 999 where the task allows it: with 6 phrasings that gives ~6,000 distinct
instructions per one-parameter family, so 10,000 rows stay nearly duplicate-free, while the
numbers stay 1-3 digits (cheap to copy for a byte-level model).
"""

from __future__ import annotations

from codemix.mixing.builtin.draw import Rand, randint
from codemix.mixing.builtin.pyfuncs_family import Family

X = ("x", "an integer x")
N = ("n", "an integer n")
NUMS = ("nums", "a list of integers nums")


def _k(lo: int, hi: int):
    return lambda r: (randint(r, lo, hi),)


def _range_pair(span: int, width: int):
    def sample(r: Rand) -> tuple[int, int]:
        lo = randint(r, 0, span)
        return (lo, lo + randint(r, 1, width))

    return sample


def _distinct_pair(lo: int, hi: int):
    def sample(r: Rand) -> tuple[int, int]:
        a = randint(r, lo, hi)
        b = randint(r, lo, hi - 1)
        return (a, b + (b >= a))  # b != a, uniform over the rest

    return sample


def _fib_mod(n: int, m: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, (a + b) % m
    return a


def _times_divisible(n: int, k: int) -> int:
    count = 0
    while n % k == 0:
        n //= k
        count += 1
    return count


def _is_power_of(n: int, k: int) -> bool:
    while n > 1 and n % k == 0:
        n //= k
    return n == 1


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return abs(a)


NUMBER_FAMILIES = [
    Family("add_const", *X, "add_{0}", ("returns x plus {0}", "adds {0} to x and returns the result"),
           "return x + {0}", ("k",), _k(1, 999), lambda p, x: x + p[0],
           lambda p: [0, 5, -12, 250]),
    Family("mul_const", *X, "times_{0}", ("returns x multiplied by {0}", "multiplies x by {0} and returns the product"),
           "return x * {0}", ("k",), _k(2, 999), lambda p, x: x * p[0],
           lambda p: [0, 3, -4, 11]),
    Family("linear", *X, "linear_{0}_{1}", ("returns {0} times x plus {1}", "computes {0} * x + {1} and returns it"),
           "return {0} * x + {1}", ("a", "b"), lambda r: (randint(r, 2, 20), randint(r, 1, 99)),
           lambda p, x: p[0] * x + p[1], lambda p: [0, 1, -3, 10]),
    Family("mod_const", *X, "mod_{0}", ("returns the remainder of x divided by {0}", "returns x modulo {0}"),
           "return x % {0}", ("k",), _k(2, 999), lambda p, x: x % p[0],
           lambda p: [3 * p[0] + 1, p[0] - 1, 7 * p[0], 1000]),
    Family("floor_div", *X, "div_{0}", ("returns x divided by {0}, rounded down", "returns the integer quotient of x and {0}"),
           "return x // {0}", ("k",), _k(2, 999), lambda p, x: x // p[0],
           lambda p: [5 * p[0] + 1, p[0] - 1, 12 * p[0], 1000]),
    Family("is_multiple", *N, "is_multiple_of_{0}", ("returns True if n is divisible by {0}, else False", "returns whether n is a multiple of {0}"),
           "return n % {0} == 0", ("k",), _k(2, 999), lambda p, n: n % p[0] == 0,
           lambda p: [3 * p[0], 3 * p[0] + 1, p[0] + 1, 0]),
    Family("clamp", *X, "clamp_{0}_{1}", ("returns x limited to the range {0} to {1}", "clamps x so that it lies between {0} and {1}"),
           "return max({0}, min({1}, x))", ("lo", "hi"), _range_pair(49, 100),
           lambda p, x: max(p[0], min(p[1], x)), lambda p: [p[0] - 5, p[1] + 3, (p[0] + p[1]) // 2]),
    Family("in_range", *X, "between_{0}_{1}", ("returns True if x is between {0} and {1} inclusive, else False", "returns whether {0} <= x <= {1}"),
           "return {0} <= x <= {1}", ("lo", "hi"), _range_pair(49, 100),
           lambda p, x: p[0] <= x <= p[1], lambda p: [p[0], p[1], p[0] - 1, p[1] + 1]),
    Family("abs_diff", *X, "distance_to_{0}", ("returns the absolute difference between x and {0}", "returns how far x is from {0}"),
           "return abs(x - {0})", ("k",), _k(0, 999), lambda p, x: abs(x - p[0]),
           lambda p: [0, p[0], p[0] + 17, -5]),
    Family("sum_multiples", *N, "sum_multiples_of_{0}", ("returns the sum of all multiples of {0} that are less than n", "adds up the multiples of {0} below n and returns the total"),
           "return sum(range(0, n, {0}))", ("k",), _k(2, 999), lambda p, n: sum(range(0, n, p[0])),
           lambda p: [0, 4 * p[0], 10 * p[0] + 1, 500]),
    Family("gcd_with", *N, "gcd_with_{0}", ("returns the greatest common divisor of n and {0}", "returns the largest number that divides both n and {0}"),
           "from math import gcd\nreturn gcd(n, {0})", ("k",), _k(2, 999), lambda p, n: _gcd(n, p[0]),
           lambda p: [3 * p[0], p[0] + 1, 360, 0]),
    Family("pow_mod", *X, "pow_{0}_mod_{1}", ("returns x to the power {0}, modulo {1}", "returns x ** {0} % {1}"),
           "return pow(x, {0}, {1})", ("e", "m"), lambda r: (randint(r, 2, 9), randint(r, 2, 999)),
           lambda p, x: pow(x, p[0], p[1]), lambda p: [2, 3, 10, 0]),
    Family("fib_mod", *N, "fib_mod_{0}", ("returns the n-th Fibonacci number modulo {0}, where fib(0) = 0 and fib(1) = 1", "returns the n-th Fibonacci number (0, 1, 1, 2, 3, 5, ...) modulo {0}"),
           "a, b = 0, 1\nfor _ in range(n):\n    a, b = b, (a + b) % {0}\nreturn a", ("k",), _k(2, 999),
           lambda p, n: _fib_mod(n, p[0]), lambda p: [0, 1, 10, 25]),
    Family("times_divisible", *N, "times_divisible_by_{0}", ("returns how many times n (n >= 1) can be divided by {0} without remainder", "counts how often {0} divides n exactly, for n >= 1"),
           "count = 0\nwhile n % {0} == 0:\n    n //= {0}\n    count += 1\nreturn count", ("k",), _k(2, 999),
           lambda p, n: _times_divisible(n, p[0]), lambda p: [p[0] ** 3, 7 * p[0] + 1, 1, p[0] * p[0] * (p[0] + 1)]),
    Family("is_power_of", *N, "is_power_of_{0}", ("returns True if n is a power of {0} (1 counts), else False", "returns whether n equals {0} ** i for some i >= 0"),
           "while n > 1 and n % {0} == 0:\n    n //= {0}\nreturn n == 1", ("k",), _k(2, 999),
           lambda p, n: _is_power_of(n, p[0]), lambda p: [p[0] ** 4, p[0] ** 2 + 1, 1, p[0] * (p[0] + 1)]),
]

LIST_FAMILIES = [
    Family("count_above", *NUMS, "count_above_{0}", ("returns how many numbers in nums are greater than {0}", "counts the numbers in nums that are greater than {0}"),
           "return sum(1 for v in nums if v > {0})", ("k",), _k(0, 999), lambda p, a: sum(1 for v in a if v > p[0]),
           lambda p: [[p[0] - 1, p[0], p[0] + 1, p[0] + 5], [], [p[0] + 2, p[0] + 9, p[0] + 3]]),
    Family("sum_below", *NUMS, "sum_below_{0}", ("returns the sum of the numbers in nums that are less than {0}", "adds up the numbers in nums that are smaller than {0}"),
           "return sum(v for v in nums if v < {0})", ("k",), _k(1, 999), lambda p, a: sum(v for v in a if v < p[0]),
           lambda p: [[p[0] - 1, p[0], 1], [], [p[0] + 4, p[0] - 10]]),
    Family("keep_multiples", *NUMS, "keep_multiples_of_{0}", ("returns a list of the numbers in nums that are divisible by {0}", "returns the multiples of {0} in nums, in their original order"),
           "return [v for v in nums if v % {0} == 0]", ("k",), _k(2, 999), lambda p, a: [v for v in a if v % p[0] == 0],
           lambda p: [[p[0], p[0] + 1, 2 * p[0], 3 * p[0] + 1], [], [7 * p[0], 1]]),
    Family("add_each", *NUMS, "add_{0}_to_each", ("returns a new list with {0} added to every number in nums", "adds {0} to each element of nums and returns the new list"),
           "return [v + {0} for v in nums]", ("k",), _k(1, 999), lambda p, a: [v + p[0] for v in a],
           lambda p: [[1, 2, 3], [], [-p[0], 10]]),
    Family("scale_each", *NUMS, "scale_by_{0}", ("returns a new list with every number in nums multiplied by {0}", "multiplies each element of nums by {0} and returns the new list"),
           "return [v * {0} for v in nums]", ("k",), _k(2, 999), lambda p, a: [v * p[0] for v in a],
           lambda p: [[1, 2, 3], [], [0, -5]]),
    Family("replace_value", *NUMS, "replace_{0}_with_{1}", ("returns a copy of nums in which every {0} is replaced by {1}", "replaces each {0} in nums with {1} and returns the new list"),
           "return [{1} if v == {0} else v for v in nums]", ("old", "new"), _distinct_pair(0, 49),
           lambda p, a: [p[1] if v == p[0] else v for v in a], lambda p: [[p[0], 500, p[0]], [], [1000, p[1]]]),
    Family("first_above", *NUMS, "first_above_{0}", ("returns the first number in nums greater than {0}, else None", "returns the first element of nums above {0}, or None if no element is"),
           "return next((v for v in nums if v > {0}), None)", ("k",), _k(0, 999), lambda p, a: next((v for v in a if v > p[0]), None),
           lambda p: [[p[0], p[0] + 3, p[0] + 1], [p[0] - 1, 0], [], [p[0] + 10]]),
    Family("count_value", *NUMS, "count_{0}s", ("returns how many times {0} appears in nums", "counts the occurrences of {0} in nums"),
           "return nums.count({0})", ("k",), _k(0, 999), lambda p, a: a.count(p[0]),
           lambda p: [[p[0], 1000, p[0]], [], [p[0] + 1], [p[0]] * 3]),
    Family("max_or_default", *NUMS, "max_or_{0}", ("returns the largest number in nums, or {0} if nums is empty", "returns max(nums), or {0} when nums has no elements"),
           "return max(nums, default={0})", ("k",), _k(0, 999), lambda p, a: max(a, default=p[0]),
           lambda p: [[3, 1000, 2], [], [-4]]),
]

# Whole families kept out of training. Each recombines words and code patterns that training
# families teach (count_above + sum_below -> count_below, ...), so a model can in principle
# generalise to them; their score is reported apart from held-out parameter values.
HELDOUT_LIST_FAMILIES = [
    Family("count_below", *NUMS, "count_below_{0}", ("returns how many numbers in nums are less than {0}", "counts the numbers in nums that are smaller than {0}"),
           "return sum(1 for v in nums if v < {0})", ("k",), _k(1, 999), lambda p, a: sum(1 for v in a if v < p[0]),
           lambda p: [[p[0] - 1, p[0], p[0] + 1, p[0] - 5], [], [p[0] + 2, 0]]),
    Family("sum_above", *NUMS, "sum_above_{0}", ("returns the sum of the numbers in nums that are greater than {0}", "adds up the numbers in nums that are larger than {0}"),
           "return sum(v for v in nums if v > {0})", ("k",), _k(0, 999), lambda p, a: sum(v for v in a if v > p[0]),
           lambda p: [[p[0] + 1, p[0], 1], [], [p[0] + 4, p[0] + 10]]),
    Family("keep_above", *NUMS, "keep_above_{0}", ("returns a list of the numbers in nums that are greater than {0}", "returns the numbers in nums above {0}, in their original order"),
           "return [v for v in nums if v > {0}]", ("k",), _k(0, 999), lambda p, a: [v for v in a if v > p[0]],
           lambda p: [[p[0], p[0] + 7, p[0] - 2, p[0] + 1], [], [p[0] - 1]]),
    Family("count_multiples", *NUMS, "count_multiples_of_{0}", ("returns how many numbers in nums are divisible by {0}", "counts the multiples of {0} in nums"),
           "return sum(1 for v in nums if v % {0} == 0)", ("k",), _k(2, 999), lambda p, a: sum(1 for v in a if v % p[0] == 0),
           lambda p: [[p[0], p[0] + 1, 2 * p[0]], [], [5 * p[0]]]),
]
