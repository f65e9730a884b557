"""Near-duplicate detection: MinHash LSH over word n-gram shingles, computed in bulk.

The sketch is datasketch's (`MinHash`, scheme "affine32"): each shingle's 32-bit hash is
pre-mixed with the MurmurHash3 finaliser and permuted by `a_k * h + b_k mod 2^32`, with the
permutation parameters taken from `datasketch.MinHash(num_perm, seed)`; the bands and rows come
from datasketch's `MinHashLSH` parameter optimiser for the threshold. So a row's signature here
is bit for bit the one `MinHash(hashfunc=identity).update_batch(shingle_hashes)` gives (a test
checks it), and the kept rows equal those of the plain per-row datasketch loop (insert a row
unless `MinHashLSH.query` finds a kept row with estimated Jaccard >= threshold), with the same
band weights.

Why not that loop itself: per row it hashes every shingle with sha1 in Python, builds a MinHash
and queries the LSH (`speed/diversity_speed.py` measures it on the same rows). Here shingles are
hashed by the vectorised tokeniser of `codemix.mixing.ngrams` (whitespace tokens, lowercased: edits of
spacing or case change nothing), all signatures of a chunk come from one (shingles x perms)
uint32 array and `np.minimum.reduceat`, chunks run on two threads, and the LSH step only loops in
Python over rows that share a band with another row — a row whose band keys are all unique has
no candidate and is kept without a lookup. Measured on 200,000 instructions (2 cores shared with
other jobs): 5.0 CPU-seconds in all, where the datasketch loop spends 10.7 CPU-seconds on 20,000
(21x per row), deciding the same for 99.65% of rows (its sha1 shingle hashes differ from ours).

Shingles: word n-grams (default 5). A row with fewer than n words is one shingle (the whole
row); a row with no words has no signature and is never a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from codemix.mixing.ngrams import mix64, tokenize

EMPTY = np.uint32(0xFFFFFFFF)
WINDOWS_PER_BLOCK = 1 << 16   # shingles per (shingles x perms) block: 64k x 128 x 4 B = 32 MiB
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


@dataclass(frozen=True)
class LSHParams:
    threshold: float = 0.8    # Jaccard similarity at or above which two rows are near-duplicates
    ngram: int = 5            # words per shingle
    num_perm: int = 128       # MinHash permutations
    seed: int = 1             # datasketch's permutation seed
    # Weight of false positives in datasketch's band optimiser (false negatives: 1 - this).
    # Candidates are verified with the signature estimate, so a false positive costs one
    # comparison while a false negative is a duplicate left in. At 0.8 with 128 perms the even
    # 0.5/0.5 weights give 9 bands x 13 rows: a pair at Jaccard 0.8 becomes a candidate with
    # p = 0.40, at 0.9 with p = 0.93; 0.1/0.9 gives 14 x 9: p = 0.87 and 0.999 (and 0.13 for
    # pairs at 0.6, which verification then rejects).
    false_positive_weight: float = 0.1

    @cached_property
    def bands(self) -> tuple[int, int]:
        """(bands, rows per band) minimising weighted false positives + negatives at the threshold."""
        from datasketch.lsh import _optimal_param

        w = self.false_positive_weight
        return _optimal_param(self.threshold, self.num_perm, w, 1.0 - w)

    @cached_property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        from datasketch import MinHash

        a, b = MinHash(num_perm=self.num_perm, seed=self.seed, scheme="affine32").permutations
        return a.astype(np.uint32), b.astype(np.uint32)

    def describe(self) -> dict:
        b, r = self.bands
        return {"method": "minhash-lsh (datasketch affine32)", "threshold": self.threshold,
                "shingles": f"word {self.ngram}-grams (lowercased, whitespace-split)",
                "num_perm": self.num_perm, "bands": b, "rows_per_band": r, "seed": self.seed}


def fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def shingle_hashes(texts: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 hash of every shingle, int64 offsets: row i's shingles are [off[i], off[i+1]))."""
    stream = tokenize(texts)
    lengths = np.diff(stream.offsets)
    count = np.where(lengths >= ngram, lengths - ngram + 1, (lengths > 0).astype(np.int64))
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(count, out=offsets[1:])
    out = np.empty(int(offsets[-1]), np.uint64)
    long_rows = lengths >= ngram
    if long_rows.any():
        c = count[long_rows]
        within = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)  # index inside each row's run
        starts = np.repeat(stream.offsets[:-1][long_rows], c) + within
        out[np.repeat(offsets[:-1][long_rows], c) + within] = stream.hash_at(starts, ngram)
    short_rows = (lengths > 0) & ~long_rows
    if short_rows.any():
        out[offsets[:-1][short_rows]] = stream.hash_at(stream.offsets[:-1][short_rows], lengths[short_rows])
    return (mix64(out) >> np.uint64(32)).astype(np.uint32), offsets


