"""texttasks families about words and sentences: rewriting, counting, grammar, word meaning.

Each family is `(r) -> (instruction, response, answer)`; `answer` is the bare answer (what an
exact-match check compares), `response` is what the assistant says (the answer, or the answer in
one short sentence). Answers are computed from the generated input by code.
"""

from __future__ import annotations

from codemix.mixing.builtin.draw import Rand, pick, pick_distinct, randint
from codemix.mixing.builtin.words import (
    ADJECTIVES,
    ANTONYMS,
    CATEGORIES,
    COMPARATIVES,
    IRREGULAR_PLURALS,
    NAMES,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    REGULAR_NOUNS,
    REVIEW_THINGS,
    VERBS,
    WORDS,
)

Result = tuple[str, str, str]
TIMES = ("yesterday", "on Monday", "after school", "last week", "in the evening", "early today")
HABITS = ("every day", "on weekends", "in the morning", "after work", "with friends", "sometimes")
RELATIVES = ("brother", "sister", "teacher", "neighbor", "friend", "cousin", "aunt", "uncle")
PLACES = ("park", "market", "zoo", "farm", "school", "station", "beach", "library")
SUBJECTS = ("I", "We", "You", "They")
VERB_LIST = tuple(VERBS)
ANTONYM_PAIRS = tuple(ANTONYMS.items()) + tuple((b, a) for a, b in ANTONYMS.items())
CATEGORY_ITEMS = tuple((w, c) for c, ws in CATEGORIES.items() for w in ws)
NOT_IN_CATEGORY = {c: tuple(w for w, wc in CATEGORY_ITEMS if wc != c) for c in CATEGORIES}
CATEGORY_NAMES = ", ".join(list(CATEGORIES)[:-1]) + " or " + list(CATEGORIES)[-1]
COMPARATIVE_WORDS = tuple(COMPARATIVES)
ALL_NOUNS = REGULAR_NOUNS + tuple(IRREGULAR_PLURALS)
LETTER_WORDS = tuple(sorted(set(WORDS + REGULAR_NOUNS + ADJECTIVES)))  # ~200 words to count in
VOWELS = "aeiou"


def plural(noun: str) -> str:
    if noun in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


PLURAL_PAIRS = tuple((n, plural(n)) for n in ALL_NOUNS)


def sentence(r: Rand) -> str:
    """A short past-tense sentence without the final period, e.g. 'Omar painted the fence last week'."""
    verb = pick(r, VERB_LIST)
    past, complements = VERBS[verb]
    return f"{pick(r, NAMES)} {past} {pick(r, complements)} {pick(r, TIMES)}"


def _word(r: Rand) -> str:
    return pick(r, LETTER_WORDS)


def _phrase(r: Rand, single: float) -> str:
    """One word with probability `single`, else two: the 40,000 two-word phrases keep the
    questions of 10,000 rows distinct, which ~200 single words alone would not."""
    return pick(r, LETTER_WORDS) if r() < single else f"{pick(r, LETTER_WORDS)} {pick(r, LETTER_WORDS)}"


def reverse_text(r: Rand) -> Result:
    w = _phrase(r, 0.25)
    t = pick(r, ('Reverse the letters of "{w}".', 'Spell "{w}" backwards.', 'Write "{w}" with its letters in reverse order.'))
    return t.format(w=w), w[::-1], w[::-1]


def reverse_word_order(r: Rand) -> Result:
    s = sentence(r)
    out = " ".join(reversed(s.split()))
    t = pick(r, ('Reverse the order of the words in "{s}".', 'Write the words of "{s}" from last to first.'))
    return t.format(s=s), out, out


def uppercase(r: Rand) -> Result:
    s = sentence(r) + "."
    t = pick(r, ('Rewrite in capital letters: "{s}"', 'Convert this sentence to upper case: "{s}"'))
    return t.format(s=s), s.upper(), s.upper()


def title_case(r: Rand) -> Result:
    s = sentence(r).lower()
    out = " ".join(w[0].upper() + w[1:] for w in s.split())
    t = pick(r, ('Capitalize the first letter of every word: "{s}"', 'Write "{s}" in title case.'))
    return t.format(s=s), out, out


