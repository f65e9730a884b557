"""What `codemix validate` and the start of `codemix run` check beyond the schema: everything that
can be known before anything runs, so a recipe does not fail after an hour of mixing and training.

Errors (raise CodemixError, naming the file and key):
- local paths that do not exist: mixture sources, decontamination files, benchmark problem files,
  local models and adapters. A Hub id stays allowed; a path and an id are told apart by shape,
  as `codemix.finetune.checkpoint.resolve_model` and `codemix.mixing.sources.resolve` do.
- for `codemix run`: anything the recipe needs from the Hub (Hub sources, MBPP for
  decontamination, a Hub model, MBPP problems) while the Hub cannot be reached and it is not in
  the local cache (mixing/hub.py); `codemix validate` warns instead.
Warnings (returned, printed by the command):
- benchmark prompts longer than the model's context, where the tokenizer and the context are
  known without the Hub: a random-init model (its `arch.max_position_embeddings`; its tokenizer
  if already built, else the byte tokenizer, whose token count bounds a byte-level BPE's from
  above) or a local model directory. Such prompts are scored as failures, not fatal, hence a
  warning. Hub models are skipped offline.
- benchmark problems that cannot be loaded here (e.g. MBPP from the Hub while offline).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError
from codemix.recipes.schema import Recipe


def preflight(recipe: Recipe, path: Path | str, overrides: list[str] | tuple[str, ...] = (), *,
              hub_required: bool = False) -> list[str]:
    """Raise on what will certainly fail; return warnings about what may. An error in a value
    that a --set gave names the override, not the file. With `hub_required` (`codemix run`),
    a Hub that cannot be reached for something the recipe needs is an error now, not after
    training; `codemix validate` (perhaps run on a laptop for a cluster) only warns."""
    warnings: list[str] = []
    check_paths(recipe, _Where(path, overrides), strict_problems=hub_required, warnings=warnings)
    for what, fix, repo_id, repo_type in hub_requirements(recipe):
        from codemix.mixing.hub import require_hub

        try:
            require_hub(what, fix, repo_id=repo_id, repo_type=repo_type)
        except CodemixError as e:
            if hub_required:
                raise CodemixError(f"{path}: {e}") from None
            warnings.append(str(e))
    if recipe.eval is not None:
        warnings.extend(context_warnings(recipe))
    return warnings


# ---------------------------------------------------------------- paths

class _Where:
    """`where(loc)`: the recipe file, or the --set that gave the value at `loc`."""

    def __init__(self, path: Path | str, overrides: list[str] | tuple[str, ...]) -> None:
        from codemix.recipes.loader import parse_override_key

        self.path = path
        self.overrides = [(a, parse_override_key(a.partition("=")[0])) for a in overrides]

    def __call__(self, *loc: str | int) -> str:
        from codemix.recipes.loader import blamed_override

        blamed = blamed_override(loc, self.overrides)
        return f"--set {blamed}" if blamed else str(self.path)


def check_paths(recipe: Recipe, path: _Where, *, strict_problems: bool = True,
                warnings: list[str] | None = None) -> None:
    """Missing local paths are errors. Benchmark problem files are the exception in `codemix
    validate` (`strict_problems=False`): a recipe is often validated on a laptop or a login node
    for a cluster where evaluation data such as the EvalPlus release files live; there a missing
    problems file is a warning, and `codemix run` (where it must exist) makes it an error."""
    from codemix.finetune.checkpoint import looks_like_hub_id
    from codemix.mixing.sources import resolve

    if recipe.mix is not None:
        for i, src in enumerate(recipe.mix.sources):
            try:
                resolve(src)
            except CodemixError as e:
                raise CodemixError(f"{path('mix', 'sources', i, 'path')}: mix.sources[{i}].path: {e}") from None
        dc = recipe.mix.decontaminate
        for key in ("mbpp_path", "humaneval_path"):
            value = getattr(dc, key)
            if dc.enabled and value is not None and not Path(value).expanduser().is_file():
                raise CodemixError(f"{path('mix', 'decontaminate', key)}: mix.decontaminate.{key}: {value}: no such file")
    if recipe.train is not None and recipe.train.model.init == "pretrained":
        ref = recipe.train.model.path
        if ref and not Path(ref).expanduser().exists() and not looks_like_hub_id(ref):
            raise CodemixError(f"{path('train', 'model', 'path')}: train.model.path: {ref}: no such directory (and not a Hub id owner/name)")
    ev = recipe.eval
    if ev is None:
        return
    if recipe.train is None and ev.model is not None and ev.backend != "openai":  # openai: the server's name for it
        if not Path(ev.model).expanduser().exists() and not looks_like_hub_id(ev.model):
            raise CodemixError(f"{path('eval', 'model')}: eval.model: {ev.model}: no such directory (and not a Hub id owner/name)")
    if ev.adapter is not None and not (Path(ev.adapter).expanduser() / "adapter_config.json").is_file():
        raise CodemixError(f"{path('eval', 'adapter')}: eval.adapter: {ev.adapter}: not a peft adapter directory (no adapter_config.json)")
    from codemix.eval.benchmarks import get_benchmark

    for bench in ev.benchmarks:
        b = get_benchmark(bench)
        if b.default_source is None and bench not in ev.problems:
            raise CodemixError(f"{path('eval', 'benchmarks')}: eval.benchmarks: {bench} has no default source; set "
                               f"eval.problems.{bench} to {b.path_hint or 'its problems file'}")
    for bench, problems in ev.problems.items():
        b = get_benchmark(bench)
        if b.path_is_file and problems != "hub" and not Path(problems).expanduser().is_file():
            message = f"{path('eval', 'problems', bench)}: eval.problems.{bench}: {problems}: no such file"
            if strict_problems or warnings is None:
                raise CodemixError(message)
            warnings.append(message + " (needed where the recipe runs)")


def hub_requirements(recipe: Recipe) -> list[tuple[str, str, str | None, str]]:
    """(what, fix, repo id, repo type) for everything in the recipe that reads from the Hub."""
    from codemix.eval.benchmarks import get_benchmark
    from codemix.finetune.checkpoint import looks_like_hub_id
    from codemix.mixing.benchmark_records import MBPP_HUB_ID
    from codemix.mixing.sources import resolve

    needs: list[tuple[str, str, str | None, str]] = []
    if recipe.mix is not None:
        for i, src in enumerate(recipe.mix.sources):
            if resolve(src).kind == "hub":
                needs.append((f"mix.sources[{i}] ({src.path})", "use a local copy of the data set as its path",
                              src.path, "dataset"))
        dc = recipe.mix.decontaminate
        if dc.enabled and "mbpp" in dc.benchmarks and dc.mbpp_path is None:
            needs.append((f"mix.decontaminate (MBPP from {MBPP_HUB_ID})",
                          "set mix.decontaminate.mbpp_path to a local mbpp.jsonl", MBPP_HUB_ID, "dataset"))
    tr = recipe.train
    model = tr.model.path if tr is not None and tr.model.init == "pretrained" else None
    key = "train.model.path"
    if tr is None and recipe.eval is not None and recipe.eval.backend != "openai":  # a served model: no download
        model, key = recipe.eval.model, "eval.model"
    if model and not Path(model).expanduser().exists() and looks_like_hub_id(model):
        needs.append((f"{key} {model!r}", f"set {key} to a local model directory", model, "model"))
    if recipe.eval is not None:
        for bench in recipe.eval.benchmarks:
            b = get_benchmark(bench)
            if b.hub_id and recipe.eval.problems.get(bench) in (None, "hub"):
                needs.append((f"eval.benchmarks: {bench} ({b.hub_id})",
                              f"set eval.problems.{bench} to a local {b.path_hint or 'problems file'}", b.hub_id,
                              "dataset"))
    return needs


# ---------------------------------------------------------------- model context vs prompts

def known_model(recipe: Recipe) -> tuple[Any, int, bool, str] | None:
    """(tokenizer, context length, exact, what) for the model eval will see, when both can be
    known without the Hub; `exact` False: the tokenizer's counts are an upper bound."""
    out = Path(recipe.output_dir)
    tr = recipe.train
    if tr is not None and tr.model.init == "random":
        ctx = (tr.model.arch.max_position_embeddings if tr.model.arch is not None else None) or 1024
        for built in (out / "train" / "model", out / "train" / "base", out / "train" / "checkpoints" / "tokenizer"):
            if (built / "tokenizer_config.json").is_file():
                return _auto_tokenizer(built), ctx, True, f"the random-init model ({ctx} positions)"
        from codemix.finetune.tokenizer import build_tokenizer

        exact = tr.model.tokenizer.kind == "byte"
        return _no_length_warning(build_tokenizer("byte")), ctx, exact, f"the random-init model ({ctx} positions)"
    ref = tr.model.path if tr is not None else (recipe.eval.model if recipe.eval else None)
    if not ref:
        return None
    p = Path(ref).expanduser()
    if (p / "train" / "manifest.json").is_file():
        p = p / "train"
    for d in (p, p / "model", p / "merged"):
        if (d / "config.json").is_file() and (d / "tokenizer_config.json").is_file():
            ctx = _context_of(d / "config.json")
            return (_auto_tokenizer(d), ctx, True, f"{ref} ({ctx} positions)") if ctx else None
    return None  # a Hub model (not fetched here) or an adapter checkpoint


