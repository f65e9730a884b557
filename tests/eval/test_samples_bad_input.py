"""Bad samples end in one `codemix: error:` line naming the file, row or path, with nothing
written: lone surrogates, deep nesting, fake gzip, special files (FIFO, /dev/zero), symbolic
links out of a samples directory, a directory or a non-UTF-8 name where a sample should be, two
files of one sample, over-long lines and samples; and `--skip-bad-rows` scores the rest."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from codemix.core.artifacts import sha256_dir
from codemix.core.errors import CodemixError
from codemix.eval import samples as samples_module
from codemix.eval.samples import SkippedRow, read_samples, samples_hash
from codemix.recipes.cli import main

REPO = Path(__file__).resolve().parents[2]
GOOD = {"task_id": "HumanEval/0", "completion": "    return False\n"}

pytestmark = pytest.mark.usefixtures("private_cache")


def score(tmp_path: Path, samples: Path, *extra: str) -> int:
    return main(["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(tmp_path / "out"),
                 "--tasks", "HumanEval/0", "--k", "1", "--workers", "1", "--timeout", "5", *extra])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codemix: error: "), err
    return err[0]


def write_lines(path: Path, *lines: str | dict) -> Path:
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


def test_a_lone_surrogate_is_refused_at_read_time_naming_the_row(tmp_path, capsys):
    # json.dumps writes the surrogate as the escape \ud800: valid JSON, not Unicode text
    samples = write_lines(tmp_path / "s.jsonl", GOOD, {"task_id": "HumanEval/0", "completion": "    return '\ud800'\n"})
    assert score(tmp_path, samples) == 2
    line = one_error_line(capsys)
    assert "s.jsonl:2: completion holds a lone surrogate '\\ud800' at character 12" in line
    assert "--skip-bad-rows" in line
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written
    # the fixed file scores (no state left behind to trip over)
    write_lines(samples, GOOD, {"task_id": "HumanEval/0", "completion": "    return '?'\n"})
    assert score(tmp_path, samples) == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["n_samples"] == 2


@pytest.mark.parametrize("line, message", [
    ("[" * 100_000, "s.jsonl:1: invalid JSON (nested deeper than the parser's recursion limit)"),
    ('{"task_id": "HumanEval/0", "compl', "s.jsonl:1: invalid JSON (Unterminated string at column 28)"),
    ('{"task_id": "HumanEval/0", "sample_index": 1e999999, "completion": ""}', "s.jsonl:1: sample_index must be"),
])
def test_unparseable_rows_name_their_line(tmp_path, capsys, line, message):
    assert score(tmp_path, write_lines(tmp_path / "s.jsonl", line)) == 2
    assert message in one_error_line(capsys)


def test_gz_name_on_plain_text_and_a_cut_gzip(tmp_path, humaneval_problems):
    plain = write_lines(tmp_path / "s.jsonl.gz", GOOD)
    with pytest.raises(CodemixError, match=r"s.jsonl.gz: not gzip data, though the name ends in .gz$"):
        read_samples(plain, "humaneval", humaneval_problems)
    data = gzip.compress(("\n".join(json.dumps({**GOOD, "sample_index": i}) for i in range(2000)) + "\n").encode())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CodemixError, match=r"cut.jsonl.gz: gzip data damaged or cut short after line \d+"):
        read_samples(cut, "humaneval", humaneval_problems)


def test_symlink_in_a_samples_dir_is_refused_never_followed(tmp_path, capsys):
    secret = tmp_path / "shadow"
    secret.write_text("root:*:19000:0:99999:7:::\n")
    task = tmp_path / "d" / "HumanEval_0"
    task.mkdir(parents=True)
    (task / "0.py").symlink_to(secret)
    assert score(tmp_path, tmp_path / "d") == 2
    line = one_error_line(capsys)
    assert "HumanEval_0/0.py is a symbolic link" in line and "root:" not in line
    assert not (tmp_path / "out").exists()
    # a link that stays inside the directory is refused too: none is followed
    (task / "0.py").unlink()
    (task / "1.py").write_text("def has_close_elements(numbers, threshold):\n    return False\n")
    (task / "0.py").symlink_to("1.py")
    with pytest.raises(CodemixError, match="0.py is a symbolic link"):
        samples_hash(tmp_path / "d")
    # a linked task directory too
    (task / "0.py").unlink()
    (tmp_path / "d" / "HumanEval_1").symlink_to(task)
    with pytest.raises(CodemixError, match="HumanEval_1 is a symbolic link"):
        samples_hash(tmp_path / "d")


def test_directory_or_non_utf8_name_where_a_sample_should_be(tmp_path, capsys, humaneval_problems):
    task = tmp_path / "d" / "HumanEval_0"
    (task / "0.py").mkdir(parents=True)
    assert score(tmp_path, tmp_path / "d") == 2
    assert "d/HumanEval_0/0.py is a directory; a sample is a regular file TASK/N.py" in one_error_line(capsys)
    (task / "0.py").rmdir()
    (task / os.fsdecode(b"\xff.py")).write_text("x = 1\n")
    assert score(tmp_path, tmp_path / "d") == 2
    assert "d/HumanEval_0/\\xff.py: sample files are named N.py" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_two_files_of_one_sample_are_an_error_naming_both(tmp_path, humaneval_problems):
    task = tmp_path / "d" / "HumanEval_0"
    task.mkdir(parents=True)
    for name in ("0.py", "00.py"):
        (task / name).write_text("x = 1\n")
    with pytest.raises(CodemixError, match=r"HumanEval_0/0.py and .*HumanEval_0/00.py are both sample 0 of HumanEval/0"):
        read_samples(tmp_path / "d", "humaneval", humaneval_problems)


def test_samples_hash_of_a_plain_directory_is_unchanged(tmp_path):
    # inputs.json of earlier runs recorded sha256_dir: the same value means they resume
    for rel in ("HumanEval_0/0.py", "HumanEval_0/1.py", "HumanEval_1/0.py", "HumanEval_1.py/notes.txt", "a-b/x.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert samples_hash(tmp_path) == sha256_dir(tmp_path)


def test_line_and_sample_caps(tmp_path, monkeypatch, humaneval_problems):
    monkeypatch.setattr(samples_module, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(samples_module, "MAX_SAMPLE_BYTES", 1000)
    long_line = json.dumps({"task_id": "HumanEval/0", "completion": "#" * 10_000})
    samples = write_lines(tmp_path / "s.jsonl", GOOD, long_line, {**GOOD, "completion": "#" * 2000})
    with pytest.raises(CodemixError, match=r"s.jsonl:2: line longer than 4,096 bytes"):
        read_samples(samples, "humaneval", humaneval_problems)
    skipped: list[SkippedRow] = []
    got = read_samples(samples, "humaneval", humaneval_problems, skipped_rows=skipped)
    assert [s.index for s in got] == [0]  # the row after the long line is read from its own start
    assert skipped == [SkippedRow(2, "line longer than 4,096 bytes"),
                       SkippedRow(3, "completion is 2,000 bytes, over the limit of 1,000 for one sample")]
    task = tmp_path / "d" / "HumanEval_0"
    task.mkdir(parents=True)
    (task / "0.py").write_text("#" * 1001)
    with pytest.raises(CodemixError, match=r"0.py: over the limit of 1,000 bytes for one sample"):
        read_samples(tmp_path / "d", "humaneval", humaneval_problems)


def test_fifo_and_dev_zero_never_hang(tmp_path):
    """In a subprocess with a timeout: a regression here would block (FIFO) or fill memory
    (/dev/zero) instead of failing."""
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    (tmp_path / "zero.jsonl").symlink_to("/dev/zero")
    for name, target in (("fifo_dir", fifo), ("zero_dir", Path("/dev/zero"))):
        (tmp_path / name / "HumanEval_0").mkdir(parents=True)
        (tmp_path / name / "HumanEval_0" / "0.py").symlink_to(target)
    (tmp_path / "raw_fifo_dir" / "HumanEval_0").mkdir(parents=True)
    os.mkfifo(tmp_path / "raw_fifo_dir" / "HumanEval_0" / "0.py")
    script = textwrap.dedent("""
        import sys
        from codemix.recipes.cli import main
        for samples in sys.argv[1:]:
            code = main(["score", "--benchmark", "humaneval", "--samples", samples, "--out", samples + ".out",
                         "--tasks", "HumanEval/0"])
            print(code, flush=True)
    """)
    cases = ["fifo.jsonl", "zero.jsonl", "fifo_dir", "zero_dir", "raw_fifo_dir"]
    proc = subprocess.run([sys.executable, "-c", script, *(str(tmp_path / c) for c in cases)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2"] * len(cases), proc.stderr[-3000:]
    errors = proc.stderr.strip().splitlines()
    assert errors == [
        f"codemix: error: samples: {tmp_path}/fifo.jsonl is a named pipe (FIFO); only regular files are read as samples",
        f"codemix: error: samples: {tmp_path}/zero.jsonl is a character device; only regular files are read as samples",
        *(f"codemix: error: samples: {tmp_path}/{d}/HumanEval_0/0.py is a symbolic link; a samples directory must "
          "hold regular files only (links are not followed: one could point at any file on this machine)"
          for d in ("fifo_dir", "zero_dir")),
        f"codemix: error: samples: {tmp_path}/raw_fifo_dir/HumanEval_0/0.py is a named pipe (FIFO); only regular "
        "files are read as samples",
    ]
    assert not any((tmp_path / f"{c}.out").exists() for c in cases)


def test_skip_bad_rows_scores_the_rest_and_lists_them(tmp_path, capsys):
    samples = write_lines(tmp_path / "s.jsonl", GOOD, '{"completion": "x"}', {**GOOD, "sample_index": 1},
                          '{"task_id": "HumanEval/0", "compl')  # a killed generator's cut last line
    assert score(tmp_path, samples) == 2
    line = one_error_line(capsys)
    assert line == ("codemix: error: " + str(samples) + ":2: row has no task_id; --skip-bad-rows skips such rows "
                    "and lists them")
    assert score(tmp_path, samples, "--skip-bad-rows") == 0
    out = capsys.readouterr()
    assert "2 malformed samples rows skipped (--skip-bad-rows): lines 2, 4" in out.out
    assert "skipped 2 bad row(s)" in out.err and "line 4: invalid JSON (Unterminated string at column 28)" in out.err
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["skipped_rows"] == [{"line": 2, "problem": "row has no task_id"},
                                   {"line": 4, "problem": "invalid JSON (Unterminated string at column 28)"}]
    assert res["n_samples"] == 2
    # a row of another benchmark is not offered as skippable: the samples answer something else
    write_lines(samples, {"task_id": "Mbpp/2", "completion": "x"})
    assert score(tmp_path, samples) == 2
    line = one_error_line(capsys)
    assert "s.jsonl:1: task_id 'Mbpp/2' is not a humaneval task" in line and "--skip-bad-rows" not in line


def test_bigcode_generations_with_a_surrogate_or_deep_nesting(tmp_path, humaneval_problems):
    gen = tmp_path / "generations.json"
    gen.write_text(json.dumps([["def f():\n    return 1\n", "x = '\ud800'\n"]]))
    with pytest.raises(CodemixError, match=r"generations.json\[0\]\[1\]: the program holds a lone surrogate"):
        read_samples(gen, "humaneval", humaneval_problems)
    gen.write_text("[" * 100_000)
    with pytest.raises(CodemixError, match=r"generations.json: invalid JSON \(nested deeper"):
        read_samples(gen, "humaneval", humaneval_problems)
