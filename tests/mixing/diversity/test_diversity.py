"""Diversity metrics against known values, the offline embedding, the map, `mix.diversity` in the
mixture manifest, `summary_columns` and the `codemix diversity` command."""

import json
import socket

import numpy as np
import pyarrow as pa
import pytest

from codemix.mixing.config import DiversityConfig
from codemix.mixing.diversity import lexical as lex
from codemix.mixing.diversity import semantic as sem
from codemix.mixing.diversity.embeddings import embed
from codemix.mixing.diversity.measure import measure, read_block, summary_columns
from codemix.mixing.formats import SCHEMA
from codemix.recipes.cli import main
from helpers.mixing import alpaca_rows, build, mix_config, write_jsonl


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEMIX_CACHE_DIR", str(tmp_path / "cache"))


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------- known values

def test_identical_rows_minimal_distinct_n_and_vendi_one():
    n = 50
    text = "reverse every word of a sentence and keep its punctuation"  # no word twice
    table = lex.ngram_table(pa.array([text] * n))
    m = lex.lexical_metrics(table, np.ones(n, bool))
    words = len(text.split())
    for k in (1, 2, 3):
        assert m[f"distinct_{k}"] == pytest.approx(1 / n, abs=1e-6)  # the fewest distinct n-grams possible
        assert m[f"entropy_{k}_bits"] == pytest.approx(np.log2(words - k + 1), abs=1e-3)
    assert m["mean_words"] == words
    x = unit(np.tile(np.random.default_rng(0).normal(size=(1, 16)), (n, 1)))
    assert sem.vendi_score(x) == pytest.approx(1.0, abs=1e-6)
    assert sem.mean_cosine_distance(x) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("k", [1, 3, 8])
def test_k_orthogonal_clusters_give_vendi_k(k):
    rng = np.random.default_rng(k)
    basis = np.eye(16)[:k]
    x = np.repeat(basis, 40, axis=0)
    assert sem.vendi_score(x) == pytest.approx(k, rel=1e-6)
    noisy = unit(x + rng.normal(scale=0.02, size=x.shape))  # tight clusters: still ~k
    assert sem.vendi_score(noisy) == pytest.approx(k, rel=0.05)
    # mean pairwise cosine distance over i != j: pairs across clusters are orthogonal
    same = 40 * 39 * k
    assert sem.mean_cosine_distance(x) == pytest.approx(1 - same / (len(x) * (len(x) - 1)))


def test_unequal_clusters_give_fewer_effective_kinds():
    x = np.concatenate([np.repeat(np.eye(4)[:1], 97, axis=0), np.eye(4)[1:]])  # 97 + 1 + 1 + 1
    assert 1.0 < sem.vendi_score(x) < 1.3


def test_uniform_task_distribution_effective_tasks_is_the_count():
    tasks = [f"t{i % 7}" for i in range(70)] + [None] * 5
    m = lex.task_metrics(tasks)
    assert m["tasks"] == 7 and m["effective_tasks"] == pytest.approx(7.0)
    assert (m["rows_per_task_min"], m["rows_per_task_median"], m["rows_per_task_max"]) == (10, 10.0, 10)
    assert m["labelled_rows"] == 70 and m["rows"] == 75
    skewed = lex.task_metrics(["a"] * 96 + ["b", "c", "d", "e"])
    assert 1.0 < skewed["effective_tasks"] < 1.5
    assert lex.task_metrics([None, None])["effective_tasks"] is None


def test_clusters_and_proximity():
    x = np.repeat(np.eye(8)[:4], 25, axis=0)
    labels, k = sem.fit_clusters(x, 4, seed=0)
    assert k == 4 and len(set(labels.tolist())) == 4
    m = sem.cluster_metrics(labels[:50], k)  # the first two clusters only
    assert m["clusters_occupied"] == 2 and m["effective_clusters"] == pytest.approx(2.0)
    queries = unit(np.array([[1.0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1.0, 0, 0, 0]]))
    assert sem.proximity(queries, x) == pytest.approx(0.5)  # one exact neighbour, one orthogonal


# ---------------------------------------------------------------- embeddings

def test_offline_embedding_needs_no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    texts = [f"sort a list of {w} by {v}" for w in ("numbers", "names", "dates") for v in ("size", "age")] * 10
    x, info = embed(texts, "model2vec:minishlab/potion-base-8M", seed=0)
    assert info["used"] == "tfidf" and "fallback" in info["name"] and info["fallback_reason"]
    assert x.shape[0] == len(texts) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    again, info2 = embed(texts, "tfidf", seed=0)  # same identity and texts: from the cache
    assert info2["cached"] and np.array_equal(again, x) and "fallback" not in info2["name"]
    with pytest.raises(Exception, match="could not be loaded"):
        embed(texts, "sentence-transformers:no/such-model", seed=0, fallback=False)


# ---------------------------------------------------------------- whole mixtures

