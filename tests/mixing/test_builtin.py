"""Tests of the built-in offline sources (mixing/builtin): determinism and stream semantics,
family coverage, executable pyfuncs solutions, the train/held-out split, texttasks answers
checked by independent code, and the error contract."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from codemix.core.errors import CodemixError
from codemix.mixing.builtin import BUILTIN_SOURCES, generate_builtin, pyfuncs_heldout_tasks
from codemix.mixing.builtin.pyfuncs import FAMILIES, HELDOUT_FAMILIES, TRAIN_FAMILIES, is_heldout
from codemix.mixing.builtin.pyfuncs_family import code
from codemix.mixing.builtin.texttasks import FAMILY_NAMES as TEXT_FAMILY_NAMES
from codemix.mixing.builtin.words import ANTONYMS

ROW_KEYS = {"id", "instruction", "response", "task", "meta"}


def run_tests(solution: str, tests: list[str]) -> None:
    """Execute our own (trusted) reference solution, then each assert; raises on failure."""
    namespace: dict = {}
    exec(solution, namespace)
    for test in tests:
        exec(test, namespace)


def rejects(solution: str, tests: list[str]) -> bool:
    """Whether the tests fail `solution` (a failed assert or an exception, as in pass@k)."""
    try:
        run_tests(solution, tests)
    except Exception:
        return True
    return False


def params_key(family: str, params: dict) -> tuple:
    return (family, tuple(params[name] for name in FAMILIES[family].param_names))


@pytest.fixture(scope="module")
def train_rows() -> list[dict]:
    return generate_builtin("pyfuncs", 20000, seed=0)


# ---------------------------------------------------------------- API, determinism, streams

def test_sources_and_row_shape():
    assert BUILTIN_SOURCES == {"pyfuncs": "code", "texttasks": "general", "markov": "general"}
    for name, split in [("pyfuncs", "train"), ("pyfuncs", "heldout"), ("texttasks", "train")]:
        rows = generate_builtin(name, 300, seed=5, split=split)
        assert len(rows) == 300
        assert [r["id"] for r in rows] == [f"{name}-{split}-{i}" for i in range(300)]
        for r in rows:
            assert set(r) == ROW_KEYS
            assert isinstance(r["meta"], dict) and r["instruction"] and r["response"] and r["task"]
    assert generate_builtin("texttasks", 0, seed=1) == []


@pytest.mark.parametrize("name,split", [("pyfuncs", "train"), ("pyfuncs", "heldout"), ("texttasks", "train")])
def test_deterministic_and_stream_prefix(name, split):
    # 700 rows cross two block boundaries (blocks of 256): growing n only appends rows.
    long = generate_builtin(name, 700, seed=3, split=split)
    assert generate_builtin(name, 700, seed=3, split=split) == long
    for k in (1, 255, 256, 257, 300):
        assert generate_builtin(name, k, seed=3, split=split) == long[:k]


@pytest.mark.parametrize("name", ["pyfuncs", "texttasks"])
def test_different_seed_gives_different_rows(name):
    a = [r["instruction"] for r in generate_builtin(name, 500, seed=1)]
    b = [r["instruction"] for r in generate_builtin(name, 500, seed=2)]
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 450


def test_rows_share_no_mutable_state():
    first = generate_builtin("pyfuncs", 50, seed=9)
    first[0]["meta"]["tests"].append("assert False")
    first[0]["meta"]["params"]["junk"] = 1
    again = generate_builtin("pyfuncs", 50, seed=9)
    assert "assert False" not in again[0]["meta"]["tests"] and "junk" not in again[0]["meta"]["params"]


@pytest.mark.parametrize("name", ["pyfuncs", "texttasks"])
def test_instructions_nearly_all_distinct(name):
    rows = generate_builtin(name, 10000, seed=4)
    duplicate_rate = 1 - len({r["instruction"] for r in rows}) / len(rows)
    print(f"\n{name}: duplicate instruction rate in 10,000 rows = {duplicate_rate:.2%}")
    assert duplicate_rate < 0.03  # measured 2.2% (pyfuncs) and 1.0% (texttasks) at seed 4


# ---------------------------------------------------------------- coverage

def test_family_coverage():
    text_tasks = {r["task"] for r in generate_builtin("texttasks", 5000, seed=0)}
    assert len(text_tasks) >= 30 and text_tasks <= set(TEXT_FAMILY_NAMES)
    code_tasks = {r["task"] for r in generate_builtin("pyfuncs", 5000, seed=0)}
    assert len(code_tasks) >= 25
    assert code_tasks == {f.name for f in TRAIN_FAMILIES}  # every training family, no held-out one


# ---------------------------------------------------------------- pyfuncs: code and tests

def test_every_family_solution_passes_and_tests_discriminate():
    r = random.Random(0).random
    mutants = rejected = 0
    for fam in TRAIN_FAMILIES + HELDOUT_FAMILIES:
        for _ in range(10):
            p, q = fam.sample(r), fam.sample(r)
            c = code(fam, p)
            assert 3 <= len(c.tests) <= 5, fam.name
            run_tests(c.solution, list(c.tests))
            assert rejects(f"def {c.entry_point}(*args):\n    return None\n", list(c.tests)), fam.name
            if q != p:  # the solution for other parameters, under this name, must fail too
                other = code(fam, q)
                mutants += 1
                rejected += rejects(other.solution.replace(other.entry_point, c.entry_point, 1), list(c.tests))
    assert rejected / mutants > 0.95, (rejected, mutants)


def test_train_rows_execute(train_rows):
    for row in random.Random(1).sample(train_rows, 500):
        meta = row["meta"]
        assert set(meta) == {"entry_point", "solution", "tests", "family", "params"}
        assert row["response"] == f"```python\n{meta['solution']}```"
        assert meta["solution"].startswith(f"def {meta['entry_point']}(")
        assert row["task"] == meta["family"] and meta["entry_point"] in row["instruction"]
        run_tests(meta["solution"], meta["tests"])
        assert rejects(f"def {meta['entry_point']}(*args):\n    return None\n", meta["tests"])


def test_short_regular_text(train_rows):
    for row in train_rows:
        assert row["instruction"].startswith("Write a Python function ")
        assert len(row["instruction"]) <= 160, row["instruction"]
        assert len(row["meta"]["solution"]) <= 130, row["meta"]["solution"]


# ---------------------------------------------------------------- pyfuncs: the split

def test_heldout_combinations_never_in_train(train_rows):
    train_keys = {params_key(r["meta"]["family"], r["meta"]["params"]) for r in train_rows}
    assert not any(is_heldout(*key) for key in train_keys)
    heldout_rows = generate_builtin("pyfuncs", 2000, seed=0, split="heldout")
    heldout_keys = {params_key(r["meta"]["family"], r["meta"]["params"]) for r in heldout_rows}
    bench_keys = {params_key(t["family"], t["params"]) for t in pyfuncs_heldout_tasks()}
    assert not train_keys & heldout_keys and not train_keys & bench_keys
    assert all(is_heldout(*key) for key in heldout_keys | bench_keys)
    train_instructions = {r["instruction"] for r in train_rows}
    assert not any(r["instruction"] in train_instructions for r in heldout_rows)
    kinds = [r["meta"]["heldout_kind"] for r in heldout_rows]
    assert 0.7 < kinds.count("params") / len(kinds) < 0.9
    heldout_family_names = {f.name for f in HELDOUT_FAMILIES}
    for row in heldout_rows:
        assert (row["task"] in heldout_family_names) == (row["meta"]["heldout_kind"] == "family")


def test_every_training_family_keeps_most_values():
    # ~10% of each family's values are held out: enough to learn from, enough to test on.
    r = random.Random(2).random
    for fam in TRAIN_FAMILIES:
        draws = [fam.sample(r) for _ in range(2000)]
        share = sum(is_heldout(fam.name, p) for p in draws) / len(draws)
        assert 0.03 < share < 0.2, (fam.name, share)


def test_heldout_benchmark():
    tasks = pyfuncs_heldout_tasks()
    assert tasks == pyfuncs_heldout_tasks(seed=0)
    assert 100 <= len(tasks) <= 160
    assert [t["task_id"] for t in tasks] == [f"pyfuncs/{i}" for i in range(len(tasks))]
    kinds = [t["heldout_kind"] for t in tasks]
    assert 0.7 <= kinds.count("params") / len(tasks) <= 0.9
    assert {t["family"] for t in tasks if t["heldout_kind"] == "family"} == {f.name for f in HELDOUT_FAMILIES}
    assert len({t["instruction"] for t in tasks}) == len(tasks)
    for t in tasks:
        assert t["instruction"].startswith("Write a Python function ") and len(t["instruction"]) <= 160
        assert t["prompt"].endswith('"""\n')
        # Completion-style: the prompt plus the canonical body is the canonical solution.
        def_line, body = t["canonical_solution"].split("\n", 1)
        assert t["prompt"].split("\n", 1)[0] == def_line
        run_tests(t["prompt"] + body, t["tests"])
        run_tests(t["canonical_solution"], t["tests"])
        assert rejects(f"def {t['entry_point']}(*args):\n    return None\n", t["tests"])
        assert all(test.startswith(f"assert {t['entry_point']}(") for test in t["tests"])
    other_seed = pyfuncs_heldout_tasks(seed=1)
    assert [t["instruction"] for t in other_seed] != [t["instruction"] for t in tasks]
    small = pyfuncs_heldout_tasks(per_family=1)
    assert len(small) == len(TRAIN_FAMILIES) + len(HELDOUT_FAMILIES)


