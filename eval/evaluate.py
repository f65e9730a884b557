"""Evaluate one model on several benchmarks: generate samples, execute them, score pass@k.

Layout of `out_dir` (one folder per benchmark, evalplus-style names):

    <out_dir>/<benchmark>/inputs.json         what this work was started with (model identity,
                                              settings, problems hash): resume only into the same
    <out_dir>/<benchmark>/prompts.jsonl       exact prompt text of every problem
    <out_dir>/<benchmark>/problems.jsonl      generated problems (pyfuncs, markov), for `codemix score`
    <out_dir>/<benchmark>/samples.jsonl       task_id, solution, completion (EvalPlus-compatible)
    <out_dir>/<benchmark>/samples.raw.jsonl   raw model outputs
    <out_dir>/<benchmark>/results.jsonl       one verdict per sample
    <out_dir>/<benchmark>/results.json        pass@k, CIs, per-task counts (contract keys)
    <out_dir>/<benchmark>/manifest.json       written last: links the checkpoint manifest hash,
                                              generation settings, prompt style, problems hash

A benchmark whose manifest records the same inputs is skipped ("up to date"); a killed run
resumes inside generation and scoring (both append and skip finished work).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mixing.artifacts import (
    atomic_write_json,
    hash_json,
    is_up_to_date,
    package_versions,
    read_manifest,
    utc_now,
    write_manifest,
)
from mixing.errors import CodemixError

if TYPE_CHECKING:
    from eval.config import EvalConfig

INPUTS_FILE = "inputs.json"
GENERATION_KEYS = ("prompt_style", "backend", "n_samples", "temperature", "top_p", "max_new_tokens", "batch_size")
# The headline numbers of either scorer kind, copied into the stage manifest.
METRIC_KEYS = ("metric", "pass_at_k", "pass_at_k_ci", "accuracy", "accuracy_ci", "groups")


def model_identity(model_ref: str, adapter: str | None) -> dict[str, Any]:
    """What identifies the model being scored: the checkpoint manifest's hash when there is one
    (a codemix checkpoint), else the path/id and, for local dirs, nothing heavier than the name."""
    ident: dict[str, Any] = {"model": str(model_ref), "adapter": adapter}
    manifest = read_manifest(model_ref) if Path(model_ref).is_dir() else None
    if manifest is not None:
        ident["checkpoint_manifest_hash"] = hash_json(manifest)
    if adapter and Path(adapter).is_dir():
        am = read_manifest(adapter)
        if am is not None:
            ident["adapter_manifest_hash"] = hash_json(am)
    return ident


def evaluate_model(model_ref: str, config: EvalConfig, *, out_dir: str | Path, seed: int,
                   adapter: str | None = None, force: bool = False,
                   recipe_hash: str | None = None) -> dict[str, dict[str, Any]]:
    """Generate then score on each of `config.benchmarks`; returns {benchmark: results.json}.
    `config` is the validated `eval:` section (or what `codemix eval`'s flags built): it travels
    whole, and nothing it already checked is checked again here."""
    from eval.benchmarks import get_benchmark, load_problems, problems_hash
    from eval.generation import generate
    from eval.scoring import score_samples

    for bench in config.benchmarks:
        get_benchmark(bench)  # unknown names fail before any model loads
    settings = {key: getattr(config, key) for key in GENERATION_KEYS}
    ident = model_identity(model_ref, adapter)
    out: dict[str, dict[str, Any]] = {}
    for bench in config.benchmarks:
        bench_dir = Path(out_dir) / bench
        problems_path = config.problems.get(bench)
        probs = load_problems(bench, problems_path)
        if config.tasks:
            wanted = set(config.tasks)
            probs = [p for p in probs if p.task_id in wanted]
            if not probs:
                raise CodemixError(f"{bench}: none of the requested tasks exist ({', '.join(sorted(wanted)[:5])} ...)")
        phash = problems_hash(probs)
        inputs = {"model": ident, "benchmark": bench, "problems_hash": phash, "seed": seed, "k": sorted(config.k),
                  "tasks": sorted(config.tasks) if config.tasks else None, "timeout": config.timeout,
                  "generation": settings}
        inputs_hash = hash_json(inputs)
        if not force and is_up_to_date(bench_dir, inputs_hash):
            import json

            print(f"{bench}: up to date ({bench_dir})")
            out[bench] = json.loads((bench_dir / "results.json").read_text(encoding="utf-8"))
            continue
        if force or _started_with(bench_dir) != inputs_hash:
            _clear_stale(bench_dir)
        if not get_benchmark(bench).path_is_file:
            # Generated problems (pyfuncs, markov): kept beside the samples, so `codemix score
            # --problems <bench_dir>/problems.jsonl` scores any model's samples against them.
            _write_problems(bench_dir / "problems.jsonl", probs)
        # Recorded before any work: a killed run resumes only into the same inputs (a retrained
        # checkpoint at the same path must not inherit the old checkpoint's samples).
        atomic_write_json(bench_dir / INPUTS_FILE, {"inputs_hash": inputs_hash, "inputs": inputs})
        gen = generate(probs, model_ref=model_ref, adapter=adapter, out_dir=bench_dir, seed=seed, tasks=None,
                       **settings)
        results = score_samples(bench, bench_dir / "samples.jsonl", problems_path=problems_path,
                                k=tuple(config.k), workers=config.workers, timeout=config.timeout, out_dir=bench_dir,
                                tasks=[p.task_id for p in probs] if config.tasks else None)
        metric = {key: results[key] for key in METRIC_KEYS if key in results}
        write_manifest(bench_dir, {
            "inputs_hash": inputs_hash, "benchmark": bench, "problems_hash": phash,
            "model": ident, "recipe_hash": recipe_hash, "seed": seed,
            "generation": {**settings, "prompt_style": gen.get("prompt_style", settings["prompt_style"])},
            "generation_summary": gen, **metric,
            "samples_hash": results.get("samples_hash"), "versions": package_versions(), "created": utc_now(),
        })
        out[bench] = results
    return out


def _write_problems(path: Path, problems: list) -> None:
    import dataclasses
    import json

    from mixing.artifacts import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(dataclasses.asdict(p), ensure_ascii=False) + "\n" for p in problems))


def _started_with(bench_dir: Path) -> str | None:
    """The inputs hash the work in `bench_dir` was started with (None: nothing started)."""
    import json

    try:
        return json.loads((bench_dir / INPUTS_FILE).read_text(encoding="utf-8")).get("inputs_hash")
    except (OSError, ValueError, AttributeError):
        return None


def _clear_stale(bench_dir: Path) -> None:
    """Inputs changed: old samples and verdicts must not be resumed into the new run."""
    for name in (INPUTS_FILE, "problems.jsonl", "prompts.jsonl", "generation.json", "samples.jsonl", "samples.raw.jsonl",
                 "results.jsonl", "results.run.json", "results.json", "manifest.json"):
        (bench_dir / name).unlink(missing_ok=True)
