"""Bad input to sweep, report, diversity, compare and the benchmark names ends in one clear line
or a useful result: over-long cell names, --out naming a file, a one-row file, MBPP offline,
`humaneval_plus`, and float32 noise in `compare --json`."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from codemix.recipes.cli import main
from codemix.recipes.sweep.runner import MAX_CELL_NAME_BYTES, cell_name, load_sweep
from helpers.mixing import alpaca_rows, write_jsonl
from helpers.report import write_results, write_sweep

pytestmark = pytest.mark.usefixtures("private_cache")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codemix: error: "), err
    return err[0]


def test_long_swept_values_give_bounded_stable_distinct_cell_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    deep = tmp_path / ("d" * 120) / ("e" * 120)  # swept paths: 250+ bytes each once formatted
    sources = [write_jsonl(deep / f"code{i}.jsonl", alpaca_rows(60, "code")) for i in range(2)]
    general = write_jsonl(tmp_path / "general.jsonl", alpaca_rows(60, "general"))
    recipe = {"name": "long", "seed": 1, "output_dir": str(tmp_path / "out"),
              "mix": {"budget": 40, "general_fraction": 0.1, "decontaminate": {"enabled": False},
                      "sources": [{"name": "code", "path": str(sources[0]), "domain": "code"},
                                  {"name": "general", "path": str(general), "domain": "general"}]},
              "sweep": {"grid": {"mix.sources.0.path": [str(p) for p in sources], "seed": [1, 2]}}}
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    names = [c.name for c in load_sweep(str(path)).cells]
    assert len(set(names)) == 4 and all(len(n.encode()) <= MAX_CELL_NAME_BYTES for n in names)
    assert all(re.fullmatch(r"path=tmp_[^,]*~[0-9a-f]{12},seed=[12]", n) for n in names), names
    assert [c.name for c in load_sweep(str(path)).cells] == names  # stable across loads
    assert main(["validate", str(path)]) == 0
    assert main(["sweep", str(path)]) == 0  # the cells' directories can be made
    assert sorted(p.name for p in (tmp_path / "out" / "cells").iterdir()) == sorted(names)
    capsys.readouterr()


def test_cell_names_within_the_bound_are_unchanged_and_many_axes_cut_the_whole_name():
    labels = {f"k{i}": f"k{i}" for i in range(40)}
    short = {"k0": 0.1, "k1": "exact"}
    assert cell_name(short, labels) == "k0=0.1,k1=exact"  # sweeps started before resume into these
    many = {f"k{i}": "v" * 30 for i in range(40)}  # 40 labels alone leave no room for cut values
    name = cell_name(many, labels)
    assert len(name) == MAX_CELL_NAME_BYTES and re.search(r"~[0-9a-f]{12}$", name)
    assert cell_name({**many, "k39": "w" * 30}, labels) != name


def test_report_out_that_is_a_file(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "sw", fractions=(0.0, 0.1))
    existing = tmp_path / "existing"
    existing.write_text("keep me\n")
    for out, message in ((existing, f"--out {existing} is a file; "),
                         (existing / "sub", f"--out {existing}/sub: {existing} is not a directory; ")):
        assert main(["report", str(sweep), "--out", str(out), "--resamples", "200"]) == 2
        assert message in one_error_line(capsys)
    assert existing.read_text() == "keep me\n"


def test_diversity_of_a_one_row_file_writes_what_is_computable(tmp_path, capsys):
    data = write_jsonl(tmp_path / "one.jsonl", [{"instruction": "Write a function that adds two numbers",
                                                 "output": "def add(a, b):\n    return a + b\n"}])
    out = tmp_path / "div"
    assert main(["diversity", str(data), "--out", str(out), "--embedding", "tfidf", "--benchmarks", "none"]) == 0
    block = json.loads((out / "diversity.json").read_text())
    whole = block["groups"]["all"]
    assert block["rows"] == 1 and whole["vendi"] == 1.0 and whole["mean_cosine_distance"] is None
    assert block["map"] is None and not (out / "diversity_map.png").exists()
    assert any(n.startswith("one row: mean_cosine_distance") for n in block["notes"])
    assert "note: one row:" in capsys.readouterr().out


def test_diversity_offline_note_names_the_flag(monkeypatch):
    from codemix.mixing.config import DiversityConfig
    from codemix.mixing.diversity.measure import benchmark_problems

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts, _, notes = benchmark_problems(DiversityConfig(benchmarks=["mbpp"]))
    assert "mbpp" not in texts
    assert len(notes) == 1 and notes[0].startswith("mbpp: skipped (")
    assert notes[0].endswith("; pass a local file: `codemix diversity --mbpp PATH`, or mix.diversity.mbpp_path in a recipe)")
    assert "instead" not in notes[0]


@pytest.mark.parametrize("typo, meant", [("humaneval_plus", "humaneval+"), ("MBPP-Plus", "mbpp+"),
                                         ("mbppplus", "mbpp+"), ("humanevl", "humaneval")])
def test_did_you_mean_reads_plus_as_plus(tmp_path, capsys, typo, meant):
    assert main(["score", "--benchmark", typo, "--samples", str(tmp_path / "s.jsonl")]) == 2
    assert f"unknown benchmark {typo!r} (did you mean {meant!r}?)" in one_error_line(capsys)
    from codemix.eval.config import EvalConfig

    with pytest.raises(ValueError, match=re.escape(f"did you mean {meant!r}")):
        EvalConfig(benchmarks=[typo])


def test_compare_json_prints_clean_numbers(tmp_path, capsys):
    a = {f"T/{i}": {"n": 1, "c": int(i % 3 == 0)} for i in range(30)}
    b = {f"T/{i}": {"n": 1, "c": int(i % 5 == 0)} for i in range(30)}
    write_results(tmp_path / "a", "humaneval", a, problems_hash="h")
    write_results(tmp_path / "b", "humaneval", b, problems_hash="h")
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"]) == 0
    text = capsys.readouterr().out
    r = json.loads(text)
    lo, hi = r["ci"]
    # 30 problems scored 0/1: every resampled difference is a multiple of 1/30
    assert lo < r["delta"] < hi and all(abs(v * 30 - round(v * 30)) < 1e-6 for v in (lo, hi))
    # float32 would print as -0.23333333432674408; bounds carry at most 7 significant digits
    shown = re.search(r'"ci": \[([^\]]*)\]', text).group(1)
    assert all(len(re.sub(r"[-.]|^0+|e.*", "", x.strip()).lstrip("0")) <= 7 for x in shown.split(",")), shown
