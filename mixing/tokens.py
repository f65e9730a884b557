"""Token counts of normalised rows: what a token budget (`mix.unit: tokens`) is measured in.

A row's tokens are those of its message contents — the prompt's turns and the completion
(`over: prompt_completion`), or the completion alone (`over: completion`, the tokens a
completion-only loss trains on) — joined by a newline. The chat template's own tokens are left
out: they are a fixed few per turn whatever the mixture, so they would blur the comparison of
sources without changing which rows are drawn much.

Counters: `byte` (UTF-8 bytes; exactly the byte tokenizer's count, and offline) or a tokenizer
that `transformers.AutoTokenizer` loads (Hub id or local directory), counted without special
tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codemix.core.errors import CodemixError

BYTE = "byte"
# Rows tokenised per call of a model tokenizer when counting towards a quota: one call of the
# Rust tokenizer on 4096 short rows takes ~20 ms, so a 2M-token quota of ~300-token rows needs
# two calls and the tail past the quota costs at most one more.
CHUNK = 4096


def row_texts(table: pa.Table, over: str) -> pa.Array:
    """One string per row: the contents of the counted messages joined by a newline."""
    columns = ("completion",) if over == "completion" else ("prompt", "completion")
    parts = []
    for name in columns:
        col = table.column(name).combine_chunks()
        if isinstance(col, pa.ChunkedArray):  # an empty table
            col = pa.array([], col.type)
        contents = pc.fill_null(col.flatten().field("content"), "")
        lists = pa.ListArray.from_arrays(col.offsets, contents)
        parts.append(pc.fill_null(pc.binary_join(lists, "\n"), ""))
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "\n")


@dataclass
class TokenCounter:
    name: str            # "byte" or the tokenizer's id / path
    over: str            # prompt_completion | completion
    tokenizer: Any = None
    revision: str | None = None

    @classmethod
    def load(cls, name: str, over: str, revision: str | None = None) -> TokenCounter:
        if name == BYTE:
            return cls(name, over)
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CodemixError(f"mix.tokens.tokenizer: cannot load tokenizer {name!r} ({first}); name a local "
                               f"tokenizer directory or use tokenizer: byte") from None
        return cls(name, over, tokenizer, revision)

    def describe(self) -> dict[str, str]:
        return {"tokenizer": self.name, **({"revision": self.revision} if self.revision else {}), "over": self.over,
                "text": "message contents joined by a newline; chat-template tokens not counted"}

    def count(self, table: pa.Table, rows: np.ndarray | None = None) -> np.ndarray:
        """Tokens of each row (of `rows` when given, in that order), as int64."""
        if rows is not None:
            table = table.take(pa.array(np.asarray(rows, np.int64)))
        texts = row_texts(table, self.over)
        if self.tokenizer is None:
            return pc.binary_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
        out = np.zeros(len(texts), np.int64)
        for start in range(0, len(texts), CHUNK):
            chunk = texts.slice(start, CHUNK).to_pylist()
            ids = self.tokenizer(chunk, add_special_tokens=False)["input_ids"]
            out[start:start + len(chunk)] = [len(x) for x in ids]
        return out

    def count_until(self, table: pa.Table, order: np.ndarray, quota: int) -> np.ndarray:
        """Tokens of the rows `order` names, counted in chunks only as far as the first rows whose
        sum reaches `quota` (all of them when it is never reached): counting a 1M-row pool with a
        model tokenizer to draw a few thousand rows would take minutes."""
        if self.tokenizer is None:  # bytes cost nothing to count: count all
            return self.count(table, order)
        counted: list[np.ndarray] = []
        total = 0
        for start in range(0, len(order), CHUNK):
            lengths = self.count(table, order[start:start + CHUNK])
            counted.append(lengths)
            total += int(lengths.sum())
            if total >= quota:
                break
        return np.concatenate(counted) if counted else np.zeros(0, np.int64)
