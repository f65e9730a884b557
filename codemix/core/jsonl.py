"""Reading JSON lines (mixture sources, benchmark files, samples) with `file:line` errors."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError


def iter_json_lines(path: str | os.PathLike, *, max_line_bytes: int | None = None,
                    on_bad_row: Callable[[int, str], None] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a .jsonl / .jsonl.gz file. A line that
    is not UTF-8, not JSON, not an object or longer than `max_line_bytes` is a CodemixError
    naming `file:line`; with `on_bad_row`, it is passed there as (line number, problem) instead
    and reading goes on. A file that is not a regular file, or a .gz that is not gzip data, is
    always an error."""
    import gzip
    import zlib

    p = Path(path)
    if not p.is_file():
        raise CodemixError(f"{p}: not a regular file" if p.exists() else f"{p}: no such file")
    gz = p.name.lower().endswith(".gz")
    with (gzip.open(p, "rb") if gz else open(p, "rb")) as f:
        lineno = 0
        while True:
            lineno += 1
            try:
                raw = f.readline(max_line_bytes + 1 if max_line_bytes else -1)
                too_long = max_line_bytes is not None and len(raw) > max_line_bytes
                if too_long:  # read past the rest of the line in bounded pieces, never holding it whole
                    while raw and not raw.endswith(b"\n"):
                        raw = f.readline(max_line_bytes)
            except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                if lineno == 1 and isinstance(e, gzip.BadGzipFile):
                    raise CodemixError(f"{p}: not gzip data, though the name ends in .gz") from None
                raise CodemixError(f"{p}: gzip data damaged or cut short after line {lineno - 1} ({e})") from None
            if not raw:
                return
            if too_long:
                row, problem = None, f"line longer than {max_line_bytes:,} bytes"
            else:
                row, problem = parse_json_line(raw)
            if problem is not None:
                if on_bad_row is None:
                    raise CodemixError(f"{p}:{lineno}: {problem}")
                on_bad_row(lineno, problem)
            elif row is not None:
                yield lineno, row


def parse_json_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) for a JSON object line, (None, None) for a blank one, (None, problem)
    otherwise."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
    if not line.strip():
        return None, None
    try:
        row = json.loads(line.rstrip("\r\n"))  # a line cut inside a string: "Unterminated string", not the newline
    except json.JSONDecodeError as e:
        # Some of json's messages end in "starting at" / "at", which the column used to follow.
        reason = e.msg.removesuffix(" at").removesuffix(" starting")
        return None, f"invalid JSON ({reason} at column {e.colno})"
    except RecursionError:
        return None, "invalid JSON (nested deeper than the parser's recursion limit)"
    if not isinstance(row, dict):
        return None, f"expected a JSON object per line, got {type(row).__name__}"
    return row, None
