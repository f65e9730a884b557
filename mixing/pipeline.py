"""Build a mixture: quotas -> load + normalise each source -> decontaminate + dedup -> seeded
selection -> shuffle -> write data file, then manifest (last).

Selection, per source: the source's usable rows are put in a seeded random order (built-in
generators are already a seeded stream and keep theirs), contaminated rows and duplicates are
skipped, and the first `quota` rows are taken — a sample without replacement in which a removed
row is replaced by the next one from the same source, so the budget holds. Dedup keeps the first
copy in sampling order within a source and skips rows whose text an earlier source already put
into the mixture. Growing the budget keeps the rows a smaller budget chose (same order, longer
prefix).

`inputs_hash` covers exactly what determines the rows — the mix section, the seed, the source
data (file sha256, Hub id/config/split/revision, generator code) and the benchmark files — so a
change to the `train:` section of the recipe does not rebuild the mixture.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from codemix.core.artifacts import (
    announce_replacement,
    atomic_path,
    atomic_write_json,
    hash_json,
    package_versions,
    read_manifest,
    record_outputs,
    stage_dir_guard,
    stage_state,
    utc_now,
    warn,
    write_manifest,
)
from codemix.core.errors import CodemixError
from codemix.core.progress import progress
from codemix.mixing import (
    cleaning,
    contamination,
    decontam,
    formats,
    neardup,
    quotas,
    sources,
    tokens,
    validation,
    writer,
)
from codemix.mixing.config import MixConfig, SourceConfig
from codemix.mixing.quotas import derive_seed
from codemix.mixing.texts import instruction_texts

PIPELINE_VERSION = 1          # bump when the same inputs would give different rows
DATA_FILES = {"jsonl": "data.jsonl", "parquet": "data.parquet"}
EXAMPLES_KEPT = 20


@contextlib.contextmanager
def _allocator() -> Iterator[None]:
    """Arrow's jemalloc (or system) pool for the build, unless the user chose one.

    Measured on the 1M-row benchmark (2 cores): Arrow's default mimalloc pool spends ~3.5 s of
    18.7 s CPU in page faults on freshly mapped buffers (reading JSON, gathering rows); jemalloc
    or the system allocator keep and reuse those pages (15.2-15.6 s CPU)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # wheels built without jemalloc
        pool = pa.system_memory_pool()
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


# ---------------------------------------------------------------- one source

@dataclass
class SourceResult:
    batches: list[pa.RecordBatch]  # the rows `positions` index (normalised schema)
    positions: np.ndarray          # selected rows, in sampling order (repeats included)
    repeats: np.ndarray            # 0 for a first copy, k for the k-th repeat (upsampling)
    hashes: np.ndarray             # dedup hashes of the selected rows
    report: dict[str, Any]
    removed: dict[str, list[str]]  # benchmark -> removed row ids
    examples: list[dict[str, Any]]
    contamination: dict[str, dict[str, Any]]  # benchmark -> counts by reason and matched pairs
    signatures: neardup.Sketches | None = None  # MinHash sketches of the selected first copies (dedup: near)


