"""Where a source's rows come from: a local file or directory (.jsonl, .json, .parquet), a dataset
on the Hugging Face Hub, or a built-in generator (`builtin:<name>`). Every loader returns an
Arrow table of the source's own columns; `codemix.mixing.formats` normalises it.

JSON lines are read with `pyarrow.json` (multi-threaded, ~10x faster than json.loads per line).
Arrow does not check UTF-8 or say which line broke, so after a failure (or a failed UTF-8
validation) the file is scanned line by line in Python to name the exact line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from codemix.core.artifacts import sha256_file
from codemix.core.errors import CodemixError
from codemix.core.jsonl import iter_json_lines
from codemix.mixing.config import SourceConfig

DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet", ".jsonl.gz", ".json.gz", ".ndjson.gz")
BLOCK_SIZE = 32 << 20  # pyarrow.json block; one JSON line must fit in a block


@dataclass
class SourceRef:
    kind: str                                   # local | hub | builtin
    files: list[Path] = field(default_factory=list)
    builtin: str | None = None


def where(src: SourceConfig) -> str:
    return f"source '{src.name}' ({src.path})"


def _is_data_file(p: Path) -> bool:
    return p.is_file() and p.name.lower().endswith(DATA_SUFFIXES) and not p.name.startswith(".")


def resolve(src: SourceConfig) -> SourceRef:
    """Decide what `path` names, and find the files of a local source."""
    if src.path.startswith("builtin:"):
        return SourceRef("builtin", builtin=src.path.removeprefix("builtin:"))
    p = Path(src.path).expanduser()
    if p.is_file():
        if not _is_data_file(p):
            raise CodemixError(f"{where(src)}: unsupported file type; use one of {', '.join(DATA_SUFFIXES)}")
        return SourceRef("local", files=[p])
    if p.is_dir():
        return SourceRef("local", files=_dir_files(p, src))
    looks_local = (p.is_absolute() or src.path.startswith((".", "~")) or src.path.lower().endswith(DATA_SUFFIXES)
                   or src.path.count("/") > 1 or "\\" in src.path)
    if looks_local or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", src.path):
        raise CodemixError(f"{where(src)}: no such file or directory")
    return SourceRef("hub")


def _dir_files(root: Path, src: SourceConfig) -> list[Path]:
    files = sorted(q for q in root.rglob("*") if _is_data_file(q)
                   and not any(part.startswith(".") for part in q.relative_to(root).parts))
    if not files:
        raise CodemixError(f"{where(src)}: directory has no data files ({', '.join(DATA_SUFFIXES)})")
    # A Hub-style folder keeps splits side by side (data/train-*.parquet, data/test-*.parquet):
    # take the split's files when names say which split they hold.
    pattern = re.compile(rf"(^|[-_./]){re.escape(src.split)}([-_.]|$)")
    in_split = [q for q in files if pattern.search(str(q.relative_to(root)))]
    return in_split or files


# ---------------------------------------------------------------- fingerprints

def builtin_code_hash() -> str:
    """Hash of the generators' source code: any change to them changes the rows."""
    from codemix.mixing import builtin

    root = Path(builtin.__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def fingerprint(src: SourceConfig, ref: SourceRef) -> dict[str, Any]:
    """Everything outside the recipe that determines this source's rows."""
    if ref.kind == "local":
        base = ref.files[0].parent if len(ref.files) == 1 else Path(src.path).expanduser()
        return {"kind": "local", "files": [[str(f.relative_to(base)), sha256_file(f)] for f in ref.files]}
    if ref.kind == "hub":
        return {"kind": "hub", "id": src.path, "config": src.config, "split": src.split, "revision": src.revision}
    from codemix.mixing import builtin

    return {"kind": "builtin", "name": ref.builtin, "split": src.split, "code": builtin_code_hash(),
            "version": getattr(builtin, "GENERATOR_VERSION", None)}


# ---------------------------------------------------------------- loading

def load(src: SourceConfig, ref: SourceRef, *, builtin_rows: int = 0, seed: int = 0) -> tuple[pa.Table, dict[str, Any]]:
    """(table of the source's own columns, provenance details for the manifest)."""
    if ref.kind == "builtin":
        return _load_builtin(src, ref, builtin_rows, seed)
    if ref.kind == "hub":
        return _load_hub(src)
    tables = [_read_file(f, src) for f in ref.files]
    if len(tables) == 1:
        table = tables[0]
    else:
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise CodemixError(f"{where(src)}: its files have incompatible columns ({e})") from None
    if table.num_rows == 0:
        raise CodemixError(f"{where(src)}: no rows")
    return table, {"files": [str(f) for f in ref.files]}


def _read_file(path: Path, src: SourceConfig) -> pa.Table:
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path)
        except (pa.ArrowException, OSError) as e:
            raise CodemixError(f"{path}: not a readable parquet file ({e})") from None
    if name.endswith((".json", ".json.gz")) and _first_char(path) == "[":
        return _read_json_array(path)
    return _read_jsonl(path)


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _first_char(path: Path) -> str:
    with _open_bytes(path) as f:
        head = f.read(4096).lstrip()
    return head[:1].decode("latin-1")