def acronym(r: Rand) -> Result:
    ws = pick_distinct(r, WORDS, randint(r, 3, 5))
    out = "".join(w[0] for w in ws).upper()
    t = pick(r, ("Make an acronym from the first letters of: {ws}.", "What acronym do the initials of {ws} form?"))
    return t.format(ws=" ".join(ws)), out, out


def sort_words(r: Rand) -> Result:
    ws = pick_distinct(r, WORDS, randint(r, 3, 6))
    out = ", ".join(sorted(ws))
    t = pick(r, ("Sort these words alphabetically: {ws}.", "Put these words in alphabetical order: {ws}."))
    return t.format(ws=", ".join(ws)), out, out


def remove_word(r: Rand) -> Result:
    words = sentence(r).split()
    w = words[randint(r, 1, len(words) - 1)]
    out = " ".join(x for x in words if x != w)
    t = pick(r, ('Remove the word "{w}" from "{s}".', 'Delete every "{w}" in "{s}".'))
    return t.format(w=w, s=" ".join(words)), out, out


def replace_word(r: Rand) -> Result:
    words = sentence(r).split()
    old, new = words[0], pick(r, [n for n in ("Alex", "Kim", "Pat", "Robin") if n != words[0]])
    out = " ".join(new if x == old else x for x in words)
    t = pick(r, ('Replace "{old}" with "{new}" in "{s}".', 'In "{s}", change "{old}" to "{new}".'))
    return t.format(old=old, new=new, s=" ".join(words)), out, out


def longest_word(r: Rand) -> Result:
    while True:  # redraw ties, so the answer is unique
        ws = pick_distinct(r, WORDS, randint(r, 3, 5))
        lengths = sorted((len(w) for w in ws), reverse=True)
        if lengths[0] != lengths[1]:
            break
    out = max(ws, key=len)
    t = pick(r, ("Which word is the longest: {ws}?", "Find the longest word among {ws}."))
    return t.format(ws=", ".join(ws)), out, out


def count_words(r: Rand) -> Result:
    s = sentence(r) + "."
    n = len(s.split())
    t = pick(r, ('How many words are in this sentence: "{s}"', 'Count the words in "{s}"'))
    return t.format(s=s), f"There are {n} words.", str(n)


def count_letter(r: Rand) -> Result:
    w = _phrase(r, 0.25)
    c = pick(r, w.replace(" ", "")) if r() < 0.8 else pick(r, "bdfgjkpqvxz")
    n = w.count(c)
    t = pick(r, ('How many times does the letter "{c}" appear in "{w}"?', 'Count the letter "{c}" in "{w}".'))
    return t.format(c=c, w=w), str(n), str(n)


def count_vowels(r: Rand) -> Result:
    w = _phrase(r, 0.1)
    n = sum(1 for c in w if c in VOWELS)
    t = pick(r, ('How many vowels (a, e, i, o, u) are in "{w}"?', 'Count the vowels in "{w}".'))
    return t.format(w=w), str(n), str(n)


def word_length(r: Rand) -> Result:
    w = _word(r)
    t = pick(r, ('How many letters does the word "{w}" have?', 'What is the length of the word "{w}"?'))
    return t.format(w=w), f'"{w}" has {len(w)} letters.', str(len(w))


def letter_shift(r: Rand) -> Result:
    i = randint(r, 0, 24)
    k = randint(r, 1, 25 - i)
    c, out = chr(97 + i), chr(97 + i + k)
    t = pick(r, ('Which letter comes {k} {p} after "{c}" in the alphabet?', 'What letter is {k} {p} after "{c}" in the alphabet?'))
    return t.format(k=k, c=c, p="place" if k == 1 else "places"), out, out


def plural_form(r: Rand) -> Result:
    w, p = pick(r, PLURAL_PAIRS)
    if r() < 0.1:
        return f'What is the plural of "{w}"?', p, p
    blank = f'"{pick(r, NAMES)} saw {randint(r, 2, 20)} ____ at the {pick(r, PLACES)}."'
    return f'Fill in the blank with the plural of "{w}": {blank}', p, p


def singular_form(r: Rand) -> Result:
    w, p = pick(r, PLURAL_PAIRS)
    if r() < 0.1:
        return f'What is the singular of "{p}"?', w, w
    blank = f'"{pick(r, NAMES)} saw one ____ at the {pick(r, PLACES)}."'
    return f'Fill in the blank with the singular of "{p}": {blank}', w, w


