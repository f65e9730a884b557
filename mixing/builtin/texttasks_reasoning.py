"""texttasks families with numbers, dates and extraction: word problems, unit conversion,
calendar and clock arithmetic, number formats, and pulling numbers/emails/dates out of text.

Same contract as texttasks_language: `(r) -> (instruction, response, answer)`, answers by code.
"""

from __future__ import annotations

import datetime as dt

from codemix.mixing.builtin.draw import Rand, pick, pick_distinct, randint
from codemix.mixing.builtin.texttasks_language import Result
from codemix.mixing.builtin.words import EMAIL_DOMAINS, ITEMS, MONTHS, NAMES, WEEKDAYS, WORDS

# (from unit, to unit, factor): "1 <from> = factor <to>".
UNITS = (
    ("kilometers", "meters", 1000), ("meters", "centimeters", 100), ("kilograms", "grams", 1000),
    ("hours", "minutes", 60), ("minutes", "seconds", 60), ("days", "hours", 24), ("weeks", "days", 7),
    ("feet", "inches", 12), ("yards", "feet", 3), ("liters", "milliliters", 1000), ("years", "months", 12),
)
ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
         (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
EVENTS = ("meeting", "concert", "exam", "party", "trip", "launch", "wedding", "interview")


def number_words(n: int) -> str:
    """English words for 0 <= n <= 999, e.g. 342 -> 'three hundred forty-two'."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + (f"-{ONES[n % 10]}" if n % 10 else "")
    rest = n % 100
    return f"{ONES[n // 100]} hundred" + (f" {number_words(rest)}" if rest else "")


def roman(n: int) -> str:
    out = []
    for value, symbol in ROMAN:
        count, n = divmod(n, value)
        out.append(symbol * count)
    return "".join(out)


def _date(r: Rand) -> dt.date:
    return dt.date(randint(r, 1990, 2030), randint(r, 1, 12), randint(r, 1, 28))


def _numbers(r: Rand, lo: int = 1, hi: int = 99) -> list[int]:
    return [randint(r, lo, hi) for _ in range(randint(r, 3, 5))]


def unit_conversion(r: Rand) -> Result:
    big, small, factor = pick(r, UNITS)
    v = randint(r, 2, 99)
    if r() < 0.5:
        q = pick(r, ("Convert {v} {a} to {b}.", "How many {b} are in {v} {a}?")).format(v=v, a=big, b=small)
        return q, f"{v * factor} {small}", str(v * factor)
    q = pick(r, ("Convert {v} {a} to {b}.", "How many {b} are in {v} {a}?")).format(v=v * factor, a=small, b=big)
    return q, f"{v} {big}", str(v)


def add_problem(r: Rand) -> Result:
    name, item, a, b = pick(r, NAMES), pick(r, ITEMS), randint(r, 2, 60), randint(r, 2, 40)
    q = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
    return q, f"{name} has {a + b} {item} now.", str(a + b)


def subtract_problem(r: Rand) -> Result:
    name, friend = pick_distinct(r, NAMES, 2)
    item, b = pick(r, ITEMS), randint(r, 1, 40)
    a = b + randint(r, 1, 50)
    q = f"{name} had {a} {item} and gave {b} to {friend}. How many {item} does {name} have left?"
    return q, f"{name} has {a - b} {item} left.", str(a - b)


def multiply_problem(r: Rand) -> Result:
    name, item, a, b = pick(r, NAMES), pick(r, ITEMS), randint(r, 2, 12), randint(r, 2, 12)
    q = f"{name} has {a} boxes with {b} {item} in each box. How many {item} are there in total?"
    return q, f"There are {a * b} {item} in total.", str(a * b)


def divide_problem(r: Rand) -> Result:
    name, item, each, friends = pick(r, NAMES), pick(r, ITEMS), randint(r, 2, 12), randint(r, 2, 9)
    q = f"{name} shares {each * friends} {item} equally among {friends} friends. How many {item} does each friend get?"
    return q, f"Each friend gets {each} {item}.", str(each)


def age_problem(r: Rand) -> Result:
    name, born = pick(r, NAMES), randint(r, 1950, 2015)
    year = born + randint(r, 1, 80)
    q = f"{name} was born in {born}. How old does {name} turn in {year}?"
    return q, f"{name} turns {year - born} in {year}.", str(year - born)


def percent(r: Rand) -> Result:
    p, base = pick(r, (5, 10, 20, 25, 40, 50, 60, 75, 80, 90)), 20 * randint(r, 1, 100)
    out = str(p * base // 100)  # exact: p is a multiple of 5 and base of 20
    return pick(r, ("What is {p}% of {b}?", "Compute {p} percent of {b}.")).format(p=p, b=base), out, out


def arithmetic(r: Rand) -> Result:
    a, b, op = randint(r, 2, 99), randint(r, 2, 99), pick(r, ("plus", "minus", "times"))
    out = str(a + b if op == "plus" else a - b if op == "minus" else a * b)
    return pick(r, ("What is {a} {op} {b}?", "Calculate {a} {op} {b}.")).format(a=a, op=op, b=b), out, out


def compare_numbers(r: Rand) -> Result:
    a, b = pick_distinct(r, range(1, 1000), 2)
    if r() < 0.5:
        return f"Which is larger, {a} or {b}?", str(max(a, b)), str(max(a, b))
    return f"Which number is smaller: {a} or {b}?", str(min(a, b)), str(min(a, b))


def odd_even(r: Rand) -> Result:
    n = randint(r, 0, 9999)
    out = "even" if n % 2 == 0 else "odd"
    return pick(r, ("Is {n} odd or even?", "Is the number {n} even or odd?")).format(n=n), out, out


def sum_list(r: Rand) -> Result:
    nums = _numbers(r)
    out = str(sum(nums))
    return pick(r, ("What is the sum of {ns}?", "Add up these numbers: {ns}.")).format(ns=", ".join(map(str, nums))), out, out


def max_min(r: Rand) -> Result:
    nums = _numbers(r)
    ns = ", ".join(map(str, nums))
    if r() < 0.5:
        return f"What is the largest number in {ns}?", str(max(nums)), str(max(nums))
    return f"What is the smallest number in {ns}?", str(min(nums)), str(min(nums))


def sort_numbers(r: Rand) -> Result:
    nums = _numbers(r)
    descending = r() < 0.3
    out = ", ".join(map(str, sorted(nums, reverse=descending)))
    order = "decreasing" if descending else "increasing"
    return f"Sort these numbers in {order} order: {', '.join(map(str, nums))}.", out, out


def average(r: Rand) -> Result:
    mean, k = randint(r, 40, 90), randint(r, 2, 4)
    nums = [mean + randint(r, -9, 9) for _ in range(k)]
    nums.append(mean * (k + 1) - sum(nums))  # makes the mean exactly `mean`
    q = pick(r, ("What is the average of {ns}?", "Find the mean of {ns}.")).format(ns=", ".join(map(str, nums)))
    return q, str(mean), str(mean)


def day_math(r: Rand) -> Result:
    today, k = randint(r, 0, 6), randint(r, 2, 365)
    if r() < 0.6:
        out = WEEKDAYS[(today + k) % 7]
        return f"If today is {WEEKDAYS[today]}, what day of the week will it be in {k} days?", out, out
    out = WEEKDAYS[(today - k) % 7]
    return f"If today is {WEEKDAYS[today]}, what day of the week was it {k} days ago?", out, out


def month_math(r: Rand) -> Result:
    m, k = randint(r, 0, 11), randint(r, 2, 30)
    out = MONTHS[(m + k) % 12]
    return pick(r, ("Which month comes {k} months after {m}?", "What month is it {k} months after {m}?")).format(k=k, m=MONTHS[m]), out, out


def time_math(r: Rand) -> Result:
    start, k = randint(r, 0, 24 * 60 - 1), 5 * randint(r, 1, 48)
    end = (start + k) % (24 * 60)
    clock, out = f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}"
    return f"What time is it {k} minutes after {clock} (24-hour clock)?", out, out


def weekday_of_date(r: Rand) -> Result:
    d = _date(r)
    out = WEEKDAYS[d.weekday()]
    return pick(r, ("What day of the week is {d}?", "On which weekday does {d} fall?")).format(d=d.isoformat()), out, out


def reformat_date(r: Rand) -> Result:
    d = _date(r)
    if r() < 0.5:
        out = f"{d.day:02d}/{d.month:02d}/{d.year}"
        return f"Write the date {d.isoformat()} as day/month/year.", out, out
    out = f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    return f'Write the date {d.isoformat()} in words, like "January 5, 2020".', out, out


def days_between(r: Rand) -> Result:
    a = _date(r)
    b = a + dt.timedelta(days=randint(r, 2, 90))
    out = str((b - a).days)
    return f"How many days are there from {a.isoformat()} to {b.isoformat()}?", f"There are {out} days.", out


def to_words(r: Rand) -> Result:
    n = randint(r, 0, 999)
    out = number_words(n)
    return pick(r, ("Write the number {n} in words.", "Spell out {n} in English words.")).format(n=n), out, out


def to_roman(r: Rand) -> Result:
    n = randint(r, 1, 3999)
    out = roman(n)
    return pick(r, ("Write {n} in Roman numerals.", "What is {n} as a Roman numeral?")).format(n=n), out, out


def extract_numbers(r: Rand) -> Result:
    a, b, c = randint(r, 2, 99), randint(r, 2, 99), randint(r, 100, 999)
    name, x, y = pick(r, NAMES), pick(r, ITEMS), pick(r, ITEMS)
    text = pick(r, ("{n} bought {a} {x} and {b} {y} for {c} cents.", "On day {a}, {n} packed {b} {x} into {c} bags."))
    out = f"{a}, {b}, {c}"
    q = pick(r, ('List all the numbers in this text: "{t}"', 'Which numbers appear in "{t}"?'))
    return q.format(t=text.format(n=name, a=a, b=b, c=c, x=x, y=y)), out, out


def extract_email(r: Rand) -> Result:
    name = pick(r, NAMES)
    email = f"{name.lower()}{pick(r, ('.', '_', ''))}{pick(r, WORDS)}@{pick(r, EMAIL_DOMAINS)}"
    text = pick(r, ("Please send the report to {e} by {d}.", "You can reach {n} at {e} or by phone.", "Questions? Write to {e}, {n} will answer."))
    q = pick(r, ('Find the email address in: "{t}"', 'Extract the email address from this text: "{t}"'))
    return q.format(t=text.format(e=email, n=name, d=pick(r, WEEKDAYS))), email, email


def extract_date(r: Rand) -> Result:
    d = _date(r).isoformat()
    text = pick(r, ("The {e} is planned for {d}.", "We moved the {e} to {d} because of the weather.", "Since {d} the {e} has been on hold."))
    q = pick(r, ('Which date appears in: "{t}"', 'Extract the date (YYYY-MM-DD) from "{t}"'))
    return q.format(t=text.format(e=pick(r, EVENTS), d=d)), d, d


# (family name, generator, weight); weights as in texttasks_language.
REASONING_FAMILIES = [
    ("unit_conversion", unit_conversion, 4), ("add_problem", add_problem, 4),
    ("subtract_problem", subtract_problem, 4), ("multiply_problem", multiply_problem, 4),
    ("divide_problem", divide_problem, 4), ("age_problem", age_problem, 3), ("percent", percent, 2),
    ("arithmetic", arithmetic, 4), ("compare_numbers", compare_numbers, 3), ("odd_even", odd_even, 2),
    ("sum_list", sum_list, 4), ("max_min", max_min, 3), ("sort_numbers", sort_numbers, 4),
    ("average", average, 3), ("day_math", day_math, 3), ("month_math", month_math, 1),
    ("time_math", time_math, 4), ("weekday_of_date", weekday_of_date, 3), ("reformat_date", reformat_date, 3),
    ("days_between", days_between, 3), ("number_to_words", to_words, 2), ("roman_numeral", to_roman, 3),
    ("extract_numbers", extract_numbers, 4), ("extract_email", extract_email, 4), ("extract_date", extract_date, 4),
]