def _signature_block(hv: np.ndarray, starts: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(perms, rows) signatures of the rows whose shingles start at `starts` within `hv`.

    Laid out (perms, shingles) so that each permutation's row is contiguous for the reduction:
    measured ~500 ns per shingle for 128 perms, against ~1.7 us for the (shingles, perms)
    layout with broadcasting temporaries."""
    h = fmix32(hv)
    phv = np.empty((len(a), len(h)), np.uint32)
    np.multiply(a[:, None], h[None, :], out=phv)  # uint32 wraps: the mod 2^32 of the scheme
    np.add(phv, b[:, None], out=phv)
    return np.minimum.reduceat(phv, starts, axis=1)


def _fold(columns: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit hash of each column of a (k, rows) uint32 array: sum of value x random odd
    64-bit multiplier (mod 2^64), then mixed; two different columns collide with probability
    ~2^-64. Row by row over the contiguous (k, rows) layout: on the (rows, k) layout a strided
    column or a row-wise `sum(axis=1)` measured ~5x slower."""
    mult = np.random.default_rng(salt).integers(0, 1 << 63, columns.shape[0], dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    acc = np.full(columns.shape[1], np.uint64(salt), np.uint64)
    with np.errstate(over="ignore"):
        for k in range(columns.shape[0]):
            acc += columns[k].astype(np.uint64) * mult[k]
        return mix64(acc)


@dataclass
class Sketches:
    """MinHash signatures of a batch of rows, with the LSH band keys and a whole-signature hash."""

    sig: np.ndarray    # (rows, num_perm) uint32
    keys: np.ndarray   # (rows, bands) uint64: hash of each band's rows_per_band values
    full: np.ndarray   # (rows,) uint64: hash of the whole signature
    valid: np.ndarray  # (rows,) bool: the row has words (a signature)

    def __len__(self) -> int:
        return len(self.sig)

    def __getitem__(self, idx) -> Sketches:
        return Sketches(self.sig[idx], self.keys[idx], self.full[idx], self.valid[idx])

    @staticmethod
    def concat(parts: list[Sketches]) -> Sketches:
        return Sketches(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("sig", "keys", "full", "valid")))


def signatures(texts: pa.Array, params: LSHParams) -> Sketches:
    """MinHash sketches of `texts`; rows without words get an all-EMPTY signature, valid=False."""
    from codemix.core.threads import bounded_map

    hv, offsets = shingle_hashes(texts, params.ngram)
    n = len(offsets) - 1
    a, b = params.permutations
    bands, r = params.bands
    out = Sketches(np.full((n, params.num_perm), EMPTY, np.uint32), np.zeros((n, bands), np.uint64),
                   np.zeros(n, np.uint64), np.diff(offsets) > 0)
    nonempty = np.flatnonzero(out.valid)
    if not len(nonempty):
        return out
    # Blocks of whole rows holding about WINDOWS_PER_BLOCK shingles each.
    row_starts = offsets[nonempty]
    cuts = np.searchsorted(row_starts, np.arange(0, int(offsets[-1]), WINDOWS_PER_BLOCK))
    cuts = np.unique(np.r_[cuts, len(nonempty)])
    blocks = [(int(lo), int(hi)) for lo, hi in zip(cuts[:-1], cuts[1:], strict=True) if hi > lo]

    def work(block: tuple[int, int]):
        lo, hi = block
        first, last = int(row_starts[lo]), int(offsets[nonempty[hi - 1] + 1])
        m = _signature_block(hv[first:last], row_starts[lo:hi] - first, a, b)
        keys = np.stack([_fold(m[i * r:(i + 1) * r], i + 1) for i in range(bands)], axis=1)
        return lo, hi, m, keys, _fold(m, 0)

    # numpy releases the GIL in these kernels: two blocks really run at once.
    for lo, hi, m, keys, full in bounded_map(work, blocks):
        rows = nonempty[lo:hi]
        out.sig[rows] = m.T
        out.keys[rows] = keys
        out.full[rows] = full
    return out


def _in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


@dataclass
class NearDupIndex:
    """Signatures and band keys of rows already kept (e.g. by earlier sources of a mixture)."""

    params: LSHParams
    sigs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint32))
    tables: list[dict[int, list[int]]] = field(default_factory=list)
    sorted_keys: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)   # caller's label per stored row

    def __post_init__(self) -> None:
        bands, _ = self.params.bands
        self.sigs = np.zeros((0, self.params.num_perm), np.uint32)
        self.tables = [{} for _ in range(bands)]
        self.sorted_keys = [np.zeros(0, np.uint64) for _ in range(bands)]

    def __len__(self) -> int:
        return len(self.sigs)

    def add(self, sk: Sketches, labels: list[int] | None = None) -> None:
        labels = labels if labels is not None else [0] * len(sk)
        labels = [lab for lab, v in zip(labels, sk.valid.tolist(), strict=True) if v]
        sk = sk[sk.valid]
        base = len(self.sigs)
        for band, table in enumerate(self.tables):
            for j, key in enumerate(sk.keys[:, band].tolist()):
                table.setdefault(key, []).append(base + j)
            self.sorted_keys[band] = np.sort(np.concatenate([self.sorted_keys[band], sk.keys[:, band]]))
        self.sigs = np.concatenate([self.sigs, sk.sig])
        self.labels.extend(labels)

    def candidates(self, keys: list[int]) -> set[int]:
        out: set[int] = set()
        for band, key in enumerate(keys):
            hit = self.tables[band].get(key)
            if hit:
                out.update(hit)
        return out

    def similar(self, row: np.ndarray, cands: list[int]) -> list[int]:
        """The candidates whose estimated Jaccard with `row` reaches the threshold."""
        if not cands:
            return []
        agree = (self.sigs[cands] == row).sum(axis=1)  # count_nonzero(axis=) casts via astype: slower
        need = self.params.threshold * self.params.num_perm
        return [c for c, e in zip(cands, agree.tolist(), strict=True) if e >= need]

    def query(self, sk: Sketches) -> np.ndarray:
        """Per row: the label of a stored near-duplicate (the first stored), or -1."""
        out = np.full(len(sk), -1, np.int64)
        if not len(self) or not len(sk):
            return out
        hit = np.zeros(len(sk), bool)
        for band in range(sk.keys.shape[1]):
            hit |= _in_sorted(self.sorted_keys[band], sk.keys[:, band])
        hit &= sk.valid
        for j in np.flatnonzero(hit).tolist():
            found = self.similar(sk.sig[j], sorted(self.candidates(sk.keys[j].tolist())))
            if found:
                out[j] = self.labels[found[0]]
        return out


