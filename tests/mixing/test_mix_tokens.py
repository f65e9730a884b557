"""Token budgets and shares (`mix.unit: tokens`): whole rows drawn until each source's token
quota is met, in every input format, and rows and tokens recorded whatever the unit."""

import json

import numpy as np
import pyarrow as pa
import pytest

from codemix.core.errors import CodemixError
from codemix.mixing import formats, quotas
from codemix.mixing.pipeline import inputs_fingerprint
from codemix.mixing.tokens import TokenCounter, row_texts
from codemix.recipes.schema import Recipe
from helpers.mixing import build, mix_config, read_rows, write_jsonl


def _words(i: int, n: int) -> str:
    return " ".join(f"w{i}x{j}" for j in range(n))


# One source per input format, each with its own row length, so token and row shares differ.
FORMAT_ROWS = {
    "alpaca": lambda i: {"instruction": f"alpaca {i} " + _words(i, 3), "input": "", "output": _words(i, 40)},
    "oss_instruct": lambda i: {"problem": f"oss {i} " + _words(i, 10), "solution": _words(i, 5), "lang": "python"},
    "prompt_completion": lambda i: {"prompt": f"pc {i}", "completion": _words(i, 2)},
    "sharegpt": lambda i: {"conversations": [{"from": "human", "value": f"sg {i}"}, {"from": "gpt", "value": _words(i, 20)}]},
    "messages": lambda i: {"messages": [{"role": "user", "content": f"msg {i}"}, {"role": "assistant", "content": _words(i, 8)},
                                        {"role": "user", "content": "again"}, {"role": "assistant", "content": _words(i, 4)}]},
    "instances": lambda i: {"instruction": f"inst {i}", "name": f"t{i}",
                            "instances": [{"input": f"in {i} {k}", "output": _words(i + k, 6)} for k in range(2)]},
}


@pytest.fixture()
def all_formats(tmp_path):
    out = []
    for k, (fmt, make) in enumerate(FORMAT_ROWS.items()):
        path = write_jsonl(tmp_path / f"{fmt}.jsonl", [make(i) for i in range(60)])
        out.append({"name": fmt, "path": str(path), "format": fmt, "domain": "code" if k % 2 else "general"})
    return out


def _lengths(rows: list[dict], over: str = "prompt_completion") -> dict[str, list[int]]:
    """Byte counts per source recomputed from the written rows (independently of the counter)."""
    out: dict[str, list[int]] = {}
    for r in rows:
        turns = ([] if over == "completion" else r["prompt"]) + r["completion"]
        out.setdefault(r["source"], []).append(len("\n".join(t["content"] for t in turns).encode()))
    return out


def test_every_format_meets_its_token_quota_within_one_row(tmp_path, all_formats):
    shares = [1, 2, 1, 3, 1, 2]
    sources = [{**s, "share": w} for s, w in zip(all_formats, shares, strict=True)]
    mix = mix_config(sources, budget=9000, unit="tokens", tokens={"tokenizer": "byte"})
    manifest, _ = build(tmp_path / "m", mix)
    wanted = quotas.largest_remainder(9000, shares)
    lengths = _lengths(read_rows(tmp_path / "m"))
    for s, quota in zip(manifest["sources"], wanted, strict=True):
        got = lengths[s["name"]]
        assert s["requested"] == quota and s["realised_tokens"] == sum(got) == manifest["tokens"]["by_source"][s["name"]]["tokens"]
        # quota met, and without the last row it would not be: whole rows, overshoot < one row
        assert quota <= sum(got) < quota + max(got), s["name"]
        assert s["overshoot_tokens"] == sum(got) - quota
    assert manifest["unit"] == "tokens" and manifest["tokens"]["total"] == sum(map(sum, lengths.values()))


def test_same_recipe_and_seed_same_mixture_other_seed_other_rows(tmp_path, all_formats):
    sources = [{**s, "share": 1} for s in all_formats]
    mix = mix_config(sources, budget=4800, unit="tokens", tokens={"tokenizer": "byte"})
    a, _ = build(tmp_path / "a", mix, seed=3)
    b, _ = build(tmp_path / "b", mix, seed=3)
    c, _ = build(tmp_path / "c", mix, seed=4)
    assert (tmp_path / "a" / "data.jsonl").read_bytes() == (tmp_path / "b" / "data.jsonl").read_bytes()
    assert a["content_hash"] != c["content_hash"]


