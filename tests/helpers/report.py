"""Run and sweep directories for report tests, written as the real stages write them: results.json
in both scorer shapes (execute: pass_at_k; exact_match: accuracy) with per_task counts and the
pass@k / accuracy numbers computed by codemix.eval.passk, mix and train manifests with the fields the
report reads. Outcomes are drawn from a seeded model of a sweep: a curve over general_fraction
with its maximum at 0.1, per-problem difficulty shared by every cell (paired), seed noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codemix.eval.passk import pass_at_k_report

FRACTIONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
BENCHMARKS = {"humaneval": 164, "mbpp": 200}


def write_results(path: Path, benchmark: str, per_task: dict[str, dict[str, int]], *, problems_hash: str,
                  kind: str = "execute") -> dict:
    counts = [(t["n"], t["c"]) for t in per_task.values()]
    results = {"benchmark": benchmark, "n_tasks": len(per_task), "n_attempted": len(per_task),
               "n_samples": sum(n for n, _ in counts), "per_task": per_task, "problems_hash": problems_hash,
               "samples_hash": "0" * 64}
    if kind == "execute":
        means, cis = pass_at_k_report(counts, [1])
        results.update(metric="pass@k", pass_at_k=means, pass_at_k_ci=cis)
    else:
        values = np.array([c / n for n, c in counts])
        rng = np.random.default_rng(0)
        boot = values[rng.integers(0, len(values), (2000, len(values)))].mean(axis=1)
        results.update(metric="accuracy", accuracy=float(values.mean()),
                       accuracy_ci=[float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))], groups={})
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(results))
    return results


def curve(x: float) -> float:
    return 0.55 - 6.0 * (x - 0.1) ** 2


def write_run(run_dir: Path, fraction: float, seed: int, *, benchmarks=BENCHMARKS, budget: int = 2000,
              seed_noise: float = 0.15, n_samples: int = 1, kind: str = "execute") -> Path:
    """A run directory as `codemix run` leaves it (the files the report reads)."""
    general = round(budget * fraction)
    recipe = {"name": run_dir.name, "seed": seed, "output_dir": str(run_dir),
              "mix": {"budget": budget, "general_fraction": fraction}, "train": {"learning_rate": 0.001}}
    mix = {"stage": "mix", "rows": budget, "budget": budget, "style": "general_fraction", "recipe": recipe,
           "domains": {"code": budget - general, "general": general},
           "sources": [{"name": "oss-instruct", "domain": "code", "realised": budget - general},
                       {"name": "alpaca", "domain": "general", "realised": general}]}
    train = {"stage": "train", "recipe": recipe, "final_loss": 1.0 + fraction + seed / 100, "tokens": 123456 + seed,
             "wall_s": 60.0 + seed, "steps": 100}
    (run_dir / "mix").mkdir(parents=True, exist_ok=True)
    (run_dir / "mix" / "manifest.json").write_text(json.dumps(mix))
    (run_dir / "train").mkdir(parents=True, exist_ok=True)
    (run_dir / "train" / "manifest.json").write_text(json.dumps(train))
    for b, (bench, n_problems) in enumerate(benchmarks.items()):
        difficulty = np.random.default_rng(100 + b).normal(0, 1.5, n_problems)  # shared by all cells
        rng = np.random.default_rng([b, seed, int(fraction * 1000)])
        shift = np.random.default_rng([seed, 7]).normal(0, seed_noise)  # one trained model's luck
        logit = np.log(curve(fraction) / (1 - curve(fraction))) + difficulty + shift
        p = 1 / (1 + np.exp(-logit))
        c = rng.binomial(n_samples, p)
        per_task = {f"{bench}/{i}": {"n": n_samples, "c": int(c[i])} for i in range(n_problems)}
        write_results(run_dir / "eval" / bench, bench, per_task, problems_hash=f"{bench}-hash", kind=kind)
    return run_dir


def write_base(eval_dir: Path, benchmarks=BENCHMARKS) -> None:
    for bench, n_problems in benchmarks.items():
        per_task = {f"{bench}/{i}": {"n": 1, "c": int(i % 5 == 0)} for i in range(n_problems)}
        write_results(eval_dir / bench, bench, per_task, problems_hash=f"{bench}-hash")


def write_sweep(sweep_dir: Path, fractions=FRACTIONS, seeds=(1,), **run_kwargs) -> Path:
    cells = []
    for f in fractions:
        for s in seeds:
            values = {"mix.general_fraction": f, "seed": s}
            name = f"general_fraction={f},seed={s}"
            write_run(sweep_dir / "cells" / name, f, s, **run_kwargs)
            cells.append({"name": name, "values": values, "dir": f"cells/{name}", "status": "done"})
    write_base(sweep_dir / "base" / "eval", run_kwargs.get("benchmarks", BENCHMARKS))
    spec = {"name": sweep_dir.name, "recipe_hash": "f" * 64,
            "axes": {"mix.general_fraction": list(fractions), "seed": list(seeds)},
            "cells": cells, "baseline": cells[0]["name"], "reference": {"eval_dir": "base/eval"}}
    (sweep_dir / "sweep.json").write_text(json.dumps(spec))
    return sweep_dir


# ---------------------------------------------------------------- string-rewrite sweeps with mixtures

RULES = ("Reverse the order of the characters in", "Convert every letter to upper case in",
         "Remove all vowels from", "Double each character of", "Sort the letters alphabetically in",
         "Replace each space with an underscore in", "Rotate the text left by two positions:",
         "Swap lower and upper case throughout", "Keep only the first letter of each word in",
         "Count how many words appear in", "Wrap the sentence in square brackets:",
         "Delete duplicate adjacent characters from", "Capitalise the final word of",
         "Insert a dash between consecutive letters of", "Repeat the whole phrase three times:",
         "Move the last word to the front of")
WORDS = ("apple", "river", "stone", "light", "green", "table", "cloud", "music", "paper", "tiger", "house", "north")


def write_mixture(mix_dir: Path, n_rules: int, rows_per_rule: int = 12, seed: int = 0) -> Path:
    """A built mixture as the mixing stage writes it (data.jsonl in the mixture schema and a
    manifest) of string-rewrite rows: `n_rules` rules, equally many rows each, so its effective
    number of tasks is n_rules by construction. Arguments share a 12-word vocabulary, so rows of
    one rule differ only in their argument and the rule's words carry the diversity."""
    rng = np.random.default_rng([seed, n_rules])
    rows = []
    for r in range(n_rules):
        for i in range(rows_per_rule):
            arg = " ".join(rng.choice(WORDS, size=3))
            rows.append({"id": f"rw-{r}-{i}", "source": "rewrite", "domain": "general", "task": f"rule{r}",
                         "prompt": [{"role": "user", "content": f"{RULES[r]} \"{arg}\""}],
                         "completion": [{"role": "assistant", "content": arg[::-1]}]})
    mix_dir.mkdir(parents=True, exist_ok=True)
    (mix_dir / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    manifest = {"stage": "mix", "rows": len(rows), "data_file": "data.jsonl", "content_hash": f"rules-{n_rules}-{seed}",
                "domains": {"general": len(rows)}, "sources": [{"name": "rewrite", "domain": "general",
                                                                "realised": len(rows)}],
                "recipe": {"name": "rewrite", "seed": seed, "data": {"rules": n_rules}}}
    (mix_dir / "manifest.json").write_text(json.dumps(manifest))
    return mix_dir


def rewrite_accuracy(n_rules: int) -> float:
    """The paper's string-rewrite finding as a model: held-out accuracy rises with the number of
    distinct rules seen (0.2 at 1 rule to 0.8 at 16)."""
    return 0.2 + 0.6 * np.log2(n_rules) / 4


def write_rewrite_sweep(sweep_dir: Path, rules=(1, 2, 4, 8, 16), seeds=(1,), n_problems: int = 150) -> Path:
    """A sweep over the number of rewrite rules, laid out as `codemix sweep` does: cells/<name>/
    with `mix` a symlink to mixes/<rules> (seeds of one value share their mixture), exact-match
    results on held-out rewrite problems, no diversity block yet."""
    cells = []
    difficulty = np.random.default_rng(5).normal(0, 1.0, n_problems)
    for k in rules:
        mix = write_mixture(sweep_dir / "mixes" / f"rules-{k}", k)
        for s in seeds:
            name = f"rules={k},seed={s}"
            cell = sweep_dir / "cells" / name
            cell.mkdir(parents=True)
            (cell / "mix").symlink_to(Path("..") / ".." / "mixes" / mix.name)
            logit = np.log(rewrite_accuracy(k) / (1 - rewrite_accuracy(k))) + difficulty
            c = np.random.default_rng([k, s]).binomial(1, 1 / (1 + np.exp(-logit)))
            per_task = {f"rewrite/{i}": {"n": 1, "c": int(c[i])} for i in range(n_problems)}
            write_results(cell / "eval" / "rewrite", "rewrite", per_task, problems_hash="rw", kind="exact_match")
            cells.append({"name": name, "values": {"data.rules": k, "seed": s}, "dir": f"cells/{name}",
                          "status": "done"})
    spec = {"name": sweep_dir.name, "recipe_hash": "e" * 64, "axes": {"data.rules": list(rules), "seed": list(seeds)},
            "cells": cells, "baseline": cells[0]["name"]}
    (sweep_dir / "sweep.json").write_text(json.dumps(spec))
    return sweep_dir
