"""Near-duplicate removal (MinHash LSH): the bulk sketch equals datasketch's, the kept rows equal
the plain datasketch loop's, edited copies are caught and distinct rows kept, and `dedup: near`
and near-copy decontamination work inside a mixture build."""

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash, MinHashLSH

from codemix.mixing.neardup import LSHParams, NearDupIndex, near_duplicate_mask, shingle_hashes, signatures
from helpers.mixing import build, mix_config, write_jsonl

WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ru", "sa", "ti", "vo", "ze") for b in
         ("bar", "cel", "dun", "fir", "gat", "hol", "jin", "kes", "lum", "mop", "nix", "pog", "qua", "ros")]


def sentences(rng: np.random.Generator, n: int, words: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, words)) + "." for _ in range(n)]


def text(rng: np.random.Generator) -> list[str]:
    """Four sentences of 40 words: 160 words, 156 5-word shingles."""
    return sentences(rng, 4, 40)


def identity(x):
    return x


def test_signatures_equal_datasketch_minhash():
    rng = np.random.default_rng(0)
    texts = [" ".join(text(rng)) for _ in range(20)] + ["two words", "", "   ", "a b c d e"]
    params = LSHParams()
    sig = signatures(pa.array(texts), params).sig
    hv, off = shingle_hashes(pa.array(texts), params.ngram)
    for i in range(len(texts)):
        m = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=identity)
        m.update_batch(hv[off[i]:off[i + 1]].tolist())
        assert np.array_equal(m.hashvalues.astype(np.uint32), sig[i]), i
    counts = np.diff(off)[-4:].tolist()
    assert counts == [1, 0, 0, 1]  # "two words": one shingle (the row); blank rows: none; 5 words: one
    assert (sig[-3:-1] == 0xFFFFFFFF).all()


def _edited_copies(rng: np.random.Generator) -> tuple[list[str], list[bool]]:
    """Originals (kept) each followed by an edited copy (dropped)."""
    texts, expect = [], []
    for k in range(30):
        parts = text(rng)
        original = " ".join(parts)
        if k % 3 == 0:   # one word changed
            words = original.split()
            words[len(words) // 2] = "CHANGED"
            copy = " ".join(words)
        elif k % 3 == 1:  # whitespace and case only
            copy = "  " + original.upper().replace(" ", "\n\t ", 7) + "  "
        else:            # two sentences swapped
            copy = " ".join([parts[1], parts[0], parts[2], parts[3]])
        texts += [original, copy]
        expect += [True, False]
    return texts, expect


def test_edited_copies_are_caught_and_distinct_rows_kept():
    rng = np.random.default_rng(1)
    texts, expect = _edited_copies(rng)
    distinct = [" ".join(text(rng)) for _ in range(60)]
    keep = near_duplicate_mask(texts + distinct)
    assert keep[:len(texts)].tolist() == expect
    assert keep[len(texts):].all()


def test_threshold_decides_on_a_copy_with_one_sentence_replaced():
    rng = np.random.default_rng(2)
    parts = text(rng)
    copy = " ".join([parts[0], parts[1], parts[2], sentences(rng, 1, 40)[0]])  # Jaccard ~0.6
    pair = [" ".join(parts), copy]
    assert near_duplicate_mask(pair, LSHParams(threshold=0.8)).tolist() == [True, True]
    assert near_duplicate_mask(pair, LSHParams(threshold=0.4)).tolist() == [True, False]


def test_same_kept_rows_as_the_plain_datasketch_loop():
    rng = np.random.default_rng(3)
    base = [" ".join(sentences(rng, 1, 60)) for _ in range(150)]
    texts = []
    for t in base:  # copies with 1-4 words changed: Jaccard ~0.9 down to ~0.6, around the threshold
        texts.append(t)
        words = t.split()
        for i in rng.choice(len(words), int(rng.integers(1, 5)), replace=False):
            words[i] = "X" + str(i)
        texts.append(" ".join(words))
    params = LSHParams()
    keep = near_duplicate_mask(texts, params)
    hv, off = shingle_hashes(pa.array(texts), params.ngram)
    w = params.false_positive_weight
    lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm, weights=(w, 1 - w))
    assert (lsh.b, lsh.r) == params.bands
    kept: dict[int, MinHash] = {}
    reference = []
    for i in range(len(texts)):
        m = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=identity)
        m.update_batch(hv[off[i]:off[i + 1]].tolist())
        dup = any(m.jaccard(kept[j]) >= params.threshold for j in lsh.query(m))
        reference.append(not dup)
        if not dup:
            kept[i] = m
            lsh.insert(i, m)
    assert 0 < (~keep).sum() < 150  # the set straddles the threshold
    assert keep.tolist() == reference


