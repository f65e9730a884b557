"""Speed of `codemix mix` end to end on a 1,000,000-row mixture, against plain `datasets`.

    python speed/mix_speed.py                 # 1M rows (target: >= 50,000 rows/s on 2 cores)
    python speed/mix_speed.py --rows 200000   # quicker

Setup (untimed, cached in --work-dir): three local JSON-lines sources of synthetic rows with
Zipf-distributed words and code-like text, ~15% more rows than the budget so dedup and
decontamination have replacements — code Alpaca-style (instruction/input/output), OSS-Instruct
style (problem/solution) and general Alpaca-style. 1% of rows are planted duplicates and 0.05%
carry a HumanEval prompt + solution, so both cleaning steps do real work.

Timed: `codemix.mixing.pipeline.build_mixture` from scratch (sha256 of the inputs, reading, format
normalisation, decontamination against HumanEval + MBPP with 13-grams and signatures, exact
dedup, seeded selection, shuffle, JSON-lines writing). Reference, same run: `datasets`
load_dataset("json") of the same files + concatenate + shuffle(seed) + select(budget) + to_json
(no normalisation, no cleaning), with a fresh cache directory. Both rates count output rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codemix.mixing.benchmark_records import load_humaneval  # noqa: E402
from codemix.mixing.config import MixConfig  # noqa: E402
from codemix.mixing.writer import json_string, utf8_bytes  # noqa: E402

SHARED_MBPP = ROOT.parent / "shared" / "data" / "mbpp" / "mbpp.jsonl"
SETUP_VERSION = 2


def _vocab(rng: np.random.Generator, n: int) -> pa.Array:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    lengths = rng.integers(2, 11, n)
    chars = letters[rng.integers(0, 26, int(lengths.sum()))].tobytes().decode()
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return pa.array([chars[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)])


CODE_WORDS = ["def ", "return ", "for ", "in ", "if ", "else:\n        ", "(", ")", "):\n    ", "= ", "+ ", "- ",
              "[i] ", "range(n) ", "len(xs) ", "self.", "None ", "True ", "\n    ", "\n        ", "x ", "y ", "i ", "0 ", "1 "]


def _texts(rng, vocab: pa.Array, n: int, lo: int, hi: int, code: bool) -> pa.Array:
    """n texts of lo..hi words; words drawn Zipf-like (rank^-1.1), code mixes in code tokens."""
    words = pa.concat_arrays([pc.binary_join_element_wise(vocab, " ", ""), pa.array(CODE_WORDS)]) if code \
        else pc.binary_join_element_wise(vocab, " ", "")
    lengths = rng.integers(lo, hi + 1, n)
    total = int(lengths.sum())
    ranks = np.minimum((rng.pareto(1.1, total) * 20).astype(np.int64), len(vocab) - 1)
    if code:
        is_code = rng.random(total) < 0.35
        ranks[is_code] = len(vocab) + rng.integers(0, len(CODE_WORDS), int(is_code.sum()))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), words.take(pa.array(ranks))), "")


def _write_source(path: Path, fields: dict[str, pa.Array]) -> None:
    parts: list = ["{"]
    for i, (name, arr) in enumerate(fields.items()):
        parts += [("," if i else "") + json.dumps(name) + ":", json_string(arr)]
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    with open(path, "wb") as f:
        f.write(utf8_bytes(lines))


def make_sources(work: Path, pool: dict[str, int], seed: int) -> dict[str, Path]:
    stamp = work / f"sources-v{SETUP_VERSION}-{seed}-{'-'.join(f'{k}{v}' for k, v in pool.items())}.done"
    paths = {name: work / f"{name}.jsonl" for name in pool}
    if stamp.exists():
        return paths
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng, 30000)
    he = load_humaneval()
    planted_text = pa.array([r["prompt"] + r["canonical_solution"] for r in he])
    # Words per field (min, max, code-like): rows average ~500 bytes of JSON, between Alpaca
    # (~300) and Code Alpaca / T0 rows (~400-1200); OSS-Instruct rows are longer (~2.5 kB).
    shape = {"code_alpaca": ({"instruction": (6, 20, False), "input": (0, 8, True), "output": (20, 70, True)}),
             "oss_instruct": ({"problem": (20, 55, False), "solution": (25, 75, True)}),
             "general": ({"instruction": (6, 20, False), "input": (0, 10, False), "output": (15, 60, False)})}
    for name, n in pool.items():
        fields = {f: _texts(rng, vocab, n, lo, hi, code) for f, (lo, hi, code) in shape[name].items()}
        dup = rng.random(n) < 0.01                       # 1% exact copies of another row
        src = np.where(dup, rng.integers(0, n, n), np.arange(n))
        fields = {f: a.take(pa.array(src)) for f, a in fields.items()}
        last = list(fields)[-1]                          # 0.05% contain a HumanEval function
        hit = np.flatnonzero(rng.random(n) < 0.0005)
        if len(hit):
            arr = fields[last].to_pylist()
            for k, i in enumerate(hit.tolist()):
                arr[i] = planted_text[k % len(he)].as_py()
            fields[last] = pa.array(arr)
        _write_source(paths[name], fields)
    stamp.write_text("ok\n")
    return paths


def run_codemix(paths: dict[str, Path], budget: int, seed: int, out: Path) -> tuple[float, dict]:
    from codemix.mixing.pipeline import build_mixture

    mix = MixConfig.model_validate({
        "budget": budget, "general_fraction": 0.1,
        "sources": [{"name": "code-alpaca", "path": str(paths["code_alpaca"]), "format": "alpaca", "domain": "code"},
                    {"name": "oss", "path": str(paths["oss_instruct"]), "format": "oss_instruct", "domain": "code"},
                    {"name": "general", "path": str(paths["general"]), "format": "alpaca", "domain": "general"}],
        "decontaminate": {"benchmarks": ["humaneval", "mbpp"] if SHARED_MBPP.is_file() else ["humaneval"],
                          "mbpp_path": str(SHARED_MBPP) if SHARED_MBPP.is_file() else None},
        "dedup": "exact",
    })
    shutil.rmtree(out, ignore_errors=True)
    t, cpu = time.perf_counter(), time.process_time()
    manifest, _ = build_mixture(mix, seed=seed, out_dir=out, recipe={"mix": mix.model_dump(mode="json")},
                                recipe_hash="benchmark", force=True)
    manifest["cpu_s"] = time.process_time() - cpu
    return time.perf_counter() - t, manifest


def run_reference(paths: dict[str, Path], budget: int, seed: int, work: Path) -> float:
    import datasets

    cache = work / "hf-cache"
    shutil.rmtree(cache, ignore_errors=True)
    datasets.disable_progress_bars()
    t, cpu = time.perf_counter(), time.process_time()
    parts = [datasets.load_dataset("json", data_files=str(p), split="train", cache_dir=str(cache)) for p in paths.values()]
    parts = [d.remove_columns([c for c in d.column_names if c not in ("instruction", "output", "problem", "solution")])
             for d in parts]
    parts = [d.rename_columns({"problem": "instruction", "solution": "output"}) if "problem" in d.column_names else d
             for d in parts]
    ds = datasets.concatenate_datasets(parts).shuffle(seed=seed).select(range(budget))
    ds.to_json(str(work / "reference.jsonl"))
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    shutil.rmtree(cache, ignore_errors=True)
    return elapsed, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="mixture budget (output rows)")
    ap.add_argument("--work-dir", default="/tmp/codemix-mix-speed", help="where sources and outputs go")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--no-reference", action="store_true", help="skip the plain-datasets reference run")
    args = ap.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    b = args.rows
    # Pools 15% above the quotas (code 90% split over two sources, general 10%).
    pool = {"code_alpaca": int(b * 0.45 * 1.15), "oss_instruct": int(b * 0.45 * 1.15), "general": int(b * 0.10 * 1.15)}
    t = time.perf_counter()
    paths = make_sources(work, pool, args.seed)
    size = sum(p.stat().st_size for p in paths.values())
    print(f"sources: {sum(pool.values()):,} rows, {size / 1e6:.0f} MB ({size / sum(pool.values()):.0f} bytes/row) "
          f"in {work} (setup {time.perf_counter() - t:.1f} s, untimed)")
    elapsed, manifest = run_codemix(paths, b, args.seed, work / "mix")
    rate = manifest["rows"] / elapsed
    print(f"codemix mix:  {manifest['rows']:,} rows in {elapsed:.1f} s = {rate:,.0f} rows/s "
          f"({size / 1e6 / elapsed:.0f} MB/s of input; CPU {manifest['cpu_s']:.1f} s; phases {manifest['timings_s']})")
    for src in manifest["sources"]:
        print(f"  {src['name']:12s} {src['rows']:>9,} rows  " + "  ".join(f"{k} {v:.1f} s" for k, v in src["timings_s"].items()))
    print(f"  removed: {manifest['decontamination']['removed']} contaminated, {manifest['dedup']['removed']} duplicates; "
          f"target >= 50,000 rows/s: {'met' if rate >= 50_000 else 'NOT met'}")
    if not args.no_reference:
        ref, ref_cpu = run_reference(paths, b, args.seed, work)
        ref_rate = b / ref
        print(f"reference (datasets load+shuffle+select+to_json, no cleaning): {b:,} rows in {ref:.1f} s = "
              f"{ref_rate:,.0f} rows/s (CPU {ref_cpu:.1f} s)")
        print(f"ratio codemix / reference: {rate / ref_rate:.2f}x wall-clock, {ref_cpu / manifest['cpu_s']:.2f}x CPU time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