def test_completion_only_counts_fewer_tokens_and_draws_more_rows(tmp_path, all_formats):
    src = [{**all_formats[0], "share": 1}]  # alpaca: a short instruction, a long output
    both, _ = build(tmp_path / "both", mix_config(src, budget=3000, unit="tokens", tokens={"tokenizer": "byte"}))
    comp, _ = build(tmp_path / "comp", mix_config(src, budget=3000, unit="tokens",
                                                  tokens={"tokenizer": "byte", "over": "completion"}))
    got = _lengths(read_rows(tmp_path / "comp"), over="completion")["alpaca"]
    assert 3000 <= sum(got) < 3000 + max(got)
    assert comp["rows"] > both["rows"]


def test_row_share_and_token_share_differ_and_both_are_recorded_in_rows_mode(tmp_path, all_formats):
    # prompt_completion rows (~20 bytes) as general, alpaca rows (~350 bytes) as code
    src = [{**all_formats[0], "domain": "code"}, {**all_formats[2], "domain": "general"}]
    rows_mix, _ = build(tmp_path / "rows", mix_config(src, budget=50, general_fraction=0.1))
    by_rows = rows_mix["tokens"]["by_domain"]["general"]
    assert rows_mix["unit"] == "rows" and rows_mix["tokens"]["tokenizer"] == "byte"
    assert by_rows["rows"] == 5 and by_rows["row_share"] == 0.1 and by_rows["token_share"] < 0.02
    tok_mix, _ = build(tmp_path / "tok", mix_config(src, budget=5000, unit="tokens", general_fraction=0.1,
                                                    tokens={"tokenizer": "byte"}))
    by_tokens = tok_mix["tokens"]["by_domain"]["general"]
    assert abs(by_tokens["token_share"] - 0.1) < 0.01 and by_tokens["row_share"] > 0.5


def test_shortage_policies_in_tokens(tmp_path, all_formats):
    src = [{**all_formats[2], "share": 1}]  # 60 short rows, 990 bytes in all
    with pytest.raises(CodemixError, match=r"quota is 5000 tokens but only \d+ are available \(60 rows\)"):
        build(tmp_path / "e", mix_config(src, budget=5000, unit="tokens", tokens={"tokenizer": "byte"}))
    shrunk, _ = build(tmp_path / "s", mix_config(src, budget=5000, unit="tokens", tokens={"tokenizer": "byte"},
                                                 on_shortage="shrink"))
    assert shrunk["rows"] == 60 and shrunk["sources"][0]["shrunk"] and shrunk["tokens"]["total"] < 5000
    up, _ = build(tmp_path / "u", mix_config(src, budget=5000, unit="tokens", tokens={"tokenizer": "byte"},
                                             on_shortage="upsample"))
    got = _lengths(read_rows(tmp_path / "u"))["prompt_completion"]
    assert 5000 <= sum(got) < 5000 + max(got) and up["sources"][0]["upsampled"] > 0


def test_select_tokens_takes_the_first_prefix_that_reaches_the_quota():
    eligible, lengths = np.arange(10, 15), np.array([5, 1, 7, 2, 9])
    pos, rep = quotas.select_tokens(eligible, lengths, 13, "error", np.random.default_rng(0), "s")
    assert pos.tolist() == [10, 11, 12] and rep.tolist() == [0, 0, 0]   # 5+1+7 = 13
    pos, _ = quotas.select_tokens(eligible, lengths, 14, "error", np.random.default_rng(0), "s")
    assert pos.tolist() == [10, 11, 12, 13]                               # 15 >= 14, 13 < 14
    assert len(quotas.select_tokens(eligible, lengths, 0, "error", np.random.default_rng(0), "s")[0]) == 0


