"""Counting and lexical diversity of a set of instructions.

Counts (rows with a `task` label):
    tasks             distinct task labels
    rows_per_task     min / median / max rows per label
    effective_tasks   exp(H) of the task distribution, H in nats: the number of equally common
                      tasks that would be as diverse (k uniform tasks -> k; one dominant task -> ~1)

Lexical (tokens: whitespace-split, lowercased — the tokeniser of `codemix.mixing.ngrams`):
    distinct_n        distinct n-grams / all n-grams over the whole group (Li et al., 2016), for
                      n = 1, 2, 3. N identical rows -> 1/N. It falls as a group grows, so compare
                      groups of similar size (a sweep's cells share the budget).
    entropy_n_bits    Shannon entropy (bits) of the n-gram frequency distribution
    mean_words        mean instruction length in tokens

n-grams never span two rows; every n-gram is a 64-bit hash (collisions ~1e-9 at these sizes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from codemix.mixing.ngrams import tokenize

MAX_N = 3


@dataclass
class NgramTable:
    lengths: np.ndarray                               # tokens per row
    grams: dict[int, tuple[np.ndarray, np.ndarray]]   # n -> (n-gram hashes, their row)


def ngram_table(texts: pa.Array, max_n: int = MAX_N) -> NgramTable:
    """Every in-row n-gram (n <= max_n) of every text, hashed once for all groups."""
    stream = tokenize(texts)
    lengths = np.diff(stream.offsets)
    grams: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for n in range(1, max_n + 1):
        windows = stream.window_hashes(n)
        pos = np.arange(len(windows), dtype=np.int64)
        rows = stream.row_of(pos)
        inside = pos + n <= stream.offsets[rows + 1]
        grams[n] = (windows[inside], rows[inside])
    return NgramTable(lengths, grams)


def lexical_metrics(table: NgramTable, rows: np.ndarray) -> dict[str, float | None]:
    """distinct-n, n-gram entropy and mean length of the rows whose mask `rows` is True."""
    out: dict[str, float | None] = {}
    for n, (hashes, row_of) in table.grams.items():
        h = hashes[rows[row_of]]
        if not len(h):
            out[f"distinct_{n}"] = out[f"entropy_{n}_bits"] = None
            continue
        _, counts = np.unique(h, return_counts=True)
        p = counts / len(h)
        out[f"distinct_{n}"] = round(len(counts) / len(h), 6)
        out[f"entropy_{n}_bits"] = round(float(-(p * np.log2(p)).sum()), 4)
    lengths = table.lengths[rows]
    out["mean_words"] = round(float(lengths.mean()), 3) if len(lengths) else None
    return out


def entropy_nats(counts: np.ndarray) -> float:
    counts = np.asarray(counts, np.float64)
    counts = counts[counts > 0]
    if not len(counts):
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def task_metrics(tasks: list[str | None]) -> dict[str, float | int | None]:
    """Counts over the `task` labels of a group (rows without a label are left out)."""
    labelled = [t for t in tasks if t is not None]
    out: dict[str, float | int | None] = {"rows": len(tasks), "labelled_rows": len(labelled)}
    if not labelled:
        out.update(tasks=None, rows_per_task_min=None, rows_per_task_median=None, rows_per_task_max=None,
                   effective_tasks=None)
        return out
    counts = np.array(sorted(Counter(labelled).values()))
    out.update(tasks=len(counts), rows_per_task_min=int(counts.min()), rows_per_task_median=float(np.median(counts)),
               rows_per_task_max=int(counts.max()), effective_tasks=round(float(np.exp(entropy_nats(counts))), 4))
    return out
