"""Shared foundations: atomic writes never leave half-written artifacts; manifests gate re-runs."""

import json
import os

import pytest

from codemix.core.artifacts import (
    atomic_path,
    atomic_write_json,
    hash_json,
    is_up_to_date,
    read_manifest,
    sha256_dir,
    write_manifest,
)
from codemix.core.errors import CodemixError


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "data.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_atomic_path_replaces_a_directory_whole(tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "stale.bin").write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "fresh.bin").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_manifest_gates_up_to_date(tmp_path):
    assert read_manifest(tmp_path) is None
    assert not is_up_to_date(tmp_path, "abc")
    write_manifest(tmp_path, {"inputs_hash": "abc", "rows": 3})
    assert is_up_to_date(tmp_path, "abc")
    assert not is_up_to_date(tmp_path, "abd")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(CodemixError, match="manifest.json"):
        read_manifest(tmp_path)


def test_hash_json_ignores_key_order_but_not_values():
    assert hash_json({"a": 1, "b": [1, 2]}) == hash_json({"b": [1, 2], "a": 1})
    assert hash_json({"a": 1}) != hash_json({"a": 2})


def test_sha256_dir_sees_content_and_names(tmp_path):
    (tmp_path / "x").write_text("1")
    h1 = sha256_dir(tmp_path)
    (tmp_path / "x").write_text("2")
    h2 = sha256_dir(tmp_path)
    (tmp_path / "x").rename(tmp_path / "y")
    assert len({h1, h2, sha256_dir(tmp_path)}) == 3


def test_atomic_write_json_round_trips(tmp_path):
    atomic_write_json(tmp_path / "m.json", {"k": [1, "é"]})
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == {"k": [1, "é"]}


def test_a_stage_guard_removes_what_killed_writers_left_and_keeps_live_ones(tmp_path):
    """atomic_path's temporaries of a dead process (SIGKILL skips its clean-up) go when the next
    writer takes the directory's lock; one of a live process, and ordinary dot files, stay."""
    import subprocess
    import sys

    from codemix.core.artifacts import stage_dir_guard

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    (tmp_path / f".data.jsonl.tmp-{dead_pid}").write_text("half a mixture")
    (tmp_path / f".model.old-{dead_pid}").mkdir()
    (tmp_path / f".model.old-{dead_pid}" / "weights").write_text("x")
    live = tmp_path / f".summary.json.tmp-{os.getpid()}"
    live.write_text("being written")
    kept = [tmp_path / ".gitignore", tmp_path / ".notes.tmp-abc"]
    for p in kept:
        p.write_text("mine")
    with stage_dir_guard(tmp_path, what="test"):
        names = sorted(p.name for p in tmp_path.iterdir() if p.name != ".lock")
    assert names == sorted([live.name, *(p.name for p in kept)])
