"""Loading sources: local files of every kind, directories, the Hub, built-ins — and each bad
input ends in one clear CodemixError naming the file, line, key or row, with nothing written."""

import gzip
import json
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from codemix.core.errors import CodemixError
from codemix.mixing.config import SourceConfig
from codemix.mixing.sources import fingerprint, load, resolve
from helpers.mixing import alpaca_rows, build, mix_config, write_jsonl


def _src(path, **kw):
    return SourceConfig(name=kw.pop("name", "s"), path=str(path), domain=kw.pop("domain", "code"), **kw)


def _table(path, **kw):
    src = _src(path, **kw)
    return load(src, resolve(src))[0]


def test_jsonl_json_parquet_gzip_and_directories(tmp_path):
    rows = alpaca_rows(5, "x")
    write_jsonl(tmp_path / "a.jsonl", rows)
    (tmp_path / "b.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("a.jsonl", "b.json", "c.parquet", "d.jsonl.gz"):
        assert _table(tmp_path / name).to_pylist() == rows, name
    # A Hub-style folder: the split's files only, in name order.
    d = tmp_path / "ds" / "data"
    write_jsonl(d / "train-00000.jsonl", rows[:2])
    write_jsonl(d / "train-00001.jsonl", rows[2:])
    write_jsonl(d / "test-00000.jsonl", alpaca_rows(3, "held-out"))
    assert _table(tmp_path / "ds").to_pylist() == rows
    assert len(_table(tmp_path / "ds", split="test")) == 3


def test_local_fingerprint_is_the_file_sha256(tmp_path):
    import hashlib

    p = write_jsonl(tmp_path / "a.jsonl", alpaca_rows(3, "x"))
    src = _src(p)
    fp = fingerprint(src, resolve(src))
    assert fp == {"kind": "local", "files": [["a.jsonl", hashlib.sha256(p.read_bytes()).hexdigest()]]}


def test_missing_file(tmp_path):
    with pytest.raises(CodemixError, match=r"source 's' \(.*nope.jsonl\): no such file or directory"):
        resolve(_src(tmp_path / "nope.jsonl"))
    with pytest.raises(CodemixError, match="no such file or directory"):
        resolve(_src("./data/missing"))


def test_invalid_json_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": \n{"instruction": "d"}\n')
    with pytest.raises(CodemixError, match=r"bad.jsonl:3: invalid JSON"):
        _table(p)
    p.write_text('{"instruction": "a", "output": "b"}\n[1, 2]\n')
    with pytest.raises(CodemixError, match=r"bad.jsonl:2: expected a JSON object"):
        _table(p)
    q = tmp_path / "bad.json"
    q.write_text('[\n {"instruction": "a"},\n {"instruction": }\n]')
    with pytest.raises(CodemixError, match=r"bad.json:3: invalid JSON"):
        _table(q)


def test_non_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(b'{"instruction": "a", "output": "b"}\n{"instruction": "caf\xe9", "output": "b"}\n')
    with pytest.raises(CodemixError, match=r"latin1.jsonl:2: not UTF-8 text"):
        _table(p)
    q = tmp_path / "latin1.json"
    q.write_bytes(b'[\n{"instruction": "caf\xe9", "output": "b"}]')
    with pytest.raises(CodemixError, match=r"latin1.json:2: not UTF-8 text"):
        _table(q)


def test_fields_mixing_text_and_numbers_become_text(tmp_path):
    p = write_jsonl(tmp_path / "mixed.jsonl", [{"instruction": "a", "input": 5, "output": "b"},
                                               {"instruction": "c", "input": "x", "output": 2.5}])
    assert _table(p).to_pylist() == [{"instruction": "a", "input": "5", "output": "b"},
                                      {"instruction": "c", "input": "x", "output": "2.5"}]
    q = write_jsonl(tmp_path / "clash.jsonl", [{"instances": [{"input": "a"}]}, {"instances": "oops"}])
    with pytest.raises(CodemixError, match=r"clash.jsonl: rows disagree on a field's type"):
        _table(q)


def test_empty_file_and_unsupported_type(tmp_path):
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(CodemixError, match=r"e.jsonl: no rows"):
        _table(tmp_path / "e.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(CodemixError, match="unsupported file type"):
        resolve(_src(tmp_path / "x.csv"))


def test_hub_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    src = _src("codemix-test/definitely-not-cached", revision="main")
    assert resolve(src).kind == "hub"
    assert fingerprint(src, resolve(src))["revision"] == "main"
    started = time.monotonic()
    with pytest.raises(CodemixError, match=r"source 's' \(codemix-test/definitely-not-cached\) needs the Hugging "
                                           r"Face Hub, which cannot be reached \(HF_HUB_OFFLINE=1 is set\); use a local"):
        load(src, resolve(src))
    assert time.monotonic() - started < 1.0  # at once: no library import, no retries


def test_builtin_sources_and_unknown_builtin():
    src = _src("builtin:pyfuncs")
    table, info = load(src, resolve(src), builtin_rows=7, seed=3)
    assert table.num_rows == 7 and set(table.column_names) == {"instruction", "response", "task"}
    assert info["natural_domain"] == "code"
    bad = _src("builtin:nope")
    with pytest.raises(CodemixError, match=r"unknown built-in source 'nope' \(available: builtin:pyfuncs, builtin:texttasks, builtin:markov\)"):
        load(bad, resolve(bad), builtin_rows=1)


def test_bad_input_writes_nothing(tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", alpaca_rows(10, "g"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\nnot json\n')
    mix = mix_config([{"name": "g", "path": str(good), "domain": "code", "share": 1},
                      {"name": "b", "path": str(bad), "domain": "code", "share": 1}], budget=4)
    out = tmp_path / "out" / "mix"
    with pytest.raises(CodemixError, match=r"bad.jsonl:2: invalid JSON"):
        build(out, mix)
    # only the stage's released lock file may be there (it is taken before the up-to-date check)
    assert not out.exists() or [p.name for p in out.iterdir()] in ([], [".lock"])


def test_shortage_error_names_source_quota_and_available(tmp_path):
    p = write_jsonl(tmp_path / "small.jsonl", alpaca_rows(10, "s"))
    mix = mix_config([{"name": "small", "path": str(p), "domain": "code"}], budget=25)
    with pytest.raises(CodemixError, match=r"source 'small' \(.*small.jsonl\): 10 rows.*quota is 25 rows but only 10 are available"):
        build(tmp_path / "out", mix)
