"""The benchmark registry: a name -> `Benchmark` map that benchmark modules fill at import.

Built-in benchmarks are listed in BUILTIN_MODULES (one line each) and imported on first use, so
a lookup costs nothing until a benchmark is needed. Anything else (a test, a plugin) may call
`register` directly; a name cannot be registered twice with a different definition.
"""

from __future__ import annotations

import importlib

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks.base import Benchmark
from codemix.eval.benchmarks.problem import Problem

BUILTIN_MODULES = (
    "codemix.eval.benchmarks.humaneval",
    "codemix.eval.benchmarks.mbpp",
    "codemix.eval.benchmarks.plus",
    "codemix.eval.benchmarks.pyfuncs",
    "codemix.eval.benchmarks.markov",
)

_REGISTRY: dict[str, Benchmark] = {}
_loaded = False


def register(benchmark: Benchmark) -> Benchmark:
    existing = _REGISTRY.get(benchmark.name)
    if existing is not None and existing != benchmark:
        raise ValueError(f"benchmark {benchmark.name!r} is already registered (by {existing.load.__module__})")
    _REGISTRY[benchmark.name] = benchmark
    return benchmark


def unregister(name: str) -> None:
    """Remove a benchmark (tests that register their own clean up with this)."""
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def benchmark_names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(_REGISTRY)


def get_benchmark(name: str) -> Benchmark:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib
        import re

        # "humaneval_plus" / "MBPP-Plus" mean humaneval+ / mbpp+: spelled as registered before matching,
        # else the nearest name by letters is humaneval, the other benchmark.
        spelled = re.sub(r"[_\-\s]*plus$", "+", name.strip().lower())
        close = difflib.get_close_matches(spelled, list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CodemixError(f"unknown benchmark {name!r}{hint}; available: {', '.join(_REGISTRY)}") from None


def load_problems(name: str, path: str | None = None) -> list[Problem]:
    """The problems of benchmark `name`, from `path` (a local file; "hub" for the Hugging Face
    Hub; a selector such as "seed=N" for generated problems) or the benchmark's default source."""
    bench = get_benchmark(name)
    if path is None and bench.default_source is None:
        raise CodemixError(f"{name}: no default source; pass {bench.path_hint or 'the problems file'} "
                           f"with --problems {name}=PATH")
    if bench.path_is_file and path is not None and path != "hub" and not _is_file(path):
        raise CodemixError(f"{name}: problems file {path} does not exist")
    try:
        problems = bench.load(path)
    except CodemixError as e:
        from codemix.mixing.benchmark_records import LOCAL_FILE_HINT

        if not str(e).endswith(LOCAL_FILE_HINT):
            raise
        # Name the flag / key that takes a local copy instead of the generic hint.
        raise CodemixError(str(e).removesuffix(LOCAL_FILE_HINT) + f"; pass --problems {name}=PATH"
                           + (f", PATH being {bench.path_hint}" if bench.path_hint else "")
                           + f", or set eval.problems.{name} in a recipe") from None
    ids = [p.task_id for p in problems]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise CodemixError(f"{name}: task_id {dup} appears more than once in {path or 'the source'}")
    if not problems:
        raise CodemixError(f"{name}: no problems in {path or 'the source'}")
    return problems


def _is_file(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()