# ---------------------------------------------------------------- texttasks: answers

DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
UNIT_FACTORS = {("kilometers", "meters"): 1000, ("meters", "centimeters"): 100, ("hours", "minutes"): 60,
                ("weeks", "days"): 7, ("feet", "inches"): 12, ("kilograms", "grams"): 1000}


def from_roman(s: str) -> int:
    values = [ROMAN_VALUES[c] for c in s]
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def from_words(s: str) -> int:
    small = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
    tens = {w: 10 * i for i, w in enumerate("- - twenty thirty forty fifty sixty seventy eighty ninety".split()) if i >= 2}
    total = 0
    for word in s.replace("-", " ").split():
        if word == "hundred":
            total *= 100
        else:
            total += small.index(word) if word in small else tens[word]
    return total


def quoted(text: str) -> str:
    return re.search(r'"([^"]*)"', text).group(1)


def test_texttasks_answers_independently():
    checked: dict[str, int] = {}
    monday = dt.date(2024, 1, 1)  # a Monday
    for row in generate_builtin("texttasks", 6000, seed=11):
        q, a, task = row["instruction"], row["meta"]["answer"], row["task"]
        assert a in row["response"]
        nums = [int(x) for x in re.findall(r"\d+", q)]
        if task == "add_problem":
            assert int(a) == nums[0] + nums[1]
        elif task == "subtract_problem":
            assert int(a) == nums[0] - nums[1]
        elif task == "multiply_problem":
            assert int(a) == nums[0] * nums[1]
        elif task == "reverse_text":
            assert a[::-1] == quoted(q)
        elif task == "count_words":
            assert int(a) == len(quoted(q).split())
        elif task == "roman_numeral":
            assert from_roman(a) == nums[0]
        elif task == "number_to_words":
            assert from_words(a) == nums[0]
        elif task == "day_math":
            today = monday + dt.timedelta(days=DAY_NAMES.index(q.split()[3].rstrip(",")))
            sign = -1 if "ago" in q else 1
            assert (today + dt.timedelta(days=sign * nums[0])).strftime("%A") == a
        elif task == "weekday_of_date":
            assert dt.date.fromisoformat(re.search(r"\d{4}-\d\d-\d\d", q).group()).strftime("%A") == a
        elif task == "time_math":
            h, m = map(int, re.search(r"(\d\d):(\d\d)", q).groups())
            end = dt.datetime(2000, 1, 1, h, m) + dt.timedelta(minutes=nums[0])
            assert end.strftime("%H:%M") == a
        elif task == "unit_conversion":
            m = re.search(r"(?:Convert (\d+) (\w+) to (\w+)|How many (\w+) are in (\d+) (\w+))", q)
            v, src, dst = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(6), m.group(4))
            if (src, dst) in UNIT_FACTORS:
                assert int(a) == int(v) * UNIT_FACTORS[src, dst]
            elif (dst, src) in UNIT_FACTORS:
                assert int(a) * UNIT_FACTORS[dst, src] == int(v)
            else:
                continue
        elif task == "sentiment":
            review = quoted(q).lower()
            assert a == ("negative" if re.search(r"terrible|awful|horrible|boring|rude|ugly|dirty|noisy|useless|poor|dreadful|disappointing|broken|unpleasant|annoying", review) else "positive")
        else:
            continue
        checked[task] = checked.get(task, 0) + 1
    assert len(checked) == 12 and min(checked.values()) >= 20, checked


