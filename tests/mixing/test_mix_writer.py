"""The Arrow-built JSON lines are valid JSON that reads back to exactly the rows written, for any
text (quotes, backslashes, control characters, line separators, astral characters), and
gathering rows from many chunks keeps order and repeat ids."""

import json

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from codemix.mixing.formats import SCHEMA
from codemix.mixing.writer import RowSet, read_table, write_jsonl, write_parquet

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
message = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": text})
row = st.fixed_dictionaries({
    "id": text, "source": text, "domain": st.sampled_from(["code", "general"]), "task": st.none() | text,
    "prompt": st.lists(message, min_size=0, max_size=3),
    "completion": st.lists(st.fixed_dictionaries({"role": st.just("assistant"), "content": text}), min_size=1, max_size=1),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=40))
def test_json_lines_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("w") / "data.jsonl"
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    write_jsonl(RowSet(table.to_batches(), np.arange(len(rows))), path)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(rows) + 1
    assert [json.loads(line) for line in lines[:-1]] == rows
    assert all(len(line.decode().splitlines()) == 1 for line in lines[:-1])  # U+2028/2029 escaped too
    assert read_table(path).to_pylist() == rows


def test_rowset_gathers_across_chunks_in_order_with_repeat_ids(tmp_path):
    rows = [{"id": f"s-{i}", "source": "s", "domain": "code", "task": None,
             "prompt": [{"role": "user", "content": f"q{i}"}], "completion": [{"role": "assistant", "content": f"a{i}"}]}
            for i in range(50)]
    table = pa.concat_tables([pa.Table.from_pylist(rows[a:a + 7], schema=SCHEMA) for a in range(0, 50, 7)])
    assert table.column("id").num_chunks == 8
    picks = np.array([49, 0, 13, 13, 7, 48, 0])
    repeats = np.array([0, 0, 0, 1, 0, 0, 1])
    got = RowSet(table.to_batches(), picks, repeats).table().to_pylist()
    assert [r["id"] for r in got] == ["s-49", "s-0", "s-13", "s-13-r1", "s-7", "s-48", "s-0-r1"]
    assert [r["completion"][0]["content"] for r in got] == ["a49", "a0", "a13", "a13", "a7", "a48", "a0"]
    write_parquet(RowSet(table.to_batches(), picks, repeats), tmp_path / "d.parquet")
    # rows without meta are written without the column (as in JSON lines)
    assert read_table(tmp_path / "d.parquet").to_pylist() == [{k: v for k, v in r.items() if k != "meta"} for r in got]
