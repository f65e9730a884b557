"""builtin:markov: rewrite semantics, rule counts and frequencies, families, held-out disjointness,
determinism, and the rows a mixture carries."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from codemix.core.errors import CodemixError
from codemix.mixing.builtin.markov import (
    apply_rule,
    benchmark_rows,
    build_rules,
    generate_columns,
    generate_table,
    in_family,
    rule_probs,
    source_from_manifest,
)
from codemix.mixing.config import MarkovConfig, MixConfig, SourceConfig


@pytest.mark.parametrize(("x", "y", "z", "out"), [
    ("aa", "b", "aaa", "ba"),          # overlapping occurrences: the leftmost wins, once
    ("ab", "c", "abxab", "cxab"),      # pattern at the start
    ("ab", "c", "xxab", "xxc"),        # pattern at the end
    ("ab", "c", "xyz", "xyz"),         # absent: a no-op
    ("ab", "", "xaby", "xy"),          # empty replacement deletes
    ("a", "aa", "bab", "baab"),        # the replacement contains the pattern: still one step
    ("aba", "x", "ababa", "xba"),      # overlap inside the pattern
])
def test_leftmost_single_rewrite(x: str, y: str, z: str, out: str) -> None:
    assert apply_rule(x, y, z) == out


def test_rows_are_consistent_and_checkable_without_the_prompt() -> None:
    cfg = MarkovConfig(rules=50, noop_fraction=0.3)
    cols = generate_columns(cfg, 3000, seed=7)
    for i in range(3000):
        meta = json.loads(cols["meta"][i])
        x, y, z, out = meta["x"], meta["y"], meta["input"], meta["output"]
        assert cols["instruction"][i] == f"{x}>{y}|{z}="
        assert cols["response"][i] == out
        assert cols["task"][i] == meta["rule"]
        assert out  # never an empty completion
        if meta["noop"]:
            assert x not in z and out == z
        else:
            # the leftmost occurrence, rewritten once, by an independent construction
            k = z.index(x)
            assert out == z[:k] + y + z[k + len(x):]
        assert 5 <= len(z) <= 10
    noop_share = sum(cols["noop"]) / 3000
    assert stats.binomtest(sum(cols["noop"]), 3000, 0.3).pvalue > 1e-4, noop_share


def test_exact_rule_and_example_counts() -> None:
    cfg = MarkovConfig(rules=37, examples_per_rule=11)
    rules = build_rules(cfg, 3)
    assert len(rules.train) == 37 and len(set(rules.train)) == 37
    cols = generate_columns(cfg, 37 * 11, seed=3)
    counts = np.bincount([int(t[1:]) for t in cols["task"]], minlength=37)
    assert counts.tolist() == [11] * 37
    assert all(x != y for x, y in rules.train)


def test_power_law_frequencies_match_the_density() -> None:
    cfg = MarkovConfig(rules=20, frequency="power_law", alpha=0.3)
    p = rule_probs(cfg)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx((1 / 20) ** 0.3)  # P(X < 1/I) for density alpha x^(alpha-1)
    cols = generate_columns(cfg, 40_000, seed=5)
    counts = np.bincount([int(t[1:]) for t in cols["task"]], minlength=20)
    chi2 = stats.chisquare(counts, 40_000 * p)
    assert chi2.pvalue > 1e-4
    # effective number of rules = exp(entropy): I when uniform, fewer when skewed
    assert build_rules(cfg, 5).effective_rules == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert build_rules(MarkovConfig(rules=20), 5).effective_rules == pytest.approx(20)
    assert build_rules(cfg, 5).effective_rules < 20


@pytest.mark.parametrize("family", ["repeated", "periodic", "mirrored"])
def test_families_produce_only_their_strings(family: str) -> None:
    cfg = MarkovConfig(rules=60, family=family, family_k=(2, 3), pattern_length=(1, 3), replacement_length=(0, 2),
                       heldout_rules=30)
    rules = build_rules(cfg, 11)
    for x, y in rules.train + rules.heldout:
        assert in_family(x, family, (2, 3)) and in_family(y, family, (2, 3)), (x, y)
        assert x  # patterns are never empty
    if family == "repeated":
        assert in_family("aaabbb", family, (2, 3)) and not in_family("abcabc", family, (2, 3))
    if family == "periodic":
        assert in_family("abcabc", family, (2, 3)) and not in_family("abccba", family, (2, 3))
    if family == "mirrored":
        assert in_family("abccba", family, (2, 3)) and not in_family("aabb", family, (2, 3))


@pytest.mark.parametrize("by", ["pattern", "rule"])
def test_heldout_rules_never_appear_in_training_rows(by: str) -> None:
    cfg = MarkovConfig(rules=3000, heldout_by=by, heldout_rules=500)
    rules = build_rules(cfg, 2)
    train, held = set(rules.train), set(rules.heldout)
    assert len(held) == 500 and not train & held
    if by == "pattern":
        assert not {x for x, _ in train} & {x for x, _ in held}
    cols = generate_columns(cfg, 20_000, seed=2)
    assert not {(json.loads(m)["x"], json.loads(m)["y"]) for m in cols["meta"]} & held
    unseen = [r for r in benchmark_rows(cfg, 2, 400) if "unseen" in r["groups"]]
    assert len(unseen) == 200 and all((r["meta"]["x"], r["meta"]["y"]) in held for r in unseen)


def test_deterministic_in_the_seed_with_stream_semantics() -> None:
    cfg = MarkovConfig(rules=100)
    a = generate_columns(cfg, 5000, seed=1)
    assert a == generate_columns(cfg, 5000, seed=1)
    assert generate_columns(cfg, 1234, seed=1)["instruction"] == a["instruction"][:1234]  # growing n appends
    assert generate_columns(cfg, 5000, seed=2)["instruction"] != a["instruction"]
    assert build_rules(cfg, 1).train != build_rules(cfg, 2).train


def test_rule_space_too_small_is_one_error() -> None:
    cfg = MarkovConfig(alphabet=2, pattern_length=(1, 1), replacement_length=(1, 1), rules=50)
    with pytest.raises(CodemixError, match="markov.rules=50"):
        build_rules(cfg, 0)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="only for path: builtin:markov"):
        SourceConfig(name="a", path="builtin:texttasks", domain="general", markov=MarkovConfig())
    with pytest.raises(ValueError, match="frequency: uniform"):
        MarkovConfig(examples_per_rule=3, frequency="power_law")
    with pytest.raises(ValueError, match="input_length"):
        MixConfig.model_validate({"budget": 10, "sources": [{"name": "m", "path": "builtin:markov", "domain": "general",
                                                             "markov": {"input_length": [9, 3]}}]})


def test_table_and_manifest_facts() -> None:
    table, facts = generate_table(1000, 4, "train", MarkovConfig(rules=10, frequency="power_law", alpha=0.5))
    assert table.column_names == ["instruction", "response", "task", "meta"]
    assert facts["markov"]["rules"] == 10 and facts["markov"]["effective_rules"] < 10
    manifest = {"recipe": {"mix": {"sources": [{"name": "m", "path": "builtin:markov", "markov": {"rules": 10}}]}},
                "sources": [{"name": "m", "seed": 4}]}
    cfg, seed, name = source_from_manifest(manifest, "here")
    assert (cfg.rules, seed, name) == (10, 4, "m")


def test_mixture_rows_carry_task_and_meta(tmp_path) -> None:
    from codemix.mixing.pipeline import build_mixture, load_mixture

    mix = MixConfig.model_validate({
        "sources": [{"name": "m", "path": "builtin:markov", "domain": "general", "count": 600,
                     "markov": {"rules": 30, "examples_per_rule": 20}}],
        "decontaminate": {"enabled": False}, "dedup": "none"})
    manifest, built = build_mixture(mix, seed=9, out_dir=tmp_path, recipe={}, recipe_hash="x")
    assert built and manifest["rows"] == 600
    assert manifest["sources"][0]["markov"]["effective_rules"] == pytest.approx(30)
    rows = load_mixture(tmp_path)
    tasks = rows["task"]
    assert sorted(np.bincount([int(t[1:]) for t in tasks]).tolist()) == [20] * 30  # exact S per rule
    for row in rows.select(range(50)):
        meta = row["meta"]
        x, y, z = meta["x"], meta["y"], meta["input"]
        assert row["prompt"][0]["content"] == f"{x}>{y}|{z}=" and row["completion"][0]["content"] == meta["output"]
        assert row["task"] == meta["rule"] and isinstance(meta["noop"], bool)