def test_word_lists_give_unique_answers():
    known = {"box": "boxes", "city": "cities", "child": "children", "day": "days", "leaf": "leaves", "church": "churches"}
    rows = generate_builtin("texttasks", 20000, seed=3)
    for row in rows:
        if row["task"] == "plural" and quoted(row["instruction"]) in known:
            assert row["meta"]["answer"] == known[quoted(row["instruction"])]
        if row["task"] == "antonym":
            word = quoted(row["instruction"])
            assert ANTONYMS.get(word) == row["meta"]["answer"] or ANTONYMS.get(row["meta"]["answer"]) == word
    # "What is the opposite of X?" must have one answer: every word appears in one pair only.
    words = list(ANTONYMS) + list(ANTONYMS.values())
    assert len(words) == len(set(words))


# ---------------------------------------------------------------- errors

def test_errors():
    with pytest.raises(CodemixError, match="pyfuncs.*texttasks"):
        generate_builtin("nosuch", 10, seed=0)
    with pytest.raises(CodemixError, match="texttasks.*'heldout'.*train"):
        generate_builtin("texttasks", 10, seed=0, split="heldout")
    with pytest.raises(CodemixError, match="'test'.*train, heldout"):
        generate_builtin("pyfuncs", 10, seed=0, split="test")
    with pytest.raises(CodemixError, match="n must be"):
        generate_builtin("pyfuncs", -1, seed=0)
    with pytest.raises(CodemixError, match="n must be"):
        generate_builtin("pyfuncs", 2.5, seed=0)
    with pytest.raises(CodemixError, match="seed must be"):
        generate_builtin("pyfuncs", 3, seed="x")
    with pytest.raises(CodemixError, match="per_family"):
        pyfuncs_heldout_tasks(per_family=0)
    with pytest.raises(CodemixError, match="fewer than per_family=500"):
        pyfuncs_heldout_tasks(per_family=500)
