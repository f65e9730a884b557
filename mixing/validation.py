"""Validation rows (`mix.validation`): a fixed sample of every domain, held out of training, on
which training records its loss per domain.

A mixture study compares cells that differ in shares, budget and training seed, so the held-out
rows must not move with any of them: each domain's rows are drawn from that domain's sources
alone, cleaned as the training rows are (benchmark decontamination, exact dedup within the
domain), in an order seeded by `validation.seed` and the domain label only. Built-in generators
are unlimited streams seeded by the recipe seed for training; for validation each gets a stream
of its own, seeded by `validation.seed` and the source name, with `rows_per_domain` rows plus a
margin. The training draw then skips every row whose dedup hash (the normalised text of every
turn) is a validation row's — the same text from another generated stream included — and, with
`dedup: near`, every near-copy of a validation instruction.

A generator whose distribution itself depends on its seed gives validation rows from another
distribution than the training rows: builtin:markov draws its rule set from the seed, so its
validation rows apply the rules of `validation.seed`'s rule set, not those a cell trained on
(which already differ between recipe seeds); its loss measures rules not trained on.
builtin:pyfuncs and builtin:texttasks fix their task families and held-out combinations
independently of the seed, so their validation rows come from the training distribution.

Rows keep the mixture's row format (domain and source included) under the id `val-<id>`: a
generated row's id is its index in its stream, so without the prefix a validation row and a
training row of different text could share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codemix.core.errors import CodemixError
from codemix.mixing import cleaning, decontam, formats, neardup, sources, tokens, writer
from codemix.mixing.config import MixConfig, SourceConfig
from codemix.mixing.quotas import derive_seed
from codemix.mixing.texts import instruction_texts

VALIDATION_FILE = "validation.jsonl"
ID_PREFIX = "val-"
# Generated rows per built-in source on the first try: the rows wanted plus a margin for rows
# removed as contaminated or duplicate (markov's 256-rule default repeats ~1 row in 50 at 2,000
# rows); doubled, same stream, up to GROW_TRIES times while a domain is still short.
GROW_TRIES = 5


@dataclass
class HeldOut:
    table: pa.Table                       # the validation rows, domain after domain (mixture schema)
    hashes: np.ndarray                    # their dedup hashes, sorted: the training draw skips these
    report: dict[str, Any]                # the manifest's `validation` block (content hash added on write)
    signatures: neardup.Sketches | None   # MinHash sketches of their instructions (dedup: near)


def _margin(rows: int) -> int:
    return rows + max(100, rows // 10)


def _pool(src: SourceConfig, ref: sources.SourceRef, index: decontam.BenchmarkIndex | None,
          builtin_rows: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """(normalised rows of one source that are not contaminated, their dedup hashes)."""
    table, _ = sources.load(src, ref, builtin_rows=builtin_rows,
                            seed=derive_seed(seed, "validation", "builtin", src.name) & 0x7FFFFFFF)
    norm = formats.normalise(table, src.format, src.columns, source=src.name, domain=src.domain,
                             where=sources.where(src))
    found = cleaning.clean(norm.table, index, True, f"{src.name} (validation)")
    if index is not None and index.near is not None:
        sig = neardup.signatures(instruction_texts(norm.table), index.near.params)
        found = cleaning.flag_near_copies(found, index, sig)
    keep = np.ones(norm.table.num_rows, bool)
    keep[found.flagged] = False
    rows = np.flatnonzero(keep)
    return norm.table.take(pa.array(rows)), found.row_hashes[rows]


def _draw_domain(domain: str, members: list[SourceConfig], refs: dict[str, sources.SourceRef], mix: MixConfig,
                 index: decontam.BenchmarkIndex | None) -> tuple[pa.Table, np.ndarray]:
    """`rows_per_domain` distinct rows of one domain and their dedup hashes, in draw order."""
    cfg = mix.validation
    wanted = cfg.rows_per_domain
    generate = _margin(wanted)
    for _attempt in range(GROW_TRIES):
        pools = [_pool(s, refs[s.name], index, generate, cfg.seed) for s in members]
        table = pa.concat_tables([t for t, _ in pools]).combine_chunks()
        hashes = np.concatenate([h for _, h in pools])
        order = np.random.default_rng(derive_seed(cfg.seed, "validation", domain)).permutation(len(hashes))
        first = np.sort(np.unique(hashes[order], return_index=True)[1])  # first copy of each text, in draw order
        distinct = order[first]
        if len(distinct) >= wanted or all(refs[s.name].kind != "builtin" for s in members):
            break
        generate *= 2  # same streams: the rows generated so far stay their first rows
    if len(distinct) < wanted:
        names = ", ".join(s.name for s in members)
        raise CodemixError(f"mix.validation: domain '{domain}' (sources {names}) has {len(distinct)} usable rows "
                           f"(after decontamination and dedup) but rows_per_domain is {wanted}; lower "
                           "mix.validation.rows_per_domain")
    chosen = distinct[:wanted]
    return table.take(pa.array(chosen)), hashes[chosen]


def draw(mix: MixConfig, refs: dict[str, sources.SourceRef], index: decontam.BenchmarkIndex | None,
         counter: tokens.TokenCounter, near: neardup.LSHParams | None) -> HeldOut:
    """The validation rows of every domain (in the order domains first appear among the sources)."""
    cfg = mix.validation
    domains = list(dict.fromkeys(s.domain for s in mix.sources))
    tables, hashes, by_domain = [], [], {}
    for d in domains:
        members = [s for s in mix.sources if s.domain == d]
        table, h = _draw_domain(d, members, refs, mix, index)
        per_source = pc.value_counts(table.column("source")).to_pylist()
        by_domain[d] = {"rows": table.num_rows, "tokens": int(counter.count(table).sum()),
                        "sources": {c["values"]: c["counts"] for c in per_source}}
        tables.append(table)
        hashes.append(h)
    table = pa.concat_tables(tables).combine_chunks()
    ids = pc.binary_join_element_wise(ID_PREFIX, table.column("id"), "")
    table = table.set_column(table.schema.get_field_index("id"), "id", ids).cast(formats.SCHEMA)
    report = {"file": VALIDATION_FILE, "rows_per_domain": cfg.rows_per_domain, "seed": cfg.seed,
              "rows": table.num_rows, "tokens": {**counter.describe(), "total": sum(v["tokens"] for v in by_domain.values())},
              "domains": by_domain,
              "held_out_by": "dedup hash (normalised text of every turn)" + (", and near-copies of the instruction"
                                                                              if near is not None else "")}
    signatures = neardup.signatures(instruction_texts(table), near) if near is not None else None
    return HeldOut(table, np.sort(np.concatenate(hashes)), report, signatures)


def held_out_mask(row_hashes: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """True for rows whose hash is a validation row's (`held_out` sorted): a binary search, as
    in the pipeline's dedup against earlier sources."""
    if not len(held_out) or not len(row_hashes):
        return np.zeros(len(row_hashes), bool)
    at = np.minimum(np.searchsorted(held_out, row_hashes), len(held_out) - 1)
    return held_out[at] == row_hashes


def write(held: HeldOut, tmp: Path) -> dict[str, Any]:
    """Write the rows as JSON lines to `tmp` (renamed into place by the caller); the manifest block."""
    content_hash = writer.write_jsonl(writer.RowSet(held.table.to_batches(), np.arange(held.table.num_rows)), tmp)
    return {**held.report, "content_hash": content_hash}
