"""Every format adapter on real files (../shared/data/instructions) and on small files written
here, through the real loader: rows come out in the normalised, trl-ready schema."""

import json

import pyarrow as pa
import pytest

from codemix.core.errors import CodemixError
from codemix.mixing.config import SourceConfig
from codemix.mixing.formats import SCHEMA, normalise
from codemix.mixing.sources import load, resolve
from helpers.mixing import write_jsonl


def _load(path, fmt="auto", columns=None, name="src", domain="general"):
    src = SourceConfig(name=name, path=str(path), format=fmt, domain=domain, columns=columns or {})
    table, _ = load(src, resolve(src))
    return normalise(table, src.format, src.columns, source=src.name, domain=src.domain, where=f"source '{name}'")


def _rows(norm):
    assert norm.table.schema == SCHEMA
    return norm.table.to_pylist()


def test_alpaca_on_code_alpaca(data_file):
    path = data_file("instructions/code_alpaca_2k.json", exact=True)  # asserts the sample's row count
    raw = json.loads(path.read_text())
    norm = _load(path, "alpaca", domain="code")
    rows = _rows(norm)
    assert norm.records == 2017 and norm.format == "alpaca"
    assert len(rows) + norm.empty == 2017
    with_input = next(i for i, r in enumerate(raw) if r["input"].strip() and r["output"].strip())
    row = next(r for r in rows if r["id"] == f"src-{with_input}")
    assert row["prompt"] == [{"role": "user", "content": raw[with_input]["instruction"] + "\n\n" + raw[with_input]["input"]}]
    assert row["completion"] == [{"role": "assistant", "content": raw[with_input]["output"]}]
    assert row["domain"] == "code" and row["source"] == "src" and row["task"] is None
    # Empty or whitespace-only fields are dropped and counted.
    blank = sum(1 for r in raw if not r["instruction"].strip() or not r["output"].strip())
    assert norm.empty == blank


@pytest.mark.parametrize("name, records", [("alpaca_seed_tasks.jsonl", 175), ("self_instruct_user_oriented.jsonl", 252)])
def test_instances_expand_one_row_per_instance(data_file, name, records):
    path = data_file(f"instructions/{name}")
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    norm = _load(path)  # auto-detected
    assert norm.format == "instances" and norm.records == records
    assert norm.candidates == sum(len(r["instances"]) for r in raw)
    rows = {r["id"]: r for r in _rows(norm)}
    k = max(range(len(raw)), key=lambda i: len(raw[i]["instances"]))
    j = len(raw[k]["instances"]) - 1
    inst = raw[k]["instances"][j]
    row = rows[f"src-{k}.{j}"]
    expected = raw[k]["instruction"] + ("\n\n" + inst["input"] if inst["input"].strip() else "")
    assert row["prompt"][0]["content"] == expected
    assert row["completion"][0]["content"] == inst["output"]
    assert row["task"] == raw[k].get("name")  # seed tasks carry a name; user-oriented ones do not


def test_instances_with_several_instances(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"name": "t", "instruction": "Add.", "instances": [
        {"input": "1 2", "output": "3"}, {"input": "", "output": "0"}, {"input": "x", "output": " "}]}])
    norm = _load(path)
    rows = _rows(norm)
    assert (norm.candidates, norm.empty) == (3, 1)
    assert [(r["id"], r["prompt"][0]["content"], r["completion"][0]["content"]) for r in rows] == [
        ("src-0.0", "Add.\n\n1 2", "3"), ("src-0.1", "Add.", "0")]


def test_prompt_completion_keeps_the_task_label(data_file):
    path = data_file("instructions/t0_templates_sample.jsonl")
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    norm = _load(path, "prompt_completion")
    rows = _rows(norm)
    assert len(rows) + norm.empty == 5588
    assert norm.empty == sum(1 for r in raw if not r["prompt"].strip() or not r["completion"].strip())
    assert len({r["task"] for r in rows}) > 250
    assert rows[0]["task"] == raw[0]["task"] and rows[0]["prompt"][0]["content"] == raw[0]["prompt"]