def rows_table(groups: dict[tuple[str, str], list[tuple[str, str | None]]]) -> pa.Table:
    rows = []
    for (source, domain), items in groups.items():
        for i, (text, task) in enumerate(items):
            rows.append({"id": f"{source}-{i}", "source": source, "domain": domain, "task": task,
                         "prompt": [{"role": "user", "content": text}],
                         "completion": [{"role": "assistant", "content": "ok"}]})
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def test_measure_groups_and_map(tmp_path, data_file):
    rng = np.random.default_rng(0)
    verbs = ["sort", "parse", "merge", "count", "reverse", "validate", "compress", "format"]
    nouns = ["list", "string", "matrix", "graph", "date", "tree", "json file", "url"]
    code = [(f"write a python function to {rng.choice(verbs)} a {rng.choice(nouns)} in place", f"c{i % 5}")
            for i in range(120)]
    same = [("translate this sentence into french please", "translate")] * 60
    table = rows_table({("code-src", "code"): code, ("copies", "general"): same})
    cfg = DiversityConfig(enabled=True, embedding="tfidf", clusters=6, mbpp_path=str(data_file("mbpp/mbpp.jsonl")))
    block = measure(table, cfg, seed=3, map_path=tmp_path / "map.png", title="test")
    g = block["groups"]
    assert list(g) == ["all", "domain:code", "domain:general", "source:code-src", "source:copies"]
    assert g["source:copies"]["vendi"] == pytest.approx(1.0, abs=1e-3)
    assert g["source:copies"]["distinct_1"] == pytest.approx(1 / 60, abs=1e-6)
    assert g["source:code-src"]["vendi"] > 3 and g["source:code-src"]["effective_tasks"] == pytest.approx(5.0)
    assert g["all"]["rows"] == 180 and g["source:copies"]["clusters_occupied"] == 1
    assert set(block["benchmarks"]) == {"humaneval", "mbpp"} and block["benchmarks"]["mbpp"]["problems"] == 500
    assert 0 < g["all"]["proximity_mbpp"] <= 1 and g["all"]["proximity_mbpp"] >= g["source:code-src"]["proximity_mbpp"]
    assert block["embedding"]["used"] == "tfidf" and block["map"] == "map.png"
    png = (tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    again = measure(table, cfg, seed=3, title="test")
    assert again["groups"] == g  # deterministic for a seed


def test_mix_diversity_in_manifest_without_changing_the_rows(tmp_path, data_file):
    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    code = [{"instruction": "implement " + " ".join(rng.choice(words, 6)), "output": "x"} for _ in range(60)]
    gen = [{"instruction": "describe " + " ".join(rng.choice(words, 6)), "output": "y"} for _ in range(60)]
    srcs = [{"name": "c", "path": str(write_jsonl(tmp_path / "c.jsonl", code)), "format": "alpaca", "domain": "code"},
            {"name": "g", "path": str(write_jsonl(tmp_path / "g.jsonl", gen)), "format": "alpaca", "domain": "general"}]
    out = tmp_path / "mix"
    plain, _ = build(out, mix_config(srcs, budget=80, general_fraction=0.25))
    assert "diversity" not in plain and summary_columns(out) == {}
    div = {"enabled": True, "embedding": "tfidf", "clusters": 5, "benchmarks": ["humaneval"]}
    measured, built = build(out, mix_config(srcs, budget=80, general_fraction=0.25, diversity=div))
    assert not built and measured["inputs_hash"] == plain["inputs_hash"]  # same rows: not rebuilt
    assert measured["content_hash"] == plain["content_hash"]
    block = measured["diversity"]
    assert block["groups"]["all"]["rows"] == 80 and block["groups"]["domain:general"]["rows"] == 20
    assert json.loads((out / "manifest.json").read_text())["diversity"]["key"] == block["key"]
    assert (out / "diversity.json").is_file() and (out / "diversity_map.png").is_file()
    cols = summary_columns(out)
    assert cols["vendi"] == block["groups"]["all"]["vendi"] and {"vendi_code", "vendi_general", "distinct_2",
                                                                  "effective_clusters", "proximity_humaneval"} <= set(cols)
    assert all(isinstance(v, float) for v in cols.values())
    stamp = (out / "diversity.json").stat().st_mtime_ns
    _, built = build(out, mix_config(srcs, budget=80, general_fraction=0.25, diversity=div))
    assert not built and (out / "diversity.json").stat().st_mtime_ns == stamp  # nothing re-measured
    rebuilt, built = build(out, mix_config(srcs, budget=79, general_fraction=0.25))
    assert built and "diversity" not in rebuilt and read_block(out) is None  # old numbers removed


def test_cli_on_a_file_and_a_mixture_dir(tmp_path, data_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = data_file("instructions/alpaca_seed_tasks.jsonl")
    rc = main(["diversity", str(src), "--embedding", "tfidf", "--benchmarks", "humaneval", "--clusters", "8",
               "--domain", "general"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "TF-IDF + truncated SVD (offline)" in out and "source:alpaca_seed_tasks" in out and "vendi" in out
    block = json.loads((tmp_path / "diversity" / "alpaca_seed_tasks" / "diversity.json").read_text())
    names = {json.loads(line)["name"] for line in src.read_text().splitlines()}
    assert block["groups"]["all"]["tasks"] == len(names)  # task <- name (instances expanded into rows)
    assert (tmp_path / "diversity" / "alpaca_seed_tasks" / "diversity_map.png").is_file()
    srcs = [{"name": "a", "path": str(write_jsonl(tmp_path / "a.jsonl", alpaca_rows(30, "code"))),
             "format": "alpaca", "domain": "code"}]
    build(tmp_path / "mix", mix_config(srcs, budget=30))
    rc = main(["diversity", str(tmp_path / "mix"), "--embedding", "tfidf", "--benchmarks", "none", "--no-map"])
    out = capsys.readouterr().out
    assert rc == 0 and "source:a" in out and "prox." not in out
    assert summary_columns(tmp_path / "mix")["vendi"] > 1
    assert not (tmp_path / "mix" / "diversity_map.png").exists()
    rc = main(["diversity", str(tmp_path / "nowhere")])
    assert rc == 2 and "codemix: error:" in capsys.readouterr().err
    rc = main(["diversity", str(src), "--embedding", "bogus"])
    assert rc == 2 and "not an embedding" in capsys.readouterr().err
