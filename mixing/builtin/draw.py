"""Random draws and the per-block RNG shared by the built-in generators.

Rows come in blocks of BLOCK_SIZE: each block gets its own `random.Random`, seeded from a
BLAKE2 hash of (source, split, seed, block index), and draws its rows one after another. So row i
depends only on (source, split, seed, i) -- growing n only appends rows (stream semantics) --
while the RNG construction (~10 us) is paid once per 256 rows instead of once per row.

Draws use `r()` (`Random.random`, ~40 ns) and `int(r() * n)` rather than `randrange`/`choice`
(~0.4 us each): generation of 1M rows is dominated by these calls.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
Rand = Callable[[], float]

BLOCK_SIZE = 256


def stable_seed(*parts: object) -> int:
    """A 64-bit integer seed from `parts`, the same on every run and platform (unlike `hash`)."""
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def block_random(source: str, split: str, seed: int, block: int) -> Rand:
    return random.Random(stable_seed("codemix-builtin", source, split, seed, block)).random


def randint(r: Rand, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi], both ends included."""
    return lo + int(r() * (hi - lo + 1))


def pick(r: Rand, seq: Sequence[T]) -> T:
    return seq[int(r() * len(seq))]


def pick_distinct(r: Rand, seq: Sequence[T], k: int) -> list[T]:
    """k different elements of seq (seq must hold at least k distinct values)."""
    chosen: list[T] = []
    while len(chosen) < k:
        item = seq[int(r() * len(seq))]
        if item not in chosen:
            chosen.append(item)
    return chosen


def weighted_table(weights: Sequence[int]) -> list[int]:
    """Indices repeated by weight, so `pick(r, table)` is a weighted choice in one draw."""
    return [i for i, w in enumerate(weights) for _ in range(w)]
