"""The instruction text of normalised rows, as one Arrow string per row.

Near-duplicate detection and the diversity metrics look at what a row *asks* — its user turns —
not at the response, earlier assistant turns or a system prompt: one system prompt shared by a whole source
("You are a helpful assistant ...") would otherwise make every row of it look alike.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def instruction_texts(table: pa.Table) -> pa.Array:
    """The user turns of each row's prompt joined by a newline (a normalised-schema table)."""
    prompt = table.column("prompt").combine_chunks()
    if isinstance(prompt, pa.ChunkedArray):  # an empty table
        prompt = pa.array([], prompt.type)
    flat = prompt.flatten()
    keep = pc.equal(pc.fill_null(flat.field("role"), "user"), "user")
    parents = pc.list_parent_indices(prompt).to_numpy(zero_copy_only=False)
    keep_np = keep.to_numpy(zero_copy_only=False)
    counts = np.bincount(parents[keep_np], minlength=len(prompt)).astype(np.int32)
    offsets = np.zeros(len(prompt) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    contents = pc.fill_null(flat.field("content").filter(keep), "")
    lists = pa.ListArray.from_arrays(pa.array(offsets), contents)
    return pc.fill_null(pc.binary_join(lists, "\n"), "")