def first_copies(sk: Sketches, params: LSHParams, earlier: NearDupIndex | None = None) -> np.ndarray:
    """Keep mask over rows in the given order: a row is dropped when it is a near-duplicate
    (estimated Jaccard >= threshold, found through the LSH bands) of a kept row before it or of
    a row in `earlier`. Rows without words are always kept.

    Two shortcuts that give exactly the greedy result: a later copy of an identical signature is
    dropped at once (whatever its first copy matches, it matches too, with the same estimate),
    and a row that shares no band key with any other row or with `earlier` has no candidate, so
    it is kept without a lookup. Only the remaining rows go through the Python loop."""
    n = len(sk)
    keep = np.ones(n, bool)
    if n == 0:
        return keep
    valid = np.flatnonzero(sk.valid)
    first = np.zeros(n, bool)
    first[valid[np.unique(sk.full[valid], return_index=True)[1]]] = True
    keep[valid] = first[valid]
    rest = np.flatnonzero(first)
    keys = sk.keys[rest]
    collide = np.zeros(len(rest), bool)
    for band in range(keys.shape[1]):
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        collide |= counts[inverse] > 1
        if earlier is not None:
            collide |= _in_sorted(earlier.sorted_keys[band], keys[:, band])
    local = NearDupIndex(params)
    local.sigs = sk.sig
    tables = local.tables
    sig = sk.sig
    todo = np.flatnonzero(collide)
    for j, row_keys in zip(rest[todo].tolist(), keys[todo].tolist(), strict=True):
        if (earlier is not None and earlier.similar(sig[j], sorted(earlier.candidates(row_keys)))) \
                or local.similar(sig[j], sorted(local.candidates(row_keys))):
            keep[j] = False
            continue
        for band, key in enumerate(row_keys):
            tables[band].setdefault(key, []).append(j)
    return keep


def near_duplicate_mask(texts: list[str] | pa.Array, params: LSHParams | None = None) -> np.ndarray:
    """Keep mask for a list of texts in order (the first of each near-duplicate group is kept)."""
    params = params or LSHParams()
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    return first_copies(signatures(arr, params), params)
