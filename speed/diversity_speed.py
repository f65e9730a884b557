"""Speed of the diversity metrics and of near-duplicate removal, each against a plain reference in
the same run.

    python speed/diversity_speed.py                        # both parts at the target sizes
    python speed/diversity_speed.py --part semantic        # or --part neardup
    python speed/diversity_speed.py --rows 20000 --near-rows 200000 --ref-rows 20000

Texts: instructions of the shared sample sets (../shared/data/instructions: Code Alpaca, T0
templates, Self-Instruct seed and user-oriented tasks) and of the built-in generators
(`builtin:pyfuncs`, `builtin:texttasks`) — real and templated text, with the near-duplicates that
templates make. Generation and loading are not timed.

1. Semantic metrics on --rows (default 20,000; target <= 30 s with the offline embedding):
   `codemix.mixing.diversity.measure.measure` with the TF-IDF + SVD embedding (empty cache), Vendi on 2,000 rows,
   k-means k=50, proximity to HumanEval + MBPP, lexical metrics, the map. Reference: the plain
   scikit-learn route to the same numbers — Pipeline(TfidfVectorizer, TruncatedSVD, Normalizer),
   mean cosine distance from `cosine_similarity` in row blocks, Vendi from the eigenvalues of
   the m x m similarity matrix, KMeans, nearest neighbours with `cosine_similarity`. Also checks
   that the Vendi score of the d x d route equals the m x m one on the same vectors.
2. Near-duplicate removal on --near-rows (default 200,000; target >= 20,000 rows/s on 2 cores):
   `codemix.mixing.neardup` (signatures + LSH, kept-row mask). Reference: the straightforward datasketch
   loop — per row a MinHash of its word 5-gram shingles (sha1), then `MinHashLSH.query`, verify
   with `MinHash.jaccard`, insert if kept — on the first --ref-rows rows (it is slow; its rate is
   per row and does not depend much on the row count), and the agreement of the kept sets there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def shared_instructions() -> list[tuple[str, str, str]]:
    """(text, source, domain) of the shared sample sets."""
    out = []
    for r in json.loads((SHARED / "instructions" / "code_alpaca_2k.json").read_text()):
        out.append(((r["instruction"] + "\n" + r.get("input", "")).strip(), "code_alpaca", "code"))
    for name in ("alpaca_seed_tasks", "self_instruct_user_oriented"):
        for line in (SHARED / "instructions" / f"{name}.jsonl").read_text().splitlines():
            r = json.loads(line)
            for inst in r["instances"]:
                out.append(((r["instruction"] + "\n" + inst.get("input", "")).strip(), name, "general"))
    for line in (SHARED / "instructions" / "t0_templates_sample.jsonl").read_text().splitlines():
        out.append((json.loads(line)["prompt"], "t0", "general"))
    return out


def builtin_instructions(n: int, seed: int = 1) -> list[tuple[str, str, str]]:
    from codemix.mixing.builtin import generate_builtin

    half = n // 2
    return [(r["instruction"], "pyfuncs", "code") for r in generate_builtin("pyfuncs", half, seed)] + \
           [(r["instruction"], "texttasks", "general") for r in generate_builtin("texttasks", n - half, seed)]


def corpus(n: int) -> list[tuple[str, str, str]]:
    shared = shared_instructions()
    rows = shared[:n] + builtin_instructions(max(0, n - len(shared)))
    order = np.random.default_rng(0).permutation(len(rows))
    return [rows[i] for i in order[:n]]


def as_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    from codemix.mixing.formats import SCHEMA

    return pa.Table.from_pylist([{"id": str(i), "source": s, "domain": d, "task": None,
                                  "prompt": [{"role": "user", "content": t}],
                                  "completion": [{"role": "assistant", "content": "-"}]}
                                 for i, (t, s, d) in enumerate(rows)], schema=SCHEMA)


# ---------------------------------------------------------------- 1. semantic metrics

def reference_semantic(texts: list[str], bench: list[str], sample: int, k: int, seed: int) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    emb = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                        TruncatedSVD(128, random_state=seed), Normalizer()).fit_transform(texts + bench)
    x, b = emb[:len(texts)], emb[len(texts):]
    total = 0.0
    for i in range(0, len(x), 4096):
        total += cosine_similarity(x[i:i + 4096], x).sum()
    n = len(x)
    mean_dist = 1 - (total - n) / (n * (n - 1))
    idx = np.random.default_rng(seed).choice(n, min(sample, n), replace=False)
    eig = np.clip(np.linalg.eigvalsh(cosine_similarity(x[idx]) / len(idx)), 0, None)
    p = eig[eig > 0] / eig.sum()
    vendi = float(np.exp(-(p * np.log(p)).sum()))
    KMeans(k, random_state=seed).fit_predict(x)
    prox = float(cosine_similarity(b, x).max(axis=1).mean())
    return {"vendi": vendi, "mean_cosine_distance": mean_dist, "proximity": prox}


def part_semantic(rows: int, seed: int) -> None:
    from codemix.mixing.config import DiversityConfig
    from codemix.mixing.diversity.measure import benchmark_problems, measure
    from codemix.mixing.diversity.semantic import vendi_score

    data = corpus(rows)
    table = as_table(data)
    mbpp = SHARED / "mbpp" / "mbpp.jsonl"
    cfg = DiversityConfig(enabled=True, embedding="tfidf", mbpp_path=str(mbpp))
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CODEMIX_CACHE_DIR"] = tmp  # empty cache: the embedding is computed
        measure(as_table(data[:200]), cfg.model_copy(update={"map": False}), seed=seed)  # imports, warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        block = measure(table, cfg, seed=seed, map_path=Path(tmp) / "map.png", title="speed")
        ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    bench = [t for texts in benchmark_problems(cfg)[0].values() for t in texts]
    t0, c0 = time.perf_counter(), time.process_time()
    ref = reference_semantic([t for t, _, _ in data], bench, cfg.sample, cfg.clusters, seed)
    plain, plain_cpu = time.perf_counter() - t0, time.process_time() - c0
    # The Vendi score through the d x d matrix equals the m x m definition on the same vectors.
    x = np.random.default_rng(0).normal(size=(1500, 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.clip(np.linalg.eigvalsh(x @ x.T / len(x)), 0, None)
    p = eig[eig > 0] / eig.sum()
    assert abs(vendi_score(x) - np.exp(-(p * np.log(p)).sum())) < 1e-3
    g = block["groups"]["all"]
    print(f"semantic metrics, {rows} rows, {block['embedding']['name']}")
    print(f"  codemix  {ours:6.1f} s wall, {ours_cpu:6.1f} s CPU  (embed {block['timings_s']['embed']} s, metrics {block['timings_s']['metrics']} s, "
          f"map + rest {ours - block['timings_s']['embed'] - block['timings_s']['metrics']:.1f} s; target <= 30 s)")
    print(f"  sklearn  {plain:6.1f} s wall, {plain_cpu:6.1f} s CPU  (plain pipeline, no lexical metrics, no map)  ratio {plain / ours:.2f}x")
    print(f"  vendi {g['vendi']:.1f} (reference {ref['vendi']:.1f}), cos.dist {g['mean_cosine_distance']:.3f} "
          f"({ref['mean_cosine_distance']:.3f}), proximity {g['proximity_humaneval']:.3f}/{g['proximity_mbpp']:.3f} "
          f"(reference, both benchmarks {ref['proximity']:.3f})")


# ---------------------------------------------------------------- 2. near-duplicates

def reference_neardup(texts: list[str], threshold: float, num_perm: int, weights: tuple[float, float]) -> np.ndarray:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=weights)
    kept: dict[int, MinHash] = {}
    keep = np.zeros(len(texts), bool)
    for i, t in enumerate(texts):
        words = t.lower().split()
        if not words:
            keep[i] = True
            continue
        shingles = {" ".join(words[j:j + 5]) for j in range(max(1, len(words) - 4))}
        m = MinHash(num_perm=num_perm)
        m.update_batch([s.encode() for s in shingles])
        if any(m.jaccard(kept[j]) >= threshold for j in lsh.query(m)):
            continue
        keep[i] = True
        kept[i] = m
        lsh.insert(i, m)
    return keep


def part_neardup(rows: int, ref_rows: int) -> None:
    from codemix.mixing.neardup import LSHParams, first_copies, signatures

    data = corpus(rows)
    texts = pa.array([t for t, _, _ in data], pa.string())
    params = LSHParams()
    first_copies(signatures(texts[:2000], params), params)  # warm-up: datasketch import, tables
    t0, c0 = time.perf_counter(), time.process_time()
    sk = signatures(texts, params)
    t1 = time.perf_counter()
    keep = first_copies(sk, params)
    t2 = time.perf_counter()
    ours, ours_cpu = t2 - t0, time.process_time() - c0
    sub = texts[:ref_rows].to_pylist()
    w = params.false_positive_weight
    t3, c3 = time.perf_counter(), time.process_time()
    ref_keep = reference_neardup(sub, params.threshold, params.num_perm, (w, 1 - w))
    plain, plain_cpu = time.perf_counter() - t3, time.process_time() - c3
    sub_keep = first_copies(sk[:ref_rows], params)
    ours_rate, ref_rate = rows / ours, ref_rows / plain
    b, r = params.bands
    print(f"near-duplicates, {rows} rows (threshold {params.threshold}, word 5-grams, {params.num_perm} perms, "
          f"{b} bands x {r})")
    print(f"  codemix   {ours:6.1f} s wall ({ours_cpu:.1f} s CPU)  {ours_rate:9,.0f} rows/s  (signatures {t1 - t0:.1f} s, LSH {t2 - t1:.1f} s; "
          f"removed {int((~keep).sum())}; target >= 20,000 rows/s)")
    print(f"  datasketch per-row loop on {ref_rows} rows: {plain:6.1f} s wall ({plain_cpu:.1f} s CPU)  {ref_rate:9,.0f} rows/s  "
          f"ratio {ours_rate / ref_rate:.1f}x")
    agree = float((sub_keep == ref_keep).mean())
    print(f"  same keep/drop decision on {agree:.2%} of those {ref_rows} rows (removed: codemix "
          f"{int((~sub_keep).sum())}, datasketch {int((~ref_keep).sum())}; the shingle hashes differ, sha1 vs ours)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("semantic", "neardup", "both"), default="both")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--near-rows", type=int, default=200000)
    ap.add_argument("--ref-rows", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.part in ("semantic", "both"):
        part_semantic(args.rows, args.seed)
    if args.part in ("neardup", "both"):
        part_neardup(args.near_rows, min(args.ref_rows, args.near_rows))


if __name__ == "__main__":
    main()
