"""Reading JSON lines (mixture sources, benchmark files, samples) with `file:line` errors."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError


def iter_json_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a .jsonl / .jsonl.gz file. A line that
    is not UTF-8, not JSON or not an object is a CodemixError naming `file:line`."""
    import gzip

    p = Path(path)
    if not p.is_file():
        raise CodemixError(f"{p}: no such file")
    with (gzip.open(p, "rb") if p.name.lower().endswith(".gz") else open(p, "rb")) as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise CodemixError(f"{p}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CodemixError(f"{p}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise CodemixError(f"{p}:{lineno}: expected a JSON object per line, got {type(row).__name__}")
            yield lineno, row
