"""Vectorised text hashing shared by decontamination and dedup: whitespace tokens, token hashes,
n-gram (window) hashes and whole-row hashes, all as numpy uint64 arrays.

Why not Python sets of token tuples: `text.lower().split()` plus hashing every 13-token tuple
measured 14.6 us per row (Code-Alpaca-like rows, ~60 tokens): 15 s per million rows, on one
core (the GIL). Here a chunk of rows is split by Arrow kernels, each *distinct* token is hashed
once (numpy, over the dictionary's bytes), and every window hash comes from one prefix sum
(~5 us of CPU per row for the same rows, and chunks run on both cores):

    C[i] = sum_{k<i} t[k] * P^k            (mod 2^64, numpy wraps)
    window(i, n) = (C[i+n] - C[i]) * P^-i  = sum_{j<n} t[i+j] * P^j

so any window length costs two array passes, and the same formula hashes benchmark n-grams, rows
(window = the whole row) and function signatures. 64-bit hashes: with ~1e8 windows against ~1e5
benchmark n-grams the chance of a single false match is ~1e-6.

Tokens: the text is split on ASCII whitespace and lowercased (Unicode) ("normalised case and
whitespace"). Arrow's `ascii_split_whitespace` is about 2x faster than the Unicode variant; the
benchmarks are ASCII, so Unicode spaces only matter inside rows, where they keep words joined.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MASK64 = (1 << 64) - 1
WINDOW_BASE = 0x9E3779B97F4A7C15          # odd, so invertible mod 2^64
BYTE_BASE = 0x100000001B3                 # FNV-64 prime, for token bytes
_U64 = np.uint64


def _inverse_mod64(a: int) -> int:
    x = a  # Newton iteration: each step doubles the number of correct low bits (odd a)
    for _ in range(6):
        x = (x * (2 - a * x)) & MASK64
    return x


class _Powers:
    """Growing tables of base^k and base^-k mod 2^64 (computed once, reused by every chunk)."""

    def __init__(self, base: int):
        self.base, self.inverse = base, _inverse_mod64(base)
        self._tables = (np.ones(1, _U64), np.ones(1, _U64))
        self._lock = threading.Lock()  # chunks are hashed on several threads

    def tables(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(base^k, base^-k) for k < at least n."""
        with self._lock:
            if len(self._tables[0]) < n:
                size = max(n, 2 * len(self._tables[0]))
                self._tables = (self._table(self.base, size), self._table(self.inverse, size))
            return self._tables

    @staticmethod
    def _table(base: int, size: int) -> np.ndarray:
        t = np.full(size, base, _U64)
        t[0] = 1
        with np.errstate(over="ignore"):
            return np.cumprod(t, dtype=_U64)


_WINDOW = _Powers(WINDOW_BASE)
_BYTES = _Powers(BYTE_BASE)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the output (table lookups use top bits)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _string_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets relative to the first value, utf-8 bytes) of a string array without nulls."""
    if pa.types.is_large_string(arr.type):
        off_type = np.int64
    else:
        arr = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
        off_type = np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], off_type, len(arr) + 1, offset=arr.offset * np.dtype(off_type).itemsize)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    start = int(offsets[0])
    return (offsets - start).astype(np.int64), data[start:int(offsets[-1])]


def hash_strings(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string (polynomial over bytes, then mixed); used for distinct tokens."""
    offsets, data = _string_parts(arr)
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    out = np.zeros(n, _U64)
    if len(data):
        pw, _ = _BYTES.tables(int(lengths.max()) + 1)
        rel = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        with np.errstate(over="ignore"):
            vals = (data.astype(_U64) + _U64(1)) * pw[rel]
        nonempty = lengths > 0
        out[nonempty] = np.add.reduceat(vals, offsets[:-1][nonempty])
    with np.errstate(over="ignore"):
        return mix64(out ^ (lengths.astype(_U64) * _U64(WINDOW_BASE)))


@dataclass
class TokenStream:
    """The tokens of a batch of texts: one hash per token, rows delimited by `offsets`."""

    hashes: np.ndarray        # uint64, one per token
    offsets: np.ndarray       # int64, len(rows) + 1
    prefix: np.ndarray        # uint64 C[i] (see module docstring), len(tokens) + 1
    dictionary: np.ndarray    # uint64 hashes of the distinct tokens
    indices: np.ndarray       # int32 index into `dictionary` for each token
    inverse_powers: np.ndarray  # P^-k, at least len(tokens) + 1 long

    def window_hashes(self, n: int) -> np.ndarray:
        """Hash of every n-token window starting at token i (i < len - n + 1); may cross rows."""
        m = len(self.hashes) - n + 1
        if m <= 0:
            return np.zeros(0, _U64)
        with np.errstate(over="ignore"):
            return (self.prefix[n:] - self.prefix[:m]) * self.inverse_powers[:m]

    def hash_at(self, starts: np.ndarray, lengths: np.ndarray | int) -> np.ndarray:
        """Hash of the windows [starts, starts + lengths) (same value as window_hashes)."""
        starts = np.asarray(starts, np.int64)
        with np.errstate(over="ignore"):
            return (self.prefix[starts + lengths] - self.prefix[starts]) * self.inverse_powers[starts]

    def row_hashes(self) -> np.ndarray:
        """One hash per row over all its tokens (the normalised-text hash dedup compares)."""
        starts, lengths = self.offsets[:-1], np.diff(self.offsets)
        with np.errstate(over="ignore"):
            return mix64(self.hash_at(starts, lengths) ^ lengths.astype(_U64))

    def row_of(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, positions, side="right") - 1


def tokenize(texts: pa.Array) -> TokenStream:
    """Split on whitespace, lowercase, hash. Texts must be non-null; blank texts give 0 tokens.

    Lowercasing is applied to the dictionary of distinct tokens, not to the text: the dictionary
    is ~100x smaller, and case never changes where ASCII whitespace is, so the result is the
    same as lowering first. Leading/trailing whitespace yields empty tokens, which are dropped
    from the index array (4 bytes per token) instead of trimming the text (a copy of it)."""
    tokens = pc.ascii_split_whitespace(texts)
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int64)
    encoded = pc.dictionary_encode(tokens.flatten())
    words = encoded.dictionary
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    empty_at = pc.index(words, "").as_py() if len(words) else -1
    if empty_at >= 0:
        # Splitting yields "" only as a row's first and/or last token (leading/trailing space).
        ends = np.cumsum(lengths)
        starts = ends - lengths
        has = lengths > 0
        first_empty = np.zeros(len(lengths), bool)
        last_empty = np.zeros(len(lengths), bool)
        first_empty[has] = indices[starts[has]] == empty_at
        last_empty[has] = indices[ends[has] - 1] == empty_at
        lengths -= first_empty.astype(np.int64) + (last_empty & (lengths > 1)).astype(np.int64)
        indices = indices[indices != empty_at]
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    dictionary = hash_strings(pc.utf8_lower(words))
    hashes = dictionary[indices]
    pw, ipw = _WINDOW.tables(len(hashes) + 1)
    prefix = np.zeros(len(hashes) + 1, _U64)
    with np.errstate(over="ignore"):
        np.cumsum(hashes * pw[: len(hashes)], out=prefix[1:])
    return TokenStream(hashes, offsets, prefix, dictionary, indices, ipw)
