"""pyfuncs families over strings, dicts and simple line formats (parsing)."""

from __future__ import annotations

from codemix.mixing.builtin.draw import Rand, pick, pick_distinct, randint
from codemix.mixing.builtin.pyfuncs_family import Family
from codemix.mixing.builtin.words import WORDS

S = ("s", "a string s")
D = ("d", "a dict d")
LINE = ("line", "a string line")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
FILLS = ("0", "*", "-", ".", "#", "_", "=", "~")
JOINERS = (" ", "-", ",", "|", ":", "+", "/", ";")
PREFIX_SEPS = ("_", "-", ":", ".", "/", "+")
FIELD_SEPS = (",", ";", "|", ":", "/", " ", "-", "_")


def _letters(k: int, ordered: bool):
    def sample(r: Rand) -> tuple[str]:
        chars = pick_distinct(r, LETTERS, k) if not ordered else [pick(r, LETTERS) for _ in range(k)]
        return ("".join(chars if ordered else sorted(chars)),)

    return sample


def _word_pair(r: Rand) -> tuple[str, str]:
    a, b = pick_distinct(r, WORDS, 2)
    return (a, b)


def _key_value(p: tuple, line: str) -> int:
    pairs = dict(item.split(p[1]) for item in line.split(p[2]))
    return int(pairs[p[0]])


def _kv_cases(p: tuple) -> list[str]:
    w, kv, it = p
    return [f"{w}{kv}3{it}q{kv}4", f"z{kv}1{it}{w}{kv}-20", f"{w}{kv}0"]


def _field_cases(p: tuple) -> list[str]:
    i, sep = p
    return [sep.join(str(7 * j) for j in range(i + 3)), sep.join(WORDS[: i + 1]), sep.join(["x"] * i + ["end"])]


STRING_FAMILIES = [
    Family("count_substring", *S, "count_{0}", ("returns how many times '{0}' occurs in s", "counts the non-overlapping occurrences of '{0}' in s"),
           "return s.count({0!r})", ("sub",), _letters(2, ordered=True), lambda p, s: s.count(p[0]),
           lambda p: [f"{p[0]}x{p[0]}", "", p[0] * 3, "hello world"]),
    Family("replace_word", *S, "replace_{0}_with_{1}", ("returns s with every '{0}' replaced by '{1}'", "replaces each '{0}' in s with '{1}' and returns the result"),
           "return s.replace({0!r}, {1!r})", ("old", "new"), _word_pair, lambda p, s: s.replace(p[0], p[1]),
           lambda p: [f"the {p[0]} and the {p[0]}", "", f"{p[1]} {p[0]}!"]),
    Family("remove_chars", *S, "remove_{0}", ("returns s without any of the characters in '{0}'", "removes every '{0[0]}', '{0[1]}' and '{0[2]}' from s and returns the rest"),
           "return ''.join(c for c in s if c not in {0!r})", ("chars",), _letters(3, ordered=False),
           lambda p, s: "".join(c for c in s if c not in p[0]),
           lambda p: [f"{p[0][0]}x{p[0][1]}y{p[0][2]}", "", "banana split"]),
    Family("pad_left", *S, "pad_to_{0}", ("returns s padded on the left with '{1}' to length {0}", "left-pads s with '{1}' until it is at least {0} characters long"),
           "return s.rjust({0}, {1!r})", ("width", "fill"), lambda r: (randint(r, 2, 99), pick(r, FILLS)),
           lambda p, s: s.rjust(p[0], p[1]), lambda p: ["ab", "", "x" * (p[0] + 2)]),
    Family("starts_ends_with", *S, "{0}s_with_{1}", ("returns True if s {0}s with '{1}', else False", "returns whether s {0}s with '{1}'"),
           "return s.{0}swith({1!r})", ("side", "word"), lambda r: (pick(r, ("start", "end")), pick(r, WORDS)),
           lambda p, s: s.startswith(p[1]) if p[0] == "start" else s.endswith(p[1]),
           lambda p: [f"{p[1]} and more", f"more and {p[1]}", p[1], ""], weight=1),
    Family("count_in_set", *S, "count_chars_in_{0}", ("returns how many characters of s are in '{0}'", "counts the characters of s that are one of '{0[0]}', '{0[1]}' or '{0[2]}'"),
           "return sum(1 for c in s if c in {0!r})", ("chars",), _letters(3, ordered=False),
           lambda p, s: sum(1 for c in s if c in p[0]), lambda p: [p[0] + p[0][0] + "-", "", "hello world"]),
    Family("repeat_join", *S, "repeat_{0}_times", ("returns s repeated {0} times, separated by '{1}'", "joins {0} copies of s with '{1}' between them and returns the result"),
           "return {1!r}.join([s] * {0})", ("times", "sep"), lambda r: (randint(r, 2, 99), pick(r, JOINERS)),
           lambda p, s: p[1].join([s] * p[0]), lambda p: ["ab", "x", ""]),
    Family("add_prefix", *S, "prefix_{0}", ("returns s with the prefix '{0}{1}' added at the start", "puts '{0}{1}' in front of s and returns the result"),
           "return '{0}{1}' + s", ("word", "sep"), lambda r: (pick(r, WORDS), pick(r, PREFIX_SEPS)),
           lambda p, s: p[0] + p[1] + s, lambda p: ["abc", "", "x y"]),
]

