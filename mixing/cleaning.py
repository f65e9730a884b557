"""Per-row cleaning keys: which rows match a benchmark (decontamination) and a hash of each row's
normalised text (exact dedup), computed in chunks on two threads.

Messages are tokenised where they lie in the Arrow table (the `content` child of the prompt and
completion lists; no copy), each message as its own token run, so an n-gram never spans two
turns. A row's dedup hash combines its messages' hashes and roles in order: two rows are
duplicates when every turn has the same role and the same lowercased, whitespace-collapsed text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codemix.core.progress import progress
from codemix.core.threads import bounded_map
from codemix.mixing import decontam
from codemix.mixing.ngrams import mix64, tokenize

CHUNK_ROWS = 32768   # ~15-25 MB of text per chunk: amortises kernel calls; two threads' numpy
                     # temporaries stay around 300 MB
_ROLES = pa.array(["system", "user", "assistant"])
_ROLE_SALT = np.array([0x5851F42D4C957F2D, 0x14057B7EF767814F, 0x2545F4914F6CDD1D], np.uint64)
_TURN_BASE = np.uint64(0xD6E8FEB86659FD93)


@dataclass
class Cleaning:
    flagged: np.ndarray        # int64 rows that match a benchmark, sorted
    bench_bits: np.ndarray     # uint8 per flagged row
    task: np.ndarray           # int32 per flagged row
    reason: np.ndarray         # uint8 per flagged row
    row_hashes: np.ndarray | None


def _messages(lst: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray, np.ndarray]:
    """(contents, roles, parent row, position within the row) of every message of a list column."""
    flat = lst.flatten()
    parents = pc.list_parent_indices(lst).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = lst.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    rank = np.arange(len(parents), dtype=np.int64) - (offsets[:-1] - offsets[0])[parents]
    return flat.field("content"), flat.field("role"), parents, rank


def _merge(parts: list[tuple[np.ndarray, decontam.Matches]]) -> decontam.Matches:
    rows = np.concatenate([parents[m.rows] for parents, m in parts])
    bits = np.concatenate([m.bench_bits for _, m in parts])
    task = np.concatenate([m.task for _, m in parts])
    reason = np.concatenate([m.reason for _, m in parts])
    uniq, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    merged = np.zeros(len(uniq), np.uint8)
    np.bitwise_or.at(merged, inverse, bits)
    return decontam.Matches(uniq, merged, task[first], reason[first])


def clean_chunk(chunk: pa.Table, index: decontam.BenchmarkIndex | None, dedup: bool):
    """(matches with chunk row indices or None, row hashes or None) of one chunk of rows."""
    n = chunk.num_rows
    parts = []
    acc = np.zeros(n, np.uint64)
    shift = np.zeros(n, np.int64)  # completion turns come after the prompt's turns
    for column in ("prompt", "completion"):
        contents, roles, parents, rank = _messages(chunk.column(column).combine_chunks())
        stream = tokenize(contents)
        if index is not None:
            parts.append((parents, decontam.scan(index, stream)))
        if dedup:
            role_code = pc.fill_null(pc.index_in(roles, _ROLES), 0).to_numpy(zero_copy_only=False)
            turn = stream.row_hashes() ^ _ROLE_SALT[role_code]
            position = rank + shift[parents]
            with np.errstate(over="ignore"):
                np.add.at(acc, parents, mix64(turn + position.astype(np.uint64) * _TURN_BASE))
            shift += np.bincount(parents, minlength=n)[:n]
    matches = _merge(parts) if parts else None
    return matches, (mix64(acc) if dedup else None)


def clean(table: pa.Table, index: decontam.BenchmarkIndex | None, dedup: bool, label: str) -> Cleaning:
    """Scan every row of a normalised table against the benchmarks and hash it for dedup."""
    if index is None and not dedup:  # both steps off: nothing to compute
        none = np.zeros(0, np.int64)
        return Cleaning(none, none.astype(np.uint8), none.astype(np.int32), none.astype(np.uint8), None)
    starts = list(range(0, table.num_rows, CHUNK_ROWS))

    def work(start: int):
        return start, *clean_chunk(table.slice(start, CHUNK_ROWS), index, dedup)

    flagged, bits, task, reason, hashes = [], [], [], [], []
    # Arrow kernels and numpy release the GIL, so two chunks really run at once.
    for start, found, rh in progress(bounded_map(work, starts), desc=f"decontam/dedup {label}",
                                     total=len(starts), unit="chunk", leave=False):
        if found is not None:
            flagged.append(found.rows + start)
            bits.append(found.bench_bits)
            task.append(found.task)
            reason.append(found.reason)
        if rh is not None:
            hashes.append(rh)
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)  # noqa: E731
    return Cleaning(cat(flagged, np.int64), cat(bits, np.uint8), cat(task, np.int32), cat(reason, np.uint8),
                    cat(hashes, np.uint64) if dedup else None)


def flag_near_copies(found: Cleaning, index: decontam.BenchmarkIndex, sig) -> Cleaning:
    """Add rows whose instruction is a near-copy of a benchmark prompt to the flagged rows."""
    hit = index.near.query(sig)
    rows = np.flatnonzero(hit >= 0)
    rows = rows[~np.isin(rows, found.flagged)]
    if not len(rows):
        return found
    labels = hit[rows]
    flagged = np.concatenate([found.flagged, rows])
    order = np.argsort(flagged, kind="stable")
    cat = lambda a, b: np.concatenate([a, b])[order]  # noqa: E731
    return Cleaning(flagged[order], cat(found.bench_bits, (1 << (labels % 8)).astype(np.uint8)),
                    cat(found.task, (labels // 8).astype(np.int32)),
                    cat(found.reason, np.full(len(rows), decontam.REASON_NEAR, np.uint8)), found.row_hashes)