def test_index_query_finds_stored_rows_and_their_labels():
    rng = np.random.default_rng(4)
    stored = [" ".join(text(rng)) for _ in range(5)]
    params = LSHParams()
    index = NearDupIndex(params)
    index.add(signatures(pa.array(stored), params), labels=[10, 11, 12, 13, 14])
    queries = [stored[3].upper(), " ".join(text(rng)), ""]
    assert index.query(signatures(pa.array(queries), params)).tolist() == [13, -1, -1]


@pytest.fixture()
def near_sources(tmp_path):
    rng = np.random.default_rng(5)
    code, expect_dups = [], 0
    for k in range(40):
        parts = text(rng)
        code.append({"instruction": " ".join(parts), "output": f"answer {k}"})
        if k % 4 == 0:  # an edited copy with another response: not an exact duplicate
            code.append({"instruction": " ".join([parts[1], parts[0], *parts[2:]]), "output": f"other answer {k}"})
            expect_dups += 1
    general = [{"instruction": " ".join(text(rng)), "output": f"g{k}"} for k in range(20)]
    general.append({"instruction": code[0]["instruction"].lower(), "output": "cross-source copy"})
    a = write_jsonl(tmp_path / "code.jsonl", code)
    g = write_jsonl(tmp_path / "gen.jsonl", general)
    srcs = [{"name": "code", "path": str(a), "format": "alpaca", "domain": "code"},
            {"name": "gen", "path": str(g), "format": "alpaca", "domain": "general"}]
    return srcs, expect_dups


def test_dedup_near_in_a_mixture(tmp_path, near_sources):
    srcs, expect_dups = near_sources
    exact, _ = build(tmp_path / "exact", mix_config(srcs, budget=60, general_fraction=1 / 3,
                                                      on_shortage="shrink"))
    near, _ = build(tmp_path / "near", mix_config(srcs, budget=60, general_fraction=1 / 3, dedup="near",
                                                    on_shortage="shrink"))
    assert exact["dedup"]["removed"] == 0
    report = near["dedup"]["near"]
    assert report["by_source"] == {"code": expect_dups, "gen": 1}
    assert report["threshold"] == 0.8 and report["bands"] * report["rows_per_band"] <= 128
    assert near["dedup"]["by_source"] == {"code": expect_dups, "gen": 1}
    assert near["sources"][0]["realised"] == 40 and near["sources"][1]["realised"] == 20
    again, built = build(tmp_path / "near", mix_config(srcs, budget=60, general_fraction=1 / 3, dedup="near",
                                                        on_shortage="shrink"))
    assert not built and again["content_hash"] == near["content_hash"]


def test_near_dedup_settings_only_hash_when_used():
    srcs = [{"name": "a", "path": "x.jsonl", "domain": "code"}]
    plain = mix_config(srcs, budget=10)
    tuned = mix_config(srcs, budget=10, near_dedup={"threshold": 0.9}, diversity=True)
    assert plain.rows_fingerprint() == tuned.rows_fingerprint()
    assert "near_dedup" not in plain.rows_fingerprint() and "diversity" not in plain.rows_fingerprint()
    assert mix_config(srcs, budget=10, dedup="near").rows_fingerprint() != \
        mix_config(srcs, budget=10, dedup="near", near_dedup={"threshold": 0.9}).rows_fingerprint()


def test_near_copies_of_humaneval_prompts_are_decontaminated(tmp_path):
    from codemix.mixing.benchmark_records import load_humaneval

    prompts = [r["prompt"] for r in load_humaneval()[:3]]
    rows = [{"instruction": "Complete this:\n" + prompts[0].replace("    ", "  "), "output": "x"},
            {"instruction": prompts[1].upper(), "output": "y"}]
    rng = np.random.default_rng(6)
    rows += [{"instruction": " ".join(text(rng)), "output": f"z{k}"} for k in range(10)]
    src = [{"name": "c", "path": str(write_jsonl(tmp_path / "c.jsonl", rows)), "format": "alpaca", "domain": "code"}]
    # n-grams and signatures off: only the near-copy check can find these rows.
    decon = {"benchmarks": ["humaneval"], "signatures": False, "ngram": 400, "near": 0.7}
    manifest, _ = build(tmp_path / "mix", mix_config(src, budget=10, decontaminate=decon, on_shortage="shrink"))
    d = manifest["decontamination"]
    assert d["removed"] == 2 and sorted(d["removed_ids"]["humaneval"]) == ["c-0", "c-1"]
    assert {e["reason"] for e in d["examples"]} == {"near-copy"}
    assert {e["task"] for e in d["examples"]} == {"HumanEval/0", "HumanEval/1"}
