"""How many rows each source contributes (quotas), and which rows (selection under a shortage policy).

Quotas use largest-remainder rounding on exact fractions, so they always sum to the budget:
each source gets floor(budget * weight / total), and the rows left over go one each to the
largest fractional parts (ties: the source listed first). `general_fraction` rounds twice with
the same rule — budget into the two domains, then each domain over its sources by `weight`;
`domain_shares` the same way over any number of domains.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

import numpy as np

from codemix.core.artifacts import canonical_json
from codemix.core.errors import CodemixError
from codemix.mixing.config import MixConfig


def derive_seed(seed: int, *parts: str) -> int:
    """A stable 63-bit seed for one purpose (one source's order, the final shuffle)."""
    digest = hashlib.sha256(canonical_json([seed, *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to `weights` that sum exactly to `total` (all-zero weights: error)."""
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    # Fractions from the decimal a user wrote (repr), so 0.1 of 20000 is exactly 2000.
    ws = [Fraction(repr(w)) if isinstance(w, float) else Fraction(w) for w in weights]
    if any(w < 0 for w in ws):
        raise ValueError("weights must be >= 0")
    s = sum(ws)
    if total == 0:
        return [0] * len(ws)
    if s == 0:
        raise ValueError("all weights are zero")
    ideal = [total * w / s for w in ws]
    out = [int(q) for q in ideal]  # floor (non-negative)
    left = total - sum(out)
    order = sorted(range(len(ws)), key=lambda i: (-(ideal[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    return out


def allocate(mix: MixConfig) -> dict[str, int]:
    """Source name -> requested rows; the values sum to the budget (or the sum of counts)."""
    names = [s.name for s in mix.sources]
    if mix.style == "count":
        return {s.name: int(s.count) for s in mix.sources}
    if mix.style == "share":
        return dict(zip(names, largest_remainder(mix.budget, [s.share for s in mix.sources]), strict=True))
    if mix.style == "domain_shares":
        domains = list(mix.domain_shares)
        per_domain = dict(zip(domains, largest_remainder(mix.budget, [mix.domain_shares[d] for d in domains]), strict=True))
    else:
        gf = mix.general_fraction if mix.general_fraction is not None else 0.0
        domains = ["code", "general"]
        general = Fraction(repr(float(gf)))
        per_domain = dict(zip(domains, largest_remainder(mix.budget, [1 - general, general]), strict=True))
    quotas: dict[str, int] = {}
    for d in domains:
        members = [s for s in mix.sources if s.domain == d]
        if not members:
            continue
        weights = [s.weight if s.weight is not None else 1.0 for s in members]
        for s, q in zip(members, largest_remainder(per_domain[d], weights), strict=True):
            quotas[s.name] = q
    return {n: quotas.get(n, 0) for n in names}


def select(eligible: np.ndarray, quota: int, policy: str, rng: np.random.Generator,
           describe: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions, repeat number) of `quota` rows from `eligible` (already in sampling order).

    Enough rows: the first `quota` (a seeded permutation upstream makes that a sample without
    replacement). Too few: `error` raises; `shrink` takes all; `upsample` takes every row
    `quota // available` times and a seeded sample without replacement for the remainder."""
    available = len(eligible)
    if quota <= available:
        return eligible[:quota], np.zeros(quota, np.int64)
    if policy == "error" or (policy == "upsample" and available == 0):
        hint = "no rows left to repeat; " if policy == "upsample" else ""
        raise CodemixError(f"{describe}: quota is {quota} rows but only {available} are available; "
                           f"{hint}lower the budget or set mix.on_shortage to upsample or shrink")
    if policy == "shrink":
        return eligible, np.zeros(available, np.int64)
    whole, rest = divmod(quota, available)
    positions = [np.tile(eligible, whole)]
    repeats = [np.repeat(np.arange(whole, dtype=np.int64), available)]
    if rest:
        positions.append(eligible[np.sort(rng.choice(available, size=rest, replace=False))])
        repeats.append(np.full(rest, whole, np.int64))
    return np.concatenate(positions), np.concatenate(repeats)


def select_tokens(eligible: np.ndarray, lengths: np.ndarray, quota: int, policy: str,
                  rng: np.random.Generator, describe: str) -> tuple[np.ndarray, np.ndarray]:
    """(positions, repeat number) of whole rows from `eligible` whose tokens reach `quota`.

    `lengths[i]` is the token count of `eligible[i]` (it may cover only a prefix of `eligible`
    when that prefix already reaches the quota). Rows are taken in sampling order until their sum
    first reaches the quota, so the sum overshoots it by less than the last row's length. Too few
    tokens: `error` raises, `shrink` takes all, `upsample` repeats every row `quota // available`
    times and fills the rest with rows of a seeded permutation, again until the quota is met."""
    if quota <= 0:
        return eligible[:0], np.zeros(0, np.int64)
    sums = np.cumsum(lengths)
    available = int(sums[-1]) if len(sums) else 0
    if available >= quota:
        k = int(np.searchsorted(sums, quota)) + 1  # the first prefix whose sum is >= quota
        return eligible[:k], np.zeros(k, np.int64)
    if len(lengths) != len(eligible):
        raise ValueError("lengths must cover every eligible row when they fall short of the quota")
    if policy == "error" or (policy == "upsample" and available == 0):
        hint = "no tokens left to repeat; " if policy == "upsample" else ""
        raise CodemixError(f"{describe}: quota is {quota} tokens but only {available} are available "
                           f"({len(eligible)} rows); {hint}lower the budget or set mix.on_shortage to upsample or shrink")
    if policy == "shrink":
        return eligible, np.zeros(len(eligible), np.int64)
    whole, rest = divmod(quota, available)
    positions = [np.tile(eligible, whole)]
    repeats = [np.repeat(np.arange(whole, dtype=np.int64), len(eligible))]
    if rest:
        perm = rng.permutation(len(eligible))
        k = int(np.searchsorted(np.cumsum(lengths[perm]), rest)) + 1
        positions.append(eligible[perm[:k]])
        repeats.append(np.full(k, whole, np.int64))
    return np.concatenate(positions), np.concatenate(repeats)