def _eligible(order: np.ndarray, found: cleaning.Cleaning, taken: np.ndarray,
              near: tuple[neardup.Sketches, neardup.LSHParams, neardup.NearDupIndex | None] | None = None
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """(uncontaminated rows, rows that are also not duplicates, how many of those were near
    duplicates), both in sampling order.

    A duplicate is a row whose hash appeared earlier in this order, or is already in the mixture
    (`taken`, sorted, from earlier sources); with `near` (signatures, parameters, index of the
    rows earlier sources put in the mixture) also a row whose instruction is a near-duplicate of
    an earlier kept row or of a row already in the mixture."""
    bad = np.zeros(len(order), bool)
    bad[found.flagged] = True
    ok = order[~bad[order]]
    if found.row_hashes is None:
        return ok, ok, 0
    keys = found.row_hashes[ok]
    first = np.zeros(len(ok), bool)
    first[np.unique(keys, return_index=True)[1]] = True
    if len(taken):  # a binary search in the sorted hashes beats np.isin, which sorts both arrays
        at = np.minimum(np.searchsorted(taken, keys), len(taken) - 1)
        first &= taken[at] != keys
    eligible = ok[first]
    if near is None:
        return ok, eligible, 0
    sig, params, earlier = near
    keep = neardup.first_copies(sig[eligible], params, earlier)
    return ok, eligible[keep], int((~keep).sum())


def _near_params(mix: MixConfig) -> neardup.LSHParams | None:
    if mix.dedup != "near":
        return None
    c = mix.near_dedup
    return neardup.LSHParams(threshold=c.threshold, ngram=c.ngram, num_perm=c.num_perm)


def _mix_source(src: SourceConfig, ref: sources.SourceRef, quota: int, mix: MixConfig, seed: int,
                index: decontam.BenchmarkIndex | None, taken: np.ndarray,
                near_taken: neardup.NearDupIndex | None, counter: tokens.TokenCounter,
                held_out: np.ndarray | None = None) -> SourceResult:
    where = sources.where(src)
    report: dict[str, Any] = {"name": src.name, "domain": src.domain, "path": src.path, "kind": ref.kind,
                              "requested": quota}
    rng = np.random.default_rng(derive_seed(seed, "source", src.name))
    if quota == 0:
        report.update(available=None, realised=0, realised_tokens=0, dropped=0, upsampled=0, shrunk=False, note="quota 0: not loaded")
        none = np.zeros(0, np.int64)
        return SourceResult([], none, none, np.zeros(0, np.uint64), report, {}, [], {})
    # Built-in generators are unlimited: make the quota plus a 10% margin for removed rows and
    # double it (same seed, so the first rows stay the same) until enough rows survive.
    by_tokens = mix.unit == "tokens"
    generate = quota + max(100, quota // 10) if ref.kind == "builtin" else 0
    if by_tokens and ref.kind == "builtin":
        # A first guess of rows for a token quota (generated rows run ~50-300 bytes); the loop
        # below rescales it by the tokens the guess yielded.
        generate = max(100, quota // 64)
    lengths = np.zeros(0, np.int64)
    for _attempt in range(5):
        t0 = time.perf_counter()
        table, provenance = sources.load(src, ref, builtin_rows=generate, seed=derive_seed(seed, "builtin", src.name) & 0x7FFFFFFF)
        t1 = time.perf_counter()
        norm = formats.normalise(table, src.format, src.columns, source=src.name, domain=src.domain, where=where)
        del table
        t2 = time.perf_counter()
        found = cleaning.clean(norm.table, index, mix.dedup != "none", src.name)
        params = _near_params(mix)
        near_decontam = index is not None and index.near is not None
        texts = instruction_texts(norm.table) if params is not None or near_decontam else None
        sig = neardup.signatures(texts, params) if params is not None else None
        if near_decontam:
            bp = index.near.params  # the same shingles and permutations give the same signatures
            same = params is not None and (params.ngram, params.num_perm) == (bp.ngram, bp.num_perm)
            found = cleaning.flag_near_copies(found, index, sig if same else neardup.signatures(texts, bp))
        timings = {"load": round(t1 - t0, 3), "normalise": round(t2 - t1, 3), "clean": round(time.perf_counter() - t2, 3)}
        pool = norm.table.num_rows
        order = np.arange(pool) if ref.kind == "builtin" else rng.permutation(pool)
        near = (sig, params, near_taken) if params is not None else None
        ok, eligible, near_dups = _eligible(order, found, taken, near)
        if held_out is not None:  # validation rows (mix.validation) never enter training
            row_hashes = found.row_hashes if found.row_hashes is not None else \
                cleaning.clean(norm.table, None, True, src.name).row_hashes
            held = validation.held_out_mask(row_hashes[ok], held_out)
            ok = ok[~held]
            eligible = eligible[~validation.held_out_mask(row_hashes[eligible], held_out)]
        if by_tokens:
            lengths = counter.count_until(norm.table, eligible, quota)
        have = int(lengths.sum()) if by_tokens else len(eligible)
        if ref.kind != "builtin" or have >= quota:
            break
        # Same seed: the rows generated so far stay the first rows of the longer stream.
        generate = max(2 * generate, int(generate * 1.1 * quota / max(have, 1)) + 100) if by_tokens else 2 * generate
    describe = f"{where}: {norm.records} rows, {norm.empty} empty, {len(found.flagged)} contaminated, " \
               f"{len(ok) - len(eligible)} duplicates"
    if by_tokens:
        positions, repeats = quotas.select_tokens(eligible, lengths, quota, mix.on_shortage, rng, describe)
    else:
        positions, repeats = quotas.select(eligible, quota, mix.on_shortage, rng, describe)
    realised_tokens = _selected_tokens(counter, norm.table, positions, eligible[:len(lengths)], lengths)
    batches = norm.table.to_batches()
    hashes = found.row_hashes[positions[repeats == 0]] if found.row_hashes is not None else np.zeros(0, np.uint64)
    chosen_sigs = sig[positions[repeats == 0]] if params is not None else None
    if len(positions) < pool // 2:
        # A small sample of a big source: keep only the chosen rows, not the whole pool, in memory.
        batches = writer.RowSet(batches, positions).table().to_batches()
        positions = np.arange(len(positions))
    report.update(format=norm.format, **provenance, records=norm.records, rows=norm.candidates, empty=norm.empty,
                  contaminated=len(found.flagged), duplicates=len(ok) - len(eligible), near_duplicates=near_dups,
                  available=len(eligible),
                  realised=len(positions), realised_tokens=realised_tokens, dropped=norm.empty + len(found.flagged) + len(ok) - len(eligible),
                  upsampled=int((repeats > 0).sum()),
                  shrunk=(realised_tokens if by_tokens else len(positions)) < quota, timings_s=timings)
    if by_tokens and not report["shrunk"]:
        report["overshoot_tokens"] = realised_tokens - quota  # < the last drawn row's tokens
    if ref.kind == "builtin":
        report["unlimited"] = True
    if held_out is not None:
        report["validation_held_out"] = int(held.sum())
    removed: dict[str, list[str]] = {}
    examples: list[dict[str, Any]] = []
    contaminated: dict[str, dict[str, Any]] = {}
    if index is not None and len(found.flagged):
        contaminated = contamination.source_contamination(norm.table, found.flagged, found.bench_bits, found.task,
                                                          found.reason, index)
        ids = norm.table.column("id").take(pa.array(found.flagged)).to_pylist()
        for b, name in enumerate(index.names):
            removed[name] = [i for i, bits in zip(ids, found.bench_bits.tolist(), strict=True) if bits & (1 << b)]
        for i in range(min(EXAMPLES_KEPT, len(ids))):
            examples.append({"id": ids[i], "benchmarks": [n for b, n in enumerate(index.names) if found.bench_bits[i] & (1 << b)],
                             "task": index.tasks[int(found.task[i])],
                             "reason": decontam.REASON_NAMES[int(found.reason[i])]})
    return SourceResult(batches, positions, repeats, hashes, report, removed, examples, contaminated, chosen_sigs)


def _selected_tokens(counter: tokens.TokenCounter, table: pa.Table, positions: np.ndarray,
                     counted_rows: np.ndarray, counted: np.ndarray) -> int:
    """Tokens of the selected rows, repeats included; rows counted while drawing are not
    counted again (a model tokenizer takes ~5 us a row)."""
    if not len(positions):
        return 0
    rows, copies = np.unique(positions, return_counts=True)
    known = np.full(table.num_rows, -1, np.int64)
    known[counted_rows] = counted
    lengths = known[rows]
    missing = lengths < 0
    if missing.any():
        lengths[missing] = counter.count(table, rows[missing])
    return int((lengths * copies).sum())


# ---------------------------------------------------------------- the stage

def inputs_fingerprint(mix: MixConfig, seed: int) -> tuple[str, dict[str, Any], dict[str, sources.SourceRef]]:
    refs = {s.name: sources.resolve(s) for s in mix.sources}
    fps = {s.name: sources.fingerprint(s, refs[s.name]) for s in mix.sources}
    fp = {"pipeline": PIPELINE_VERSION, "mix": mix.rows_fingerprint(), "seed": seed, "sources": fps,
          "benchmarks": decontam.benchmark_fingerprint(mix.decontaminate)}
    return hash_json(fp), fp, refs


def build_mixture(mix: MixConfig, *, seed: int, out_dir: str | Path, recipe: dict, recipe_hash: str,
                  force: bool = False, wait: float | bool = False, keep: bool = False) -> tuple[dict, bool]:
    """Write <out_dir>/data.<fmt> and <out_dir>/manifest.json; (manifest, built). built=False: up to date.

    The directory is locked for the whole check-and-build (`wait`: see codemix.core.locks.locked). A
    manifest whose data file was cut or edited is not trusted: the mixture is rebuilt. Outputs of
    other inputs are replaced with a notice naming the changed keys, or kept (`keep`: refuse)."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    inputs_hash, fp, refs = inputs_fingerprint(mix, seed)
    data_path = out_dir / DATA_FILES[mix.output_format]
    with stage_dir_guard(out_dir, what="codemix mix", wait=wait):
        state = stage_state(out_dir, inputs_hash)
        if state.current and not data_path.is_file():
            state.kind, state.problems = "damaged", [f"{data_path} is missing"]
        if not force and state.current:
            manifest = state.manifest
            if mix.diversity.enabled and _diversity_key(mix, seed, manifest["content_hash"]) != \
                    (manifest.get("diversity") or {}).get("key"):
                # Same rows, new diversity settings (or none measured yet): measure, keep the data.
                manifest["diversity"] = _diversity(mix, seed, out_dir, writer.read_table(data_path),
                                                   manifest["content_hash"])
                write_manifest(out_dir, manifest)
            return manifest, False
        if state.kind == "damaged":
            warn(f"the mixture in {out_dir} is damaged ({'; '.join(state.problems)}): rebuilding it")
        elif state.kind == "stale" and data_path.is_file():
            old = state.manifest
            announce_replacement("mix", out_dir, old={"mix": (old.get("recipe") or {}).get("mix"), "seed": old.get("seed")},
                                 new={"mix": recipe.get("mix"), "seed": seed}, old_hash=old.get("recipe_hash"),
                                 new_hash=recipe_hash, keep=keep)
        with _allocator():
            return _build(mix, seed, out_dir, data_path, recipe, recipe_hash, inputs_hash, fp, refs, t0), True


def _build(mix: MixConfig, seed: int, out_dir: Path, data_path: Path, recipe: dict, recipe_hash: str,
           inputs_hash: str, fp: dict[str, Any], refs: dict[str, sources.SourceRef], t0: float) -> dict:
    wanted = quotas.allocate(mix)
    counter = tokens.TokenCounter.load(mix.counting_tokenizer(), mix.tokens.over, mix.tokens.revision)  # before any source loads
    cfg = mix.decontaminate
    index = decontam.build_index(cfg) if cfg.enabled and cfg.benchmarks else None
    taken = np.zeros(0, np.uint64)
    params = _near_params(mix)
    near_taken = neardup.NearDupIndex(params) if params is not None else None
    held = validation.draw(mix, refs, index, counter, params) if mix.validation is not None else None
    if held is not None and near_taken is not None:
        near_taken.add(held.signatures)
    results: list[SourceResult] = []
    for src in progress(mix.sources, desc="loading sources", unit="source"):
        res = _mix_source(src, refs[src.name], wanted[src.name], mix, seed, index, taken, near_taken, counter,
                          held.hashes if held is not None else None)
        res.report["fingerprint"] = fp["sources"][src.name]  # file sha256 / Hub revision / generator code
        taken = np.sort(np.concatenate([taken, res.hashes]))
        if near_taken is not None and res.signatures is not None:
            near_taken.add(res.signatures)
        results.append(res)
    t_mix = time.perf_counter()
    # One seeded shuffle over all selected rows; rows are gathered batch by batch while writing.
    bases = np.cumsum([0] + [sum(b.num_rows for b in r.batches) for r in results])[:-1]
    rows = np.concatenate([r.positions + base for r, base in zip(results, bases, strict=True)])
    repeats = np.concatenate([r.repeats for r in results])
    order = np.random.default_rng(derive_seed(seed, "mixture")).permutation(len(rows))
    mixture = writer.RowSet([b for r in results for b in r.batches], rows[order], repeats[order])
    # The old manifest goes first: a crash while writing must not leave it vouching for new data.
    (out_dir / "manifest.json").unlink(missing_ok=True)
    for stale in (*DATA_FILES.values(), validation.VALIDATION_FILE, "diversity.json", "diversity_map.png"):
        (out_dir / stale).unlink(missing_ok=True)  # they describe the old rows
    with atomic_path(data_path) as tmp:
        write = writer.write_jsonl if mix.output_format == "jsonl" else writer.write_parquet
        content_hash = write(mixture, tmp)
    validation_block = None
    if held is not None:
        with atomic_path(out_dir / validation.VALIDATION_FILE) as tmp:
            validation_block = validation.write(held, tmp)
    t_write = time.perf_counter()
    manifest = {
        "stage": "mix", "inputs_hash": inputs_hash, "recipe_hash": recipe_hash, "recipe": recipe, "seed": seed,
        "data_file": data_path.name, "format": mix.output_format, "content_hash": content_hash,
        "rows": len(mixture), "budget": sum(wanted.values()), "unit": mix.unit, "style": mix.style,
        "on_shortage": mix.on_shortage,
        "sources": [r.report for r in results],
        # code and general always (readers of two-domain mixtures expect both), then any other label
        "domains": {d: sum(r.report["realised"] for r in results if r.report["domain"] == d)
                    for d in dict.fromkeys(["code", "general", *(r.report["domain"] for r in results)])},
        "tokens": _tokens_report(counter, results),
        "decontamination": _decontam_report(cfg, index, results),
        "dedup": _dedup_report(mix, params, results),
        "benchmark_files": fp["benchmarks"],
        "outputs": record_outputs(out_dir, [data_path.name] + ([validation.VALIDATION_FILE] if held is not None else [])),
        "versions": package_versions(), "created": utc_now(),
        "timings_s": {"mix": round(t_mix - t0, 3), "write": round(t_write - t_mix, 3),
                      "total": round(time.perf_counter() - t0, 3)},
    }
    if validation_block is not None:
        manifest["validation"] = validation_block
    if mix.diversity.enabled:
        manifest["diversity"] = _diversity(mix, seed, out_dir, mixture.table(), content_hash)
    write_manifest(out_dir, manifest)
    return manifest


def _diversity_key(mix: MixConfig, seed: int, content_hash: str) -> str:
    from codemix.mixing.diversity import measure as diversity

    return diversity.settings_key(mix.diversity, seed, content_hash, mix.decontaminate)


def _diversity(mix: MixConfig, seed: int, out_dir: Path, table: pa.Table, content_hash: str) -> dict[str, Any]:
    """The mixture's diversity block (also written to diversity.json, with the map beside it).
    Not part of `inputs_hash`: it describes the rows, so changing its settings re-measures an
    up-to-date mixture without rebuilding it."""
    from codemix.mixing.diversity import measure as diversity

    block = diversity.measure(table, mix.diversity, seed=seed, decontam=mix.decontaminate,
                              map_path=out_dir / diversity.MAP_NAME, title=f"mixture {out_dir}")
    block.update(key=_diversity_key(mix, seed, content_hash), content_hash=content_hash)
    atomic_write_json(out_dir / diversity.JSON_NAME, block)
    return block


def _tokens_report(counter: tokens.TokenCounter, results: list[SourceResult]) -> dict[str, Any]:
    """Rows and tokens per source and domain, with each one's share of the mixture in both."""
    reports = [r.report for r in results]
    rows = sum(r["realised"] for r in reports)
    total = sum(r["realised_tokens"] for r in reports)
    share = lambda part, whole: round(part / whole, 6) if whole else 0.0  # noqa: E731

    def entry(members: list[dict[str, Any]]) -> dict[str, Any]:
        n, t = sum(r["realised"] for r in members), sum(r["realised_tokens"] for r in members)
        return {"rows": n, "tokens": t, "row_share": share(n, rows), "token_share": share(t, total),
                "tokens_per_row": round(t / n, 2) if n else None}

    domains = sorted({r["domain"] for r in reports})
    return {**counter.describe(), "total": total,
            "by_source": {r["name"]: entry([r]) for r in reports},
            "by_domain": {d: entry([r for r in reports if r["domain"] == d]) for d in domains}}


def _dedup_report(mix: MixConfig, params: neardup.LSHParams | None, results: list[SourceResult]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "method": mix.dedup, "key": "lowercased, whitespace-collapsed text of every turn",
        "removed": sum(r.report.get("duplicates", 0) for r in results),
        "by_source": {r.report["name"]: r.report.get("duplicates", 0) for r in results}}
    if params is not None:
        near = {r.report["name"]: r.report.get("near_duplicates", 0) for r in results}
        report["near"] = {**params.describe(), "text": "user turns of the prompt", "order": "each source's seeded sampling order, sources in recipe order",
                          "removed": sum(near.values()), "by_source": near}
    return report


def _decontam_report(cfg, index: decontam.BenchmarkIndex | None, results: list[SourceResult]) -> dict[str, Any]:
    if index is None:
        return {"enabled": False}
    removed: dict[str, list[str]] = {name: [] for name in index.names}
    for r in results:
        for name, ids in r.removed.items():
            removed[name].extend(ids)
    return {"enabled": True, "ngram": cfg.ngram, "signatures": cfg.signatures, "near": cfg.near, "benchmarks": index.report,
            "repetitive_ngrams_skipped": index.repetitive_skipped,
            "removed": sum(r.report.get("contaminated", 0) for r in results),
            "by_source": {r.report["name"]: r.report.get("contaminated", 0) for r in results},
            "removed_ids": removed, "examples": [e for r in results for e in r.examples][:EXAMPLES_KEPT],
            "contamination": contamination.merge({r.report["name"]: r.contamination for r in results}, index.names)}


def load_mixture(path: str | Path):
    """A built mixture (its directory or its data file) as a `datasets.Dataset`."""
    import datasets

    p = Path(path)
    if p.is_dir():
        manifest = read_manifest(p)
        names = [manifest["data_file"]] if manifest and manifest.get("data_file") else list(DATA_FILES.values())
        found = [p / n for n in names if (p / n).is_file()]
        if not found:
            raise CodemixError(f"{p}: no mixture here (no {' or '.join(names)}); run `codemix mix` first")
        p = found[0]
    elif not p.is_file():
        raise CodemixError(f"{p}: no such mixture file or directory")
    try:
        table = writer.read_table(p)
    except (pa.ArrowInvalid, OSError) as e:
        raise CodemixError(f"{p}: unreadable mixture ({str(e).splitlines()[0]})") from None
    return datasets.Dataset(table)