def test_builtin_generator_meets_a_token_quota(tmp_path):
    src = [{"name": "py", "path": "builtin:pyfuncs", "domain": "code"},
           {"name": "tt", "path": "builtin:texttasks", "domain": "general"}]
    m, _ = build(tmp_path / "b", mix_config(src, budget=30000, unit="tokens", general_fraction=0.25,
                                            tokens={"tokenizer": "byte"}))
    lengths = _lengths(read_rows(tmp_path / "b"))
    for s, quota in zip(m["sources"], (22500, 7500), strict=True):
        assert quota <= sum(lengths[s["name"]]) < quota + max(lengths[s["name"]])


def test_model_tokenizer_counts_with_its_own_vocabulary(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    table = pa.Table.from_pylist([{"id": "a", "source": "s", "domain": "code", "task": None, "meta": None,
                                   "prompt": [{"role": "user", "content": "hello there you"}],
                                   "completion": [{"role": "assistant", "content": "hello"}]}], schema=formats.SCHEMA)
    assert row_texts(table, "prompt_completion").to_pylist() == ["hello there you\nhello"]
    assert TokenCounter.load(str(tmp_path / "tok"), "prompt_completion").count(table).tolist() == [4]  # words, not bytes
    assert TokenCounter.load("byte", "completion").count(table).tolist() == [5]
    with pytest.raises(CodemixError, match="mix.tokens.tokenizer: cannot load tokenizer"):
        TokenCounter.load(str(tmp_path / "missing"), "completion")


def test_tokens_unit_needs_a_tokenizer_and_takes_the_training_one(tmp_path, all_formats):
    mix = mix_config([{**all_formats[0], "share": 1}], budget=100, unit="tokens")
    with pytest.raises(CodemixError, match="mix.unit is tokens but no tokenizer counts them"):
        build(tmp_path / "x", mix)
    assert not (tmp_path / "x" / "data.jsonl").exists()
    arch = {"arch": "llama", "hidden_size": 32, "layers": 1, "heads": 2}
    recipe = lambda kind: Recipe.model_validate({  # noqa: E731
        "name": "r", "seed": 1, "mix": {"budget": 100, "unit": "tokens", "sources": [{**all_formats[0], "share": 1}]},
        "train": {"model": {"init": "random", "arch": arch, "tokenizer": {"kind": kind}}, "method": "full"}})
    assert recipe("byte").mix.tokens.tokenizer == "byte"
    assert recipe("bpe").mix.tokens.tokenizer is None   # trained on the mixture: cannot count it


def test_token_settings_do_not_change_a_rows_mixture_hash(all_formats):
    base = mix_config(all_formats[:2], budget=50, general_fraction=0.5)
    named = mix_config(all_formats[:2], budget=50, general_fraction=0.5, tokens={"tokenizer": "byte", "over": "completion"})
    tokens = mix_config(all_formats[:2], budget=50, general_fraction=0.5, unit="tokens", tokens={"tokenizer": "byte"})
    assert inputs_fingerprint(base, 1)[0] == inputs_fingerprint(named, 1)[0] != inputs_fingerprint(tokens, 1)[0]
    assert json.dumps(base.rows_fingerprint()).find('"unit"') == -1


def test_counts_and_domain_shares_are_tokens_too(tmp_path, all_formats):
    src = [{**all_formats[0], "count": 2000}, {**all_formats[3], "count": 500}]
    m, _ = build(tmp_path / "c", mix_config(src, unit="tokens", tokens={"tokenizer": "byte"}))
    lengths = _lengths(read_rows(tmp_path / "c"))
    assert m["budget"] == 2500
    for s in m["sources"]:
        assert s["requested"] <= sum(lengths[s["name"]]) < s["requested"] + max(lengths[s["name"]])
    src = [{**s, "domain": d} for s, d in zip(all_formats[:3], ("code", "general", "math"), strict=True)]
    m, _ = build(tmp_path / "d", mix_config(src, budget=3000, unit="tokens", tokens={"tokenizer": "byte"},
                                            domain_shares={"code": 2, "general": 1, "math": 0.5}))
    shares = {d: v["token_share"] for d, v in m["tokens"]["by_domain"].items()}
    assert shares == pytest.approx({"code": 2 / 3.5, "general": 1 / 3.5, "math": 0.5 / 3.5}, abs=0.03)
