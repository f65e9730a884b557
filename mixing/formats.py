"""Format adapters: turn a source's own rows (an Arrow table) into normalised instruction rows

    {"id", "source", "domain", "task", "prompt": [messages], "completion": [assistant message], "meta"}

(`meta`: a generator's facts about the row as JSON text, null for other sources.)

Formats (`format:` in a recipe; `columns:` maps a format field to the source's column name):

    alpaca             instruction, input (optional), output
    oss_instruct       problem, solution                      (Magicoder OSS-Instruct; task <- lang)
    prompt_completion  prompt, completion: strings, or message lists (trl's conversational form)
    instances          instruction, instances[{input, output}] (Self-Instruct seed tasks; one row
                       per instance; task <- name)
    sharegpt           conversations[{from, value}]            (human/gpt/system turns)
    messages           messages[{role, content}]
    auto               detected from the column names

Every single-turn format also takes optional `system` and `task` fields. Multi-turn rows keep the
turns before the last assistant message in `prompt`. Rows whose instruction (any user turn) or
response is empty or whitespace-only are dropped and counted.

Everything is done with Arrow kernels and numpy on whole batches: a million rows normalise in
about a second, where building Python dicts per row would take ten.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codemix.core.errors import CodemixError

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("domain", pa.string()), ("task", pa.string()),
    ("prompt", pa.list_(MESSAGE)), ("completion", pa.list_(MESSAGE)),
    # A generator's machine-readable facts about the row (JSON text; builtin:markov's x, y, input,
    # output, noop): carried from a source's string column `meta`, null otherwise.
    ("meta", pa.string()),
])

FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # format: (required, optional)
    "alpaca": (("instruction", "output"), ("input", "system", "task")),
    "oss_instruct": (("problem", "solution"), ("system", "task")),
    "prompt_completion": (("prompt", "completion"), ("system", "task")),
    "instances": (("instruction", "instances"), ("system", "task")),
    "sharegpt": (("conversations",), ("task",)),
    "messages": (("messages",), ("task",)),
}
# Columns a format reads by default when they are not named like the field.
DEFAULT_COLUMNS = {"oss_instruct": {"task": "lang"}, "instances": {"task": "name"}}
# `auto`: the first rule whose columns are all present wins (extra column renames in the third slot).
AUTO_RULES: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    ("messages", ("messages",), {}),
    ("sharegpt", ("conversations",), {}),
    ("instances", ("instruction", "instances"), {}),
    ("alpaca", ("instruction", "output"), {}),
    ("alpaca", ("instruction", "response"), {"output": "response"}),
    ("oss_instruct", ("problem", "solution"), {}),
    ("prompt_completion", ("prompt", "completion"), {}),
)
ROLES = {"user": "user", "human": "user", "system": "system", "assistant": "assistant",
         "gpt": "assistant", "model": "assistant", "chatgpt": "assistant", "bard": "assistant", "bing": "assistant"}
_CANON = ("system", "user", "assistant")


@dataclass
class Normalised:
    table: pa.Table           # SCHEMA
    records: int              # rows in the source
    candidates: int           # rows after expanding instances
    empty: int                # dropped: empty/whitespace-only instruction or response
    format: str               # the format used (auto resolved)


def resolve_format(columns_seen: list[str], fmt: str, mapping: dict[str, str], where: str) -> tuple[str, dict[str, str]]:
    """The concrete format and its {field: source column} map, or a one-line error."""
    seen = set(columns_seen)
    listing = ", ".join(columns_seen) or "(none)"
    if fmt == "auto":
        renamed = seen | set(mapping)
        for name, needed, extra in AUTO_RULES:
            if all(c in renamed for c in needed):
                fmt, mapping = name, {**extra, **mapping}
                break
        else:
            raise CodemixError(f"{where}: cannot detect the format from its columns ({listing}); set format: "
                               f"one of {', '.join(FIELDS)}, and columns: to map fields onto your columns")
    if fmt not in FIELDS:
        raise CodemixError(f"{where}: unknown format {fmt!r}; use one of {', '.join(FIELDS)} or auto")
    required, optional = FIELDS[fmt]
    for key, col in mapping.items():
        if key not in required + optional:
            raise CodemixError(f"{where}: columns.{key}: not a field of format {fmt} "
                               f"(fields: {', '.join(required + optional)})")
        if col not in seen:
            raise CodemixError(f"{where}: columns.{key} = {col!r}, but the source has no such column (columns: {listing})")
    resolved: dict[str, str] = {}
    for f in required + optional:
        col = mapping.get(f) or (f if f in seen else DEFAULT_COLUMNS.get(fmt, {}).get(f))
        if col in seen:
            resolved[f] = col
    missing = [f for f in required if f not in resolved]
    if missing:
        raise CodemixError(f"{where}: format {fmt} needs column(s) {', '.join(missing)}; the source has: {listing}; "
                           f"map them with columns: {{{missing[0]}: <column>}}")
    return fmt, resolved


# ---------------------------------------------------------------- small Arrow helpers

def _text(arr: pa.Array, what: str, where: str) -> pa.Array:
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_null(t) or pa.types.is_integer(t) \
            or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_dictionary(t):
        return arr.cast(pa.string())
    raise CodemixError(f"{where}: column {what!r} must hold text, found {t}")


def _blank(arr: pa.Array) -> np.ndarray:
    """True where null, empty or whitespace-only."""
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.fill_null(pc.equal(pc.binary_length(trimmed), 0), True).to_numpy(zero_copy_only=False)


def _list_offsets(lst: pa.Array) -> np.ndarray:
    off = lst.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
    return off - off[0]


def _messages(roles: pa.Array, contents: pa.Array, offsets: np.ndarray) -> pa.Array:
    values = pa.StructArray.from_arrays([roles.cast(pa.string()), contents.cast(pa.string())], fields=list(MESSAGE))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)


def _one_message(role: str, contents: pa.Array) -> pa.Array:
    n = len(contents)
    return _messages(pa.repeat(pa.scalar(role), n), contents, np.arange(n + 1))


def _join_if(first: pa.Array, second: pa.Array | None, sep: str = "\n\n") -> pa.Array:
    """first + sep + second where second is non-blank, else first (Alpaca's instruction + input)."""
    if second is None:
        return first
    joined = pc.binary_join_element_wise(first, second, sep)
    return pc.if_else(pa.array(_blank(second)), first, joined)


def _single_turn(system: pa.Array | None, user: pa.Array, assistant: pa.Array) -> tuple[pa.Array, pa.Array]:
    n = len(user)
    has_system = ~_blank(system) if system is not None else np.zeros(n, bool)
    if not has_system.any():  # the common case: the user text becomes the messages' values as is
        return _one_message("user", user), _one_message("assistant", assistant)
    counts = 1 + has_system.astype(np.int64)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    take = np.empty(int(offsets[-1]), np.int64)
    take[offsets[:-1] + has_system] = np.arange(n)
    take[offsets[:-1][has_system]] = n + np.flatnonzero(has_system)
    pool = pa.concat_arrays([user, system]) if system is not None else user
    roles = pa.array(["user", "system"]).take(pa.array((take >= n).astype(np.int8)))
    return _messages(roles, pool.take(pa.array(take)), offsets), _one_message("assistant", assistant)


# ---------------------------------------------------------------- per-format batch adapters
# Each returns (row index within the batch, sub-index or None, task, prompt, completion, keep mask).

def _alpaca_like(b: pa.RecordBatch, cols: dict[str, str], user_f: str, out_f: str, where: str):
    get = lambda f: _text(b.column(cols[f]), cols[f], where) if f in cols else None  # noqa: E731
    ins, out = get(user_f), get(out_f)
    user = _join_if(ins, get("input"))
    prompt, completion = _single_turn(get("system"), user, out)
    keep = ~(_blank(ins) | _blank(out))
    return np.arange(len(b)), None, get("task"), prompt, completion, keep


def _instances(b: pa.RecordBatch, cols: dict[str, str], where: str):
    lst = b.column(cols["instances"])
    if not (pa.types.is_list(lst.type) or pa.types.is_large_list(lst.type)) or not pa.types.is_struct(lst.type.value_type):
        raise CodemixError(f"{where}: column {cols['instances']!r} must be a list of {{input, output}} objects, found {lst.type}")
    names = [f.name for f in lst.type.value_type]
    if "output" not in names:
        raise CodemixError(f"{where}: instances lack an 'output' field (fields: {', '.join(names)})")
    flat = lst.flatten()
    parents = pc.list_parent_indices(lst).to_numpy(zero_copy_only=False).astype(np.int64)
    rank = np.arange(len(parents)) - _list_offsets(lst)[parents]
    take = pa.array(parents)
    ins = _text(b.column(cols["instruction"]), cols["instruction"], where).take(take)
    inp = _text(flat.field("input"), "instances.input", where) if "input" in names else None
    out = _text(flat.field("output"), "instances.output", where)
    system = _text(b.column(cols["system"]), cols["system"], where).take(take) if "system" in cols else None
    task = _text(b.column(cols["task"]), cols["task"], where).take(take) if "task" in cols else None
    prompt, completion = _single_turn(system, _join_if(ins, inp), out)
    keep = ~(_blank(ins) | _blank(out))
    return parents, rank, task, prompt, completion, keep


def _message_parts(lst: pa.Array, column: str, where: str) -> tuple[pa.Array, pa.Array, np.ndarray]:
    if not (pa.types.is_list(lst.type) or pa.types.is_large_list(lst.type)) or not pa.types.is_struct(lst.type.value_type):
        raise CodemixError(f"{where}: column {column!r} must be a list of message objects, found {lst.type}")
    names = [f.name for f in lst.type.value_type]
    role_f = "role" if "role" in names else "from" if "from" in names else None
    content_f = "content" if "content" in names else "value" if "value" in names else None
    if role_f is None or content_f is None:
        raise CodemixError(f"{where}: messages in {column!r} need role/content (or from/value) fields; found {', '.join(names)}")
    flat = lst.flatten()
    parents = pc.list_parent_indices(lst).to_numpy(zero_copy_only=False).astype(np.int64)
    roles = pc.utf8_lower(_text(flat.field(role_f), f"{column}.{role_f}", where))
    codes = pc.index_in(roles, pa.array(list(ROLES)))
    if codes.null_count:
        bad = int(pc.index(pc.is_null(codes), True).as_py())
        raise CodemixError(f"{where}: row {int(parents[bad]) + 1}: unknown role {roles[bad].as_py()!r} in {column!r} "
                           f"(known: {', '.join(ROLES)})")
    canon_of = np.array([_CANON.index(ROLES[r]) for r in ROLES], np.int8)
    canon = canon_of[codes.to_numpy(zero_copy_only=False)]
    return canon, _text(flat.field(content_f), f"{column}.{content_f}", where), parents


def _conversation(canon: np.ndarray, contents: pa.Array, parents: np.ndarray, n: int):
    """Prompt = every non-blank turn before the last assistant turn; completion = that turn."""
    blank = _blank(contents)
    asst = np.flatnonzero(canon == 2)
    last = np.full(n, -1, np.int64)
    if len(asst):
        final = np.r_[parents[asst][1:] != parents[asst][:-1], True]
        last[parents[asst][final]] = asst[final]
    has_asst = last >= 0
    in_prompt = np.arange(len(canon)) < last[parents] if len(canon) else np.zeros(0, bool)
    has_user = np.bincount(parents[in_prompt & (canon == 1) & ~blank], minlength=n)[:n] > 0
    answer_blank = np.ones(n, bool)
    answer_blank[has_asst] = blank[last[has_asst]]
    keep = has_asst & has_user & ~answer_blank
    sel = np.flatnonzero(in_prompt & ~blank)
    counts = np.bincount(parents[sel], minlength=n)[:n]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    roles = pa.array(list(_CANON)).take(pa.array(canon[sel]))
    prompt = _messages(roles, contents.take(pa.array(sel)), offsets)
    answer = contents.take(pa.array(np.where(has_asst, last, 0))) if len(contents) else pa.nulls(n, pa.string())
    return prompt, _one_message("assistant", answer), keep


def _multi_turn(b: pa.RecordBatch, cols: dict[str, str], field: str, where: str):
    canon, contents, parents = _message_parts(b.column(cols[field]), cols[field], where)
    prompt, completion, keep = _conversation(canon, contents, parents, len(b))
    task = _text(b.column(cols["task"]), cols["task"], where) if "task" in cols else None
    return np.arange(len(b)), None, task, prompt, completion, keep


def _prompt_completion(b: pa.RecordBatch, cols: dict[str, str], where: str):
    p, c = b.column(cols["prompt"]), b.column(cols["completion"])
    if pa.types.is_list(p.type) or pa.types.is_large_list(p.type):
        # trl's conversational prompt/completion: the completion's messages follow the prompt's.
        pr, pc_, pp = _message_parts(p, cols["prompt"], where)
        cr, cc, cp = _message_parts(c, cols["completion"], where)
        order = np.argsort(np.concatenate([pp, cp]), kind="stable")
        canon = np.concatenate([pr, cr])[order]
        contents = pa.concat_arrays([pc_, cc]).take(pa.array(order))
        prompt, completion, keep = _conversation(canon, contents, np.concatenate([pp, cp])[order], len(b))
        task = _text(b.column(cols["task"]), cols["task"], where) if "task" in cols else None
        return np.arange(len(b)), None, task, prompt, completion, keep
    return _alpaca_like(b, cols, "prompt", "completion", where)


def _adapt(b: pa.RecordBatch, fmt: str, cols: dict[str, str], where: str):
    if fmt == "alpaca":
        return _alpaca_like(b, cols, "instruction", "output", where)
    if fmt == "oss_instruct":
        return _alpaca_like(b, cols, "problem", "solution", where)
    if fmt == "prompt_completion":
        return _prompt_completion(b, cols, where)
    if fmt == "instances":
        return _instances(b, cols, where)
    return _multi_turn(b, cols, "conversations" if fmt == "sharegpt" else "messages", where)


def _meta(batch: pa.RecordBatch, rows: np.ndarray) -> pa.Array:
    """The source's `meta` JSON text per output row (builtin generators), else nulls."""
    if "meta" in batch.schema.names and pa.types.is_string(batch.schema.field("meta").type):
        return batch.column("meta").take(pa.array(rows))
    return pa.nulls(len(rows), pa.string())


def normalise(table: pa.Table, fmt: str, mapping: dict[str, str], *, source: str, domain: str,
              where: str, batch_rows: int = 65536) -> Normalised:
    """All rows of `table` in the normalised schema (empty ones dropped and counted)."""
    fmt, cols = resolve_format(table.column_names, fmt, mapping, where)
    parts: list[pa.Table] = []
    base = candidates = empty = 0
    for batch in table.to_batches(max_chunksize=batch_rows):
        rows, sub, task, prompt, completion, keep = _adapt(batch, fmt, cols, where)
        candidates += len(keep)
        empty += int((~keep).sum())
        ids = pa.array((rows + base).astype(np.int64)).cast(pa.string())
        if sub is not None:
            ids = pc.binary_join_element_wise(ids, pa.array(sub).cast(pa.string()), ".")
        ids = pc.binary_join_element_wise(pa.scalar(source), ids, "-")
        n = len(keep)
        task = task if task is not None else pa.nulls(n, pa.string())
        meta = _meta(batch, rows)
        part = pa.Table.from_arrays(
            [ids, pa.repeat(pa.scalar(source), n), pa.repeat(pa.scalar(domain), n), task, prompt, completion, meta],
            schema=SCHEMA)
        parts.append(part.filter(pa.array(keep)) if not keep.all() else part)
        base += len(batch)
    out = pa.concat_tables(parts) if parts else SCHEMA.empty_table()
    return Normalised(out, table.num_rows, candidates, empty, fmt)
