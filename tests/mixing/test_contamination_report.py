"""The contamination report beside a mixture: rows removed per source and benchmark, by reason,
with matched pairs, in the manifest, in `codemix mix`'s summary and in `codemix report`."""

import pytest

from codemix.mixing.benchmark_records import load_humaneval, load_mbpp
from codemix.mixing.contamination import shared_ngram, snippet
from codemix.mixing.report import contamination_table
from codemix.recipes.report.data import mix_composition
from codemix.recipes.report.tables import contamination_lines
from helpers.mixing import alpaca_rows, build, mix_config, write_jsonl


@pytest.fixture(scope="module")
def mbpp_path(data_file):
    return str(data_file("mbpp/mbpp.jsonl"))


@pytest.fixture()
def built(tmp_path, mbpp_path):
    he, mbpp = load_humaneval(), load_mbpp("full", mbpp_path)
    code = alpaca_rows(40, "code")
    # rows 3 and 8: a HumanEval prompt (n-gram); row 5: only HumanEval/0's signature; row 9: an MBPP solution
    code[3] = {"instruction": "Complete this.", "input": "", "output": he[2]["prompt"]}
    code[8] = {"instruction": "Finish it.", "input": "", "output": he[7]["prompt"] + he[7]["canonical_solution"]}
    code[5] = {"instruction": "Write it.", "input": "", "output": "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n    pass"}
    rec = next(r for r in mbpp if r["task_id"] == 20)
    code[9] = {"instruction": "Solve.", "input": "", "output": rec["code"]}
    general = alpaca_rows(20, "general")
    general[0] = {"instruction": "Explain.", "input": "", "output": he[4]["prompt"]}
    sources = [{"name": "code", "path": str(write_jsonl(tmp_path / "code.jsonl", code)), "domain": "code"},
               {"name": "gen", "path": str(write_jsonl(tmp_path / "gen.jsonl", general)), "domain": "general"}]
    manifest, _ = build(tmp_path / "m", mix_config(sources, budget=40, general_fraction=0.25,
                                                   decontaminate={"mbpp_path": mbpp_path}))
    return manifest, he


def test_manifest_counts_rows_per_source_benchmark_and_reason(built):
    manifest, he = built
    block = manifest["decontamination"]["contamination"]
    assert block["benchmarks"] == ["humaneval", "mbpp"]
    code_he = block["by_source"]["code"]["humaneval"]
    assert code_he["removed"] == 3 and code_he["signature"] == 1 and code_he["ngram"] == 2
    assert block["by_source"]["code"]["mbpp"]["removed"] == 1
    assert block["by_source"]["gen"]["humaneval"]["removed"] == 1 and "mbpp" not in block["by_source"]["gen"]
    assert block["totals"] == {"humaneval": 4, "mbpp": 1}
    assert sum(block["totals"].values()) >= manifest["decontamination"]["removed"]  # a row may match both


def test_pairs_show_the_row_beside_the_benchmark_problem_it_matched(built):
    manifest, he = built
    pairs = {p["id"]: p for p in manifest["decontamination"]["contamination"]["by_source"]["code"]["humaneval"]["pairs"]}
    assert set(pairs) == {"code-3", "code-5", "code-8"}
    assert pairs["code-3"]["task"] == "HumanEval/2" and pairs["code-3"]["reason"] == "ngram"
    assert pairs["code-3"]["benchmark"] == snippet(he[2]["prompt"])
    assert pairs["code-3"]["shared"] and pairs["code-3"]["shared"] in " ".join(he[2]["prompt"].lower().split())
    assert pairs["code-5"]["reason"] == "signature" and pairs["code-5"]["task"] == "HumanEval/0"
    assert pairs["code-5"]["shared"] is None and "has_close_elements" in pairs["code-5"]["row"]


def test_mix_summary_and_report_show_the_table(built):
    manifest, _ = built
    table = contamination_table(manifest)
    assert "code" in table and "3 (2/1/0)" in table and "1 (1/0/0)" in table
    cell = type("C", (), {"mix": mix_composition(manifest)})()
    lines = contamination_lines([cell, cell])
    assert lines[0].startswith("| source | humaneval") and "| code | 3 (2/1/0) | 1 (1/0/0) |" in lines
    assert any(line.startswith("- code x humaneval (ngram, HumanEval/2, row code-3)") for line in lines)


def test_helpers():
    assert snippet("a  b\n c") == "a b c" and snippet("x" * 300).endswith("...") and len(snippet("x" * 300)) == 240
    assert shared_ngram("One two three four", ["zero TWO three four five"], 3) == "two three four"
    assert shared_ngram("one two", ["one two"], 3) is None
