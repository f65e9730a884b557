"""Write the mixture (JSON lines or parquet) and read it back.

JSON lines are built with Arrow string kernels instead of json.dumps per row: escaping is a
handful of `replace_substring` passes over all text at once (only for the characters present),
and the lines are joined by list and element-wise joins, so the bytes of a 32k-row batch come
out of one buffer. Measured on 32k Code-Alpaca-like rows: to_pylist + json.dumps 0.37 s CPU,
this 0.07 s (~5x less; 2.2 s instead of 11 s per million rows). The output is plain
RFC 8259 JSON (UTF-8, no ASCII escaping), one object per line, keys in schema order; the
sha256 of those bytes is the mixture's content hash.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codemix.core.progress import progress
from codemix.mixing.formats import SCHEMA

WRITE_BATCH_ROWS = 32768
# (byte, character, escape) for the characters JSON strings must escape; backslash first.
_ESCAPES = ((0x5C, "\\", "\\\\"), (0x22, '"', '\\"'), (0x0A, "\n", "\\n"), (0x0D, "\r", "\\r"), (0x09, "\t", "\\t"))
_RARE_CONTROL = tuple(c for c in range(32) if c not in (0x09, 0x0A, 0x0D))


def _present(data: np.ndarray) -> set[int]:
    """Which of the escapable bytes occur (a few SIMD compares; a replace pass costs ~4x more)."""
    found = {byte for byte, _, _ in _ESCAPES if np.count_nonzero(data == byte)}
    controls = np.count_nonzero(data < 0x20) - sum(np.count_nonzero(data == b) for b in (0x09, 0x0A, 0x0D))
    if controls:
        found.add(0x00)
    # U+0085, U+2028, U+2029 are legal in JSON strings, but str.splitlines() breaks lines on them.
    for lead in (0xC2, 0xE2):
        if np.count_nonzero(data == lead):
            found.add(lead)
    return found


def json_string(arr: pa.Array) -> pa.Array:
    """JSON string literals of a string array without nulls."""
    _, data = _string_data(arr)
    present = _present(data)
    for byte, raw, escaped in _ESCAPES:
        if byte in present:
            arr = pc.replace_substring(arr, raw, escaped)
    if 0x00 in present:
        for code in _RARE_CONTROL:
            arr = pc.replace_substring(arr, chr(code), f"\\u{code:04x}")
    for lead, codes in ((0xC2, (0x85,)), (0xE2, (0x2028, 0x2029))):
        if lead in present:
            for code in codes:
                arr = pc.replace_substring(arr, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', arr, '"', "")


def _string_data(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array, without copying."""
    arr = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    if len(arr) == 0:
        return np.zeros(1, np.int32), np.zeros(0, np.uint8)
    off = np.frombuffer(arr.buffers()[1], np.int32, len(arr) + 1, offset=arr.offset * 4)
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
    return off, data[int(off[0]):int(off[-1])]


def _messages_parts(lst: pa.Array) -> list:
    """Pieces that, joined element-wise, give each row's message list as JSON."""
    flat = lst.flatten()
    offsets = lst.offsets
    # Roles come from the normaliser (system/user/assistant): no escaping needed.
    role, content = flat.field("role"), json_string(flat.field("content"))
    counts = np.diff(offsets.to_numpy(zero_copy_only=False))
    if len(counts) and (counts == 1).all():  # one message per row (every completion, most prompts)
        return ['[{"role":"', role, '","content":', content, "}]"]
    items = pc.binary_join_element_wise('{"role":"', role, '","content":', content, "}", "")
    if offsets[0].as_py():
        offsets = pc.subtract(offsets, offsets[0])
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, items), ",")
    return ["[", joined, "]"]


def json_lines(batch: pa.Table) -> pa.Array:
    """One JSON object per row, each ending in a newline (SCHEMA columns)."""
    col = lambda name: batch.column(name).combine_chunks()  # noqa: E731
    task = col("task")
    task_json = pc.if_else(pc.is_null(task), "null", json_string(pc.fill_null(task, "")))
    return pc.binary_join_element_wise(
        '{"id":', json_string(col("id")), ',"source":', json_string(col("source")),
        ',"domain":', json_string(col("domain")), ',"task":', task_json,
        ',"prompt":', *_messages_parts(col("prompt")), ',"completion":', *_messages_parts(col("completion")),
        _meta_json(col("meta")) if "meta" in batch.column_names else "", "}\n", "")


def _meta_json(meta: pa.Array) -> pa.Array:
    """`,"meta":{...}` for rows with meta (already JSON text), nothing for the others: mixtures
    without meta keep exactly the bytes (and content hashes) they had before the field existed."""
    if meta.null_count == len(meta):
        return pa.repeat(pa.scalar(""), len(meta))
    joined = pc.binary_join_element_wise(',"meta":', meta, "")
    return pc.fill_null(joined, "")


