"""The vectorised token hashing agrees with the plain-Python definition it replaces: tokens are
`text.split()` on ASCII whitespace, lowercased; equal token sequences hash equal wherever they
sit; different ones do not."""

import re

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from codemix.mixing.ngrams import tokenize

ASCII_WS = re.compile(r"[ \t\n\v\f\r]+")
pieces = st.sampled_from(list("abcAB_(): ") + ["\t", "\n", "\r", "\v", "\f", "é", "É", "\u00a0", "def", "  "])
texts = st.lists(st.lists(pieces, max_size=25).map("".join), min_size=1, max_size=30)


def python_tokens(text: str) -> list[str]:
    return [t.lower() for t in ASCII_WS.split(text) if t]


@settings(max_examples=150, deadline=None)
@given(texts)
def test_token_counts_and_row_hashes_match_python(rows):
    stream = tokenize(pa.array(rows, pa.string()))
    tokens = [python_tokens(t) for t in rows]
    assert np.diff(stream.offsets).tolist() == [len(t) for t in tokens]
    hashes = stream.row_hashes().tolist()
    for i in range(len(rows)):
        for j in range(len(rows)):
            assert (hashes[i] == hashes[j]) == (tokens[i] == tokens[j])


@settings(max_examples=100, deadline=None)
@given(texts, st.integers(1, 5))
def test_window_hashes_identify_token_sequences(rows, n):
    stream = tokenize(pa.array(rows, pa.string()))
    flat = [t for row in rows for t in python_tokens(row)]
    windows = stream.window_hashes(n).tolist()
    assert len(windows) == max(0, len(flat) - n + 1)
    seen: dict[tuple, int] = {}
    for i, h in enumerate(windows):
        key = tuple(flat[i:i + n])
        assert seen.setdefault(key, h) == h          # same tokens, same hash, any position
    assert len(set(seen.values())) == len(seen)      # different tokens, different hash