def _auto_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return _no_length_warning(AutoTokenizer.from_pretrained(str(path)))


def _no_length_warning(tokenizer):
    """Long prompts are what is being measured here: no "sequence length is longer" warning."""
    tokenizer.model_max_length = 1 << 40
    return tokenizer


def _context_of(config_json: Path) -> int | None:
    try:
        cfg = json.loads(config_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
        if isinstance(cfg.get(name), int) and cfg[name] > 0:
            return cfg[name]
    return None


def _prompt_style(recipe: Recipe) -> str:
    style = recipe.eval.prompt_style
    if style != "auto":
        return style
    return "instruction" if recipe.train is not None else "completion"


def context_warnings(recipe: Recipe) -> list[str]:
    from codemix.eval.benchmarks import load_problems
    from codemix.eval.generation.prompts import build_prompt, encode_prompt_text, resolve_spec

    model = known_model(recipe)
    if model is None:
        return []
    tokenizer, ctx, exact, what = model
    style = _prompt_style(recipe)
    fmt = recipe.train.prompt_format if recipe.train is not None else None
    template = recipe.train.template if recipe.train is not None else None
    spec = resolve_spec(style, fmt, template, tokenizer)
    warnings = []
    for bench in recipe.eval.benchmarks:
        try:
            problems = load_problems(bench, recipe.eval.problems.get(bench))
        except CodemixError as e:
            warnings.append(f"eval.benchmarks: {bench}: cannot check its prompts here: {e}")
            continue
        long = []
        for p in problems:
            try:
                n = len(encode_prompt_text(build_prompt(p, spec, tokenizer), spec, tokenizer))
            except CodemixError:
                continue
            if n >= ctx:
                long.append((p.task_id, n))
        if long:
            bound = "" if exact else "up to "
            worst = max(long, key=lambda t: t[1])
            warnings.append(
                f"eval: {bound}{len(long)} of {len(problems)} {bench} prompts ({style} style) do not fit the "
                f"context of {what}, longest {worst[0]} at {bound}{worst[1]} tokens; they will be scored as "
                f"failures (reason prompt_too_long). A larger max_position_embeddings or a shorter prompt style avoids it")
    return warnings