def test_sharegpt_keeps_earlier_turns_in_the_prompt(tmp_path):
    path = write_jsonl(tmp_path / "sg.jsonl", [
        {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                           {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Write f"},
                           {"from": "gpt", "value": "def f(): pass"}]},
        {"conversations": [{"from": "human", "value": "   "}, {"from": "gpt", "value": "orphan answer"}]},
        {"conversations": [{"from": "human", "value": "no answer"}]},
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}, {"from": "human", "value": "trailing"}]},
    ])
    norm = _load(path)
    rows = _rows(norm)
    assert norm.format == "sharegpt" and norm.empty == 2
    assert rows[0]["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                 {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Write f"}]
    assert rows[0]["completion"] == [{"role": "assistant", "content": "def f(): pass"}]
    assert rows[1]["id"] == "src-3"  # an unanswered last turn is dropped, the rest kept
    assert rows[1]["prompt"] == [{"role": "user", "content": "q"}] and rows[1]["completion"][0]["content"] == "a"


def test_messages_and_unknown_roles(tmp_path):
    good = write_jsonl(tmp_path / "m.jsonl", [{"messages": [{"role": "user", "content": "2+2?"},
                                                            {"role": "assistant", "content": "4"}], "task": "math"}])
    rows = _rows(_load(good))
    assert rows == [{"id": "src-0", "source": "src", "domain": "general", "task": "math",
                     "prompt": [{"role": "user", "content": "2+2?"}], "completion": [{"role": "assistant", "content": "4"}],
                     "meta": None}]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
                                               {"messages": [{"role": "tool", "content": "x"}]}])
    with pytest.raises(CodemixError, match=r"source 'src'.*row 2: unknown role 'tool'"):
        _load(bad)


def test_oss_instruct_and_conversational_prompt_completion(tmp_path):
    oss = write_jsonl(tmp_path / "oss.jsonl", [{"lang": "python", "seed": "x", "problem": "Write add.", "solution": "def add(a, b): return a + b"}])
    rows = _rows(_load(oss, domain="code"))
    assert rows[0]["task"] == "python" and rows[0]["completion"][0]["content"].startswith("def add")
    conv = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                                                "completion": [{"role": "assistant", "content": "c"}]}])
    rows = _rows(_load(conv, "prompt_completion"))
    assert rows[0]["prompt"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert rows[0]["completion"] == [{"role": "assistant", "content": "c"}]


def test_columns_map_fields_and_system_prompts(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [{"question": "Why?", "answer": "Because.", "sys": "Be kind."}])
    rows = _rows(_load(path, "alpaca", {"instruction": "question", "output": "answer", "system": "sys"}))
    assert rows[0]["prompt"] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Why?"}]
    with pytest.raises(CodemixError, match=r"format alpaca needs column\(s\) output; the source has: question, answer, sys"):
        _load(path, "alpaca", {"instruction": "question"})
    with pytest.raises(CodemixError, match=r"columns.output = 'reply', but the source has no such column"):
        _load(path, "alpaca", {"instruction": "question", "output": "reply"})
    with pytest.raises(CodemixError, match=r"columns.bogus: not a field of format alpaca"):
        _load(path, "alpaca", {"instruction": "question", "output": "answer", "bogus": "sys"})


def test_auto_names_the_columns_it_saw(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"foo": "a", "bar": "b"}])
    with pytest.raises(CodemixError, match=r"cannot detect the format from its columns \(foo, bar\)"):
        _load(path)


def test_unknown_format_is_a_recipe_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        SourceConfig(name="s", path="x.jsonl", format="dolly", domain="code")
    with pytest.raises(CodemixError, match="unknown format 'dolly'"):
        normalise(pa.table({"a": ["x"]}), "dolly", {}, source="s", domain="code", where="source 's'")
