"""Decontamination removes rows that overlap HumanEval or MBPP (n-grams or verbatim signatures),
replaces them from the same source so the budget holds, lists them in the manifest — and does
not flag our own generated functions or ordinary code instructions."""

import json

import pyarrow as pa
import pytest

from codemix.mixing.benchmark_records import load_humaneval, load_mbpp
from codemix.mixing.config import DecontamConfig
from codemix.mixing.decontam import REASON_NGRAM, REASON_SIGNATURE, build_index, scan
from codemix.mixing.ngrams import tokenize
from helpers.mixing import alpaca_rows, build, mix_config, read_rows, write_jsonl


@pytest.fixture(scope="module")
def mbpp_path(data_file):
    return str(data_file("mbpp/mbpp.jsonl"))


@pytest.fixture(scope="module")
def index(mbpp_path):
    return build_index(DecontamConfig(mbpp_path=mbpp_path))


def _flagged(index, texts):
    m = scan(index, tokenize(pa.array(texts, pa.string())))
    return {int(r): (int(b), index.tasks[int(t)], int(why)) for r, b, t, why in zip(m.rows, m.bench_bits, m.task, m.reason, strict=True)}


def test_index_covers_both_benchmarks(index):
    assert index.names == ["humaneval", "mbpp"]
    assert index.report["humaneval"]["problems"] == 164 and index.report["mbpp"]["problems"] == 500
    assert index.report["humaneval"]["ngrams"] > 10000 and index.report["mbpp"]["ngrams"] > 5000
    assert index.report["humaneval"]["signatures"] == 164


def test_ngram_match_is_case_and_whitespace_insensitive(index):
    he = load_humaneval()
    words = he[7]["prompt"].split()
    quoted = "Here is a task:\n" + "   ".join(w.upper() for w in words[10:24]) + "\nthanks"
    short = " ".join(words[10:22])  # 12 tokens: below the 13-gram threshold
    hits = _flagged(index, ["nothing to see here", quoted, short])
    assert set(hits) == {1}
    assert hits[1][0] == 1 and hits[1][2] == REASON_NGRAM


def test_mbpp_solution_and_tests_are_caught(index, mbpp_path):
    rec = next(r for r in load_mbpp("full", mbpp_path)
               if len(r["code"].split()) > 20 and len(" ".join(r["test_list"]).split()) > 20)
    hits = _flagged(index, ["unrelated text " * 5, rec["code"], "\n".join(rec["test_list"])])
    assert set(hits) == {1, 2}
    assert all(h[1] == f"MBPP/{rec['task_id']}" for h in hits.values())


def test_signatures_are_caught_verbatim_only(index):
    hits = _flagged(index, ["def has_close_elements(numbers: List[float], threshold: float) -> bool:\n    pass",
                            "def remove_Occ(s,ch): \n  return s",
                            "def remove_Occ(s, ch):\n  return s",   # not verbatim (space after the comma)
                            "call has_close_elements(x, 0.5) here"])
    assert set(hits) == {0, 1}
    assert hits[0][1:] == ("HumanEval/0", REASON_SIGNATURE) and hits[1][1:] == ("MBPP/11", REASON_SIGNATURE)


def test_builtin_pyfuncs_are_not_flagged(index):
    from codemix.mixing.builtin import generate_builtin

    rows = generate_builtin("pyfuncs", 20000, seed=11)
    texts = [r["instruction"] + "\n" + r["response"] for r in rows]
    hits = _flagged(index, texts)
    assert len(hits) / len(texts) < 0.001, [texts[i][:200] for i in list(hits)[:3]]


def test_false_positive_rate_on_code_alpaca_is_small(index, data_file):
    raw = json.loads(data_file("instructions/code_alpaca_2k.json").read_text())
    hits = _flagged(index, [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in raw])
    assert len(hits) <= 20  # 2017 real code instructions; a few may genuinely overlap MBPP tasks


def test_planted_rows_are_removed_and_replaced_from_the_same_source(tmp_path, mbpp_path):
    he = load_humaneval()
    mbpp = load_mbpp("full", mbpp_path)
    clean = alpaca_rows(60, "clean")
    planted_he = [{"instruction": "Complete this function.", "input": "", "output": he[i]["prompt"]} for i in range(5)]
    planted_mbpp = [{"instruction": "Solve it.", "input": "", "output": mbpp[i]["code"]} for i in range(40, 45)]
    code = write_jsonl(tmp_path / "code.jsonl", clean[:30] + planted_he + planted_mbpp)
    general = write_jsonl(tmp_path / "general.jsonl", clean[30:])
    sources = [{"name": "code", "path": str(code), "domain": "code"},
               {"name": "general", "path": str(general), "domain": "general"}]
    mix = mix_config(sources, budget=40, general_fraction=0.25, decontaminate={"mbpp_path": mbpp_path})
    manifest, _ = build(tmp_path / "mix", mix)
    rows = read_rows(tmp_path / "mix")
    assert len(rows) == 40 and sum(r["source"] == "code" for r in rows) == 30
    text = "\n".join(r["completion"][0]["content"] for r in rows)
    assert all(he[i]["prompt"] not in text for i in range(5))
    d = manifest["decontamination"]
    assert sorted(d["removed_ids"]["humaneval"]) == [f"code-{i}" for i in range(30, 35)]
    assert sorted(d["removed_ids"]["mbpp"]) == [f"code-{i}" for i in range(35, 40)]
    assert d["removed"] == 10 and manifest["sources"][0]["contaminated"] == 10
    assert manifest["sources"][0]["available"] == 30
    # Off: the planted rows are eligible again.
    off = mix_config(sources, budget=40, general_fraction=0.25, decontaminate={"enabled": False})
    manifest, _ = build(tmp_path / "off", off)
    assert manifest["decontamination"] == {"enabled": False}
    assert manifest["sources"][0]["available"] == 40


def test_missing_mbpp_file_is_named(tmp_path):
    with pytest.raises(Exception, match=r"mix.decontaminate.mbpp_path: .*nope.jsonl: no such file"):
        build_index(DecontamConfig(mbpp_path=str(tmp_path / "nope.jsonl")))


def test_mbpp_from_the_hub_offline_fails_at_once_naming_the_key(monkeypatch):
    import time

    from codemix.core.errors import CodemixError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(CodemixError, match=r"google-research-datasets/mbpp \(full\) needs the Hugging Face Hub, which "
                                           r"cannot be reached \(HF_HUB_OFFLINE=1 is set\); set mix.decontaminate.mbpp_path"):
        build_index(DecontamConfig(benchmarks=["mbpp"]))
    assert time.monotonic() - started < 1
