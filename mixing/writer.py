"""Write the mixture (JSON lines or parquet) and read it back.

JSON lines are built with Arrow string kernels instead of json.dumps per row: escaping is a
handful of `replace_substring` passes over all text at once, and the lines are joined by list
and element-wise joins, so the bytes of a 65k-row batch come out of one buffer. json.dumps on
nested dicts costs ~5 us per row (5 s per million rows); this is ~10x less. The output is plain
RFC 8259 JSON (UTF-8, no ASCII escaping), one object per line, keys in schema order; the
sha256 of those bytes is the mixture's content hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mixing.common import progress
from mixing.formats import SCHEMA

WRITE_BATCH_ROWS = 32768
# (byte, replacement) for the characters JSON strings must escape; backslash first.
_ESCAPES = ((0x5C, "\\", "\\\\"), (0x22, '"', '\\"'), (0x0A, "\n", "\\n"), (0x0D, "\r", "\\r"), (0x09, "\t", "\\t"))
_RARE_CONTROL = tuple(c for c in range(32) if c not in (0x09, 0x0A, 0x0D))


def _present(data: np.ndarray) -> set[int]:
    """Which of the escapable bytes occur (a few SIMD compares; a replace pass costs ~4x more)."""
    found = {byte for byte, _, _ in _ESCAPES if np.count_nonzero(data == byte)}
    controls = np.count_nonzero(data < 0x20) - sum(np.count_nonzero(data == b) for b in (0x09, 0x0A, 0x0D))
    if controls:
        found.add(0x00)
    if np.count_nonzero(data == 0xE2):  # lead byte of U+2028/U+2029 (legal JSON, but splitlines() splits)
        found.add(0xE2)
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
    if 0xE2 in present:
        for code in (0x2028, 0x2029):
            arr = pc.replace_substring(arr, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', arr, '"', "")


def _string_data(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    arr = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
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
        "}\n", "")


def _batches(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def utf8_bytes(lines: pa.Array) -> memoryview:
    """The contiguous UTF-8 bytes of a string array (no copy)."""
    off, data = _string_data(lines)
    return memoryview(data)


def write_jsonl(table: pa.Table, path: Path) -> str:
    """Write `table` as JSON lines; returns the sha256 of the file's bytes.

    Batches are serialised on two threads (Arrow kernels release the GIL) while this thread
    hashes and writes the previous ones, in order."""
    from mixing.cleaning import bounded_map

    h = hashlib.sha256()
    with open(path, "wb") as f:
        lines = bounded_map(json_lines, _batches(table, WRITE_BATCH_ROWS))
        for batch in progress(lines, desc="writing", unit="batch", total=-(-table.num_rows // WRITE_BATCH_ROWS)):
            data = utf8_bytes(batch)
            h.update(data)
            f.write(data)
    return h.hexdigest()


def write_parquet(table: pa.Table, path: Path) -> str:
    import pyarrow.parquet as pq

    from mixing.common import sha256_file

    with pq.ParquetWriter(path, SCHEMA) as writer:
        for batch in progress(_batches(table, WRITE_BATCH_ROWS), desc="writing", unit="batch",
                              total=-(-table.num_rows // WRITE_BATCH_ROWS)):
            writer.write_table(batch.cast(SCHEMA))
    return sha256_file(path)


def read_table(path: Path) -> pa.Table:
    """A mixture data file (.jsonl or .parquet) as an Arrow table with the mixture schema."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.json as pj

    if path.stat().st_size == 0:
        return SCHEMA.empty_table()
    opts = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer")
    return pj.read_json(path, read_options=pj.ReadOptions(block_size=32 << 20), parse_options=opts)