class RowSet:
    """Rows picked (with repeats) from a list of record batches, in a given order, gathered one
    output batch at a time.

    `Table.take` on a multi-chunk table concatenates every chunk first (0.7 s for a 500k-row
    pool, per call), so rows are taken chunk by chunk instead: group the wanted rows by chunk,
    take from each chunk, then restore the order with one small take."""

    def __init__(self, batches: list[pa.RecordBatch], rows: np.ndarray, repeats: np.ndarray | None = None):
        self.batches = [b for b in batches if b.num_rows]
        self.starts = np.cumsum([0] + [b.num_rows for b in self.batches])[:-1].astype(np.int64)
        self.rows = np.asarray(rows, np.int64)
        self.repeats = repeats if repeats is not None and repeats.any() else None

    def __len__(self) -> int:
        return len(self.rows)

    def gather(self, start: int, stop: int) -> pa.Table:
        wanted = self.rows[start:stop]
        if not len(wanted):
            return SCHEMA.empty_table()
        chunk = np.searchsorted(self.starts, wanted, side="right") - 1
        order = np.argsort(chunk, kind="stable")
        sorted_chunk = chunk[order]
        bounds = np.flatnonzero(np.diff(sorted_chunk)) + 1
        parts = []
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            c = int(sorted_chunk[lo])
            parts.append(self.batches[c].take(pa.array(wanted[order[lo:hi]] - self.starts[c])))
        grouped = pa.Table.from_batches(parts).combine_chunks()
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        table = grouped.take(pa.array(inverse))
        if self.repeats is not None:  # upsampled copies: <id>-r1, <id>-r2, ...
            rep = self.repeats[start:stop]
            if rep.any():
                suffix = pc.binary_join_element_wise("r", pa.array(rep).cast(pa.string()), "")
                ids = pc.if_else(pa.array(rep > 0), pc.binary_join_element_wise(table.column("id"), suffix, "-"),
                                 table.column("id"))
                table = table.set_column(0, "id", ids)
        return table.cast(SCHEMA)

    def table(self) -> pa.Table:
        return self.gather(0, len(self))

    def ranges(self, size: int) -> list[tuple[int, int]]:
        return [(a, min(a + size, len(self))) for a in range(0, len(self), size)]


def utf8_bytes(lines: pa.Array) -> memoryview:
    """The contiguous UTF-8 bytes of a string array (no copy)."""
    off, data = _string_data(lines)
    return memoryview(data)


def write_jsonl(rows: RowSet, path: Path) -> str:
    """Write the rows as JSON lines; returns the sha256 of the file's bytes.

    Batches are gathered and serialised on two threads (Arrow kernels release the GIL) while
    this thread hashes and writes the previous ones, in order."""
    from codemix.core.threads import bounded_map

    h = hashlib.sha256()
    ranges = rows.ranges(WRITE_BATCH_ROWS)
    with open(path, "wb") as f:
        lines = bounded_map(lambda r: json_lines(rows.gather(*r)), ranges)
        for batch in progress(lines, desc="writing", unit="batch", total=len(ranges)):
            data = utf8_bytes(batch)
            h.update(data)
            f.write(data)
    return h.hexdigest()


def write_parquet(rows: RowSet, path: Path) -> str:
    import pyarrow.parquet as pq

    from codemix.core.artifacts import sha256_file
    from codemix.core.threads import bounded_map

    ranges = rows.ranges(WRITE_BATCH_ROWS)
    # As in JSON lines, a mixture without meta has no meta column (files as before the field).
    has_meta = any(b.column("meta").null_count < b.num_rows for b in rows.batches if "meta" in b.schema.names)
    schema = SCHEMA if has_meta else pa.schema([f for f in SCHEMA if f.name != "meta"])
    with pq.ParquetWriter(path, schema) as writer:
        for batch in progress(bounded_map(lambda r: rows.gather(*r), ranges), desc="writing", unit="batch",
                              total=len(ranges)):
            writer.write_table(batch if has_meta else batch.drop_columns(["meta"]))
    return sha256_file(path)


def read_table(path: Path) -> pa.Table:
    """A mixture data file (.jsonl or .parquet) as an Arrow table with the mixture schema."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.json as pj

    if path.stat().st_size == 0:
        return SCHEMA.empty_table()
    # meta is a JSON object in the file (its type is inferred), JSON text in the schema.
    opts = pj.ParseOptions(explicit_schema=pa.schema([f for f in SCHEMA if f.name != "meta"]),
                           unexpected_field_behavior="infer")
    return pj.read_json(path, read_options=pj.ReadOptions(block_size=32 << 20), parse_options=opts)