def past_tense(r: Rand) -> Result:
    verb = pick(r, VERB_LIST)
    past, complements = VERBS[verb]
    subject, comp = pick(r, SUBJECTS), f"{pick(r, complements)} {pick(r, HABITS)}"
    t = pick(r, ('Rewrite in the past tense: "{s} {v} {c}."', 'Change "{s} {v} {c}." to the past tense.'))
    out = f"{subject} {past} {comp}."
    return t.format(s=subject, v=verb, c=comp), out, out


def negation(r: Rand) -> Result:
    subject = pick(r, NAMES) if r() < 0.6 else f"My {pick(r, RELATIVES)}"
    adj = pick(r, ADJECTIVES) if r() < 0.5 else f"very {pick(r, ADJECTIVES)}"
    verb = "is" if r() < 0.5 else "was"
    t = pick(r, ('Make this sentence negative: "{n} {v} {a}."', 'Rewrite "{n} {v} {a}." using "not".'))
    out = f"{subject} {verb} not {adj}."
    return t.format(n=subject, v=verb, a=adj), out, out


def antonym(r: Rand) -> Result:
    w, a = pick(r, ANTONYM_PAIRS)
    t = pick(r, ('What is the opposite of "{w}"?', 'Give an antonym of "{w}".', 'Name the word that means the opposite of "{w}".'))
    return t.format(w=w), a, a


def comparative(r: Rand) -> Result:
    adj = pick(r, COMPARATIVE_WORDS)
    out = COMPARATIVES[adj]
    if r() < 0.9:
        a, b = pick_distinct(r, NAMES, 2)
        return f'Fill in the blank with the comparative of "{adj}": "{a} is ____ than {b}."', out, out
    t = pick(r, ('What is the comparative form of "{a}"?', 'Give the comparative of the adjective "{a}".'))
    return t.format(a=adj), out, out


def category(r: Rand) -> Result:
    w, c = pick(r, CATEGORY_ITEMS)
    if r() < 0.8:  # pick the one member of category c out of a list
        others = pick_distinct(r, NOT_IN_CATEGORY[c], 3)
        others.insert(randint(r, 0, 3), w)
        article = "an" if c[0] in VOWELS else "a"
        return f"Which of these is {article} {c}: {', '.join(others)}?", w, w
    t = pick(r, ('Is "{w}" a {cats}?', 'Which category does "{w}" belong to: {cats}?'))
    return t.format(w=w, cats=CATEGORY_NAMES), c, c


def sentiment(r: Rand) -> Result:
    positive = r() < 0.5
    pool = POSITIVE_WORDS if positive else NEGATIVE_WORDS
    a, b = pick_distinct(r, pool, 2)
    thing = pick(r, REVIEW_THINGS)
    review = pick(r, ("The {t} was {a}, and honestly {b}.", "What a {a} {t}! Truly {b}.", "Our {t} felt {a} and {b} from start to finish."))
    t = pick(r, ('Is the sentiment of this review positive or negative? "{s}"', 'Classify as positive or negative: "{s}"'))
    out = "positive" if positive else "negative"
    return t.format(s=review.format(t=thing, a=a, b=b)), out, out


# (family name, generator, weight). Weights: 4 by default, 2 or 1 for families with only
# hundreds or tens of distinct questions, which would otherwise fill a sample with repeats.
LANGUAGE_FAMILIES = [
    ("reverse_text", reverse_text, 4), ("reverse_word_order", reverse_word_order, 4),
    ("uppercase", uppercase, 4), ("title_case", title_case, 4), ("acronym", acronym, 4),
    ("sort_words", sort_words, 4), ("remove_word", remove_word, 4), ("replace_word", replace_word, 4),
    ("longest_word", longest_word, 4), ("count_words", count_words, 4), ("count_letter", count_letter, 4),
    ("count_vowels", count_vowels, 4), ("word_length", word_length, 1), ("letter_shift", letter_shift, 1),
    ("plural", plural_form, 3), ("singular", singular_form, 2), ("past_tense", past_tense, 4),
    ("negation", negation, 4), ("antonym", antonym, 1), ("comparative", comparative, 3),
    ("category", category, 4), ("sentiment", sentiment, 4),
]