DICT_FAMILIES = [
    Family("dict_get", *D, "get_{0}_or_{1}", ("returns d['{0}'] if that key exists, otherwise {1}", "looks up '{0}' in d and returns {1} when the key is missing"),
           "return d.get({0!r}, {1})", ("key", "default"), lambda r: (pick(r, WORDS), randint(r, 0, 20)),
           lambda p, d: d.get(p[0], p[1]), lambda p: [{p[0]: 500, "zz": 1}, {}, {p[0] + "s": 3}, {p[0]: -1}]),
    Family("dict_add_values", *D, "add_{0}_to_values", ("returns a new dict with {0} added to every value of d", "adds {0} to each value in d and returns the new dict"),
           "return {{k: v + {0} for k, v in d.items()}}", ("k",), lambda r: (randint(r, 1, 999),),
           lambda p, d: {k: v + p[0] for k, v in d.items()}, lambda p: [{"a": 1, "b": -2}, {}, {"x": 0}]),
    Family("keep_values_above", *D, "keep_values_above_{0}", ("returns a dict of the items of d whose value is greater than {0}", "keeps only the keys of d whose values exceed {0} and returns the new dict"),
           "return {{k: v for k, v in d.items() if v > {0}}}", ("k",), lambda r: (randint(r, 0, 999),),
           lambda p, d: {k: v for k, v in d.items() if v > p[0]},
           lambda p: [{"a": p[0], "b": p[0] + 1}, {}, {"c": p[0] + 50, "d": 0}]),
    Family("keys_with_value", *D, "keys_with_value_{0}", ("returns a sorted list of the keys of d whose value is {0}", "returns the keys of d that map to {0}, in sorted order"),
           "return sorted(k for k, v in d.items() if v == {0})", ("k",), lambda r: (randint(r, 0, 999),),
           lambda p, d: sorted(k for k, v in d.items() if v == p[0]),
           lambda p: [{"b": p[0], "a": p[0], "c": p[0] + 1}, {}, {"x": p[0]}]),
]

PARSE_FAMILIES = [
    Family("key_value_field", *LINE, "get_{0}_value", ("returns the integer value of '{0}' in line, a string like 'a{1}1{2}b{1}2'", "parses line such as 'a{1}1{2}b{1}2' and returns the value of key '{0}' as an int"),
           "pairs = dict(item.split({1!r}) for item in line.split({2!r}))\nreturn int(pairs[{0!r}])", ("key", "kv_sep", "item_sep"),
           lambda r: (pick(r, WORDS), pick(r, "=:"), pick(r, ";,&|/")), _key_value, _kv_cases),
    Family("nth_field", *LINE, "field_{0}", ("returns field number {0} (counting from 0) of line, where fields are separated by '{1}'", "splits line on '{1}' and returns the field at index {0}"),
           "return line.split({1!r})[{0}]", ("index", "sep"), lambda r: (randint(r, 0, 19), pick(r, FIELD_SEPS)),
           lambda p, line: line.split(p[1])[p[0]], _field_cases, weight=1),
]

HELDOUT_DICT_FAMILIES = [
    Family("dict_scale_values", *D, "scale_values_by_{0}", ("returns a new dict with every value of d multiplied by {0}", "multiplies each value in d by {0} and returns the new dict"),
           "return {{k: v * {0} for k, v in d.items()}}", ("k",), lambda r: (randint(r, 2, 999),),
           lambda p, d: {k: v * p[0] for k, v in d.items()}, lambda p: [{"a": 1, "b": -2}, {}, {"x": 0}]),
]
