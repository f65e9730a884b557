"""The contamination report of a mixture: per source and benchmark, how many rows decontamination
removed and why (a shared n-gram, a benchmark signature, a near-copy of a prompt), with a few
matched pairs — the row beside the benchmark problem it matched — so that a reader can judge
whether the removals are real overlap or generic text.

A pair shows the start of the row (its messages joined by a newline) and of the benchmark
problem's prompt, and for an n-gram match the first shared n-gram itself (found again in Python:
a pair is a handful of rows, so this costs microseconds, where keeping match positions for every
scanned window would cost memory on every build).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from codemix.mixing import decontam
from codemix.mixing.tokens import row_texts

PAIRS_KEPT = 3        # matched pairs per source and benchmark
SNIPPET_CHARS = 240   # of the row and of the benchmark prompt: enough for a signature and its docstring's start


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def shared_ngram(row: str, texts: list[str], n: int) -> str | None:
    """The first n-token window of `row` (lowercased, split on whitespace, as the index does)
    that also occurs in one of `texts`; None when there is none (a signature or near-copy)."""
    tokens = row.lower().split()
    bench: set[tuple[str, ...]] = set()
    for t in texts:
        words = t.lower().split()
        bench.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i:i + n]) in bench:
            return " ".join(tokens[i:i + n])
    return None


def source_contamination(table: pa.Table, flagged: np.ndarray, bench_bits: np.ndarray, task: np.ndarray,
                         reason: np.ndarray, index: decontam.BenchmarkIndex) -> dict[str, dict[str, Any]]:
    """benchmark -> {removed, ngram, signature, near-copy, pairs} for one source's flagged rows
    (a row matching two benchmarks counts for both; its pairs name the task it matched first)."""
    out: dict[str, dict[str, Any]] = {}
    if not len(flagged):
        return out
    ids = table.column("id").take(pa.array(flagged)).to_pylist()
    wanted: dict[str, list[int]] = {}
    for b, name in enumerate(index.names):
        mine = np.flatnonzero(bench_bits & (1 << b))
        if not len(mine):
            continue
        reasons = reason[mine]
        out[name] = {"removed": int(len(mine)),
                     **{label: int((reasons == code).sum()) for code, label in decontam.REASON_NAMES.items()}}
        # pairs: the first rows (in source order) whose matched task is of this benchmark
        own = [int(i) for i in mine if index.task_bench[int(task[i])] == b]
        wanted[name] = own[:PAIRS_KEPT]
    rows = sorted({i for picks in wanted.values() for i in picks})
    texts = dict(zip(rows, row_texts(table.take(pa.array(flagged[rows], pa.int64())), "prompt_completion").to_pylist(),
                     strict=True)) if rows else {}
    for name, picks in wanted.items():
        pairs = []
        for i in picks:
            t = int(task[i])
            why = decontam.REASON_NAMES[int(reason[i])]
            bench_texts = index.task_texts[t]
            pairs.append({"id": ids[i], "task": index.tasks[t], "reason": why, "row": snippet(texts[i]),
                          "benchmark": snippet(bench_texts[0]) if bench_texts else "",
                          "shared": shared_ngram(texts[i], bench_texts, index.n) if why == "ngram" else None})
        out[name]["pairs"] = pairs
    return out


def merge(by_source: dict[str, dict[str, dict[str, Any]]], names: list[str]) -> dict[str, Any]:
    """The manifest block: {benchmarks, by_source: {source: {benchmark: counts + pairs}}, totals}."""
    totals = {b: sum(s.get(b, {}).get("removed", 0) for s in by_source.values()) for b in names}
    return {"benchmarks": names, "by_source": by_source, "totals": totals, "pairs_kept": PAIRS_KEPT}