def _read_jsonl(path: Path) -> pa.Table:
    import pyarrow.json as pj

    block = BLOCK_SIZE
    while True:
        try:
            with pa.input_stream(str(path), compression="detect") as stream:
                table = pj.read_json(stream, read_options=pj.ReadOptions(block_size=block))
            table.validate(full=True)  # pyarrow.json does not reject invalid UTF-8 by itself
            return table
        except pa.ArrowInvalid as e:
            if "straddling" in str(e) and block < (1 << 30):
                block *= 4  # a line longer than the block: retry with bigger blocks
                continue
            if "Empty JSON file" in str(e):
                raise CodemixError(f"{path}: no rows (empty file)") from None
            _locate_jsonl_error(path)
            if "changed from" in str(e):  # e.g. "input": 5 in one row, "input": "x" in another
                return _read_mixed_types(path)
            raise CodemixError(f"{path}: cannot read as JSON lines: {str(e).splitlines()[0]}") from None


def _read_mixed_types(path: Path) -> pa.Table:
    """Slow path for files whose scalar fields mix text and numbers: numbers become text."""
    from codemix.mixing.benchmark_records import read_json_records

    rows = read_json_records(path)
    mixed = {k for k in {k for r in rows for k in r}
             if len({type(r[k]) for r in rows if r.get(k) is not None} & {str, int, float, bool}) > 1}
    for r in rows:
        for k in mixed:
            if r.get(k) is not None and not isinstance(r[k], str):
                r[k] = json.dumps(r[k]) if not isinstance(r[k], (int, float, bool)) else str(r[k])
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise CodemixError(f"{path}: rows disagree on a field's type ({e})") from None


def _locate_jsonl_error(path: Path) -> None:
    """Raise a CodemixError naming the first line that is not UTF-8 or not a JSON object."""
    for _ in iter_json_lines(path):
        pass


def _read_json_array(path: Path) -> pa.Table:
    with _open_bytes(path) as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise CodemixError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from None
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as e:
        raise CodemixError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CodemixError(f"{path}: expected a JSON list of objects (or JSON lines)")
    if not rows:
        raise CodemixError(f"{path}: no rows (empty list)")
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise CodemixError(f"{path}: rows disagree on a field's type ({e})") from None


def _load_hub(src: SourceConfig) -> tuple[pa.Table, dict[str, Any]]:
    from codemix.mixing.hub import require_hub

    require_hub(where(src), "use a local copy of the data set (a .jsonl/.json/.parquet file or directory) as its path",
                repo_id=src.path, repo_type="dataset")
    try:
        from datasets import load_dataset

        ds = load_dataset(src.path, src.config, revision=src.revision, split=src.split)
    except Exception as e:  # offline, unknown id, bad config/split: one line, not a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CodemixError(f"{where(src)}: could not load it from the Hugging Face Hub "
                           f"({type(e).__name__}: {first}); check the id/config/split, or use a local file") from None
    if ds._indices is not None:
        ds = ds.flatten_indices()
    return ds.data.table, {"hub": src.path, "config": src.config, "split": src.split,
                           "revision": src.revision, "commit": _hub_commit(src)}


def _hub_commit(src: SourceConfig) -> str | None:
    """The commit the revision resolves to, when the Hub can be asked (None offline)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(src.path, revision=src.revision, timeout=10).sha
    except Exception:
        return None


def _load_builtin(src: SourceConfig, ref: SourceRef, n: int, seed: int) -> tuple[pa.Table, dict[str, Any]]:
    from codemix.mixing import builtin

    if ref.builtin not in builtin.BUILTIN_SOURCES:
        raise CodemixError(f"{where(src)}: unknown built-in source {ref.builtin!r} "
                           f"(available: {', '.join('builtin:' + k for k in builtin.BUILTIN_SOURCES)})")
    try:
        table, facts = builtin.builtin_table(ref.builtin, n, seed, src.split, src.markov)
    except CodemixError as e:
        raise CodemixError(f"{where(src)}: {e}") from None
    return table, {"builtin": ref.builtin, "generated": n, "seed": seed, "natural_domain": builtin.BUILTIN_SOURCES[ref.builtin],
                   **facts}
