"""markov: exact-match accuracy on string-rewrite tasks (`x>y|z=` -> z with the leftmost x
rewritten to y), on rules held out from training (`unseen`) and on training rules with fresh
inputs (`seen`), each split into `noop` (x absent: the answer is z) and `applied`.

Problems come from a mixture built with a `builtin:markov` source: the generator is re-run from
the mixture's manifest (its parameters and seed), so the held-out rules are exactly those the
training rows were kept away from. The path is

- a mixture directory (`<output_dir>/mix`) or a run directory holding `mix/`: N problems
  (markov.test_examples, default 2,000; half unseen, half seen), seeded; or
- a problems.jsonl, as the eval stage writes it next to the samples
  (`<output_dir>/eval/markov/problems.jsonl`), so `codemix score --benchmark markov` can score
  samples from any model against the same problems.

In a recipe: `eval: {benchmarks: [markov], problems: {markov: "{output_dir}/mix"}}`.
"""

from __future__ import annotations

from pathlib import Path

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks.base import Benchmark
from codemix.eval.benchmarks.problem import Problem
from codemix.eval.benchmarks.registry import register

# Answers are one line; a completion-style model (any model, not just a codemix checkpoint)
# ends its answer at the newline.
STOP = ("\n",)


def _problem(task_id: str, prompt: str, reference: str, groups: list[str] | tuple[str, ...]) -> Problem:
    return Problem(task_id=task_id, benchmark="markov", prompt=prompt, instruction=prompt, entry_point="",
                   canonical_solution=reference, test_code="", reference=reference, stop=STOP,
                   groups=tuple(groups))


def _from_mixture(mix_dir: Path) -> list[Problem]:
    from codemix.core.artifacts import read_manifest
    from codemix.mixing.builtin.markov import benchmark_rows, source_from_manifest

    manifest = read_manifest(mix_dir)
    if manifest is None or manifest.get("stage") != "mix":
        raise CodemixError(f"markov: {mix_dir} is not a built mixture (no mix manifest.json)")
    cfg, seed, _ = source_from_manifest(manifest, str(mix_dir / "manifest.json"))
    return [_problem(r["task_id"], r["prompt"], r["reference"], r["groups"]) for r in benchmark_rows(cfg, seed)]


def _from_file(path: Path) -> list[Problem]:
    from codemix.core.jsonl import iter_json_lines

    problems = []
    for lineno, row in iter_json_lines(path):
        missing = [k for k in ("task_id", "prompt", "reference") if not isinstance(row.get(k), str)]
        if missing:
            raise CodemixError(f"{path}:{lineno}: a markov problem needs string fields {', '.join(missing)}")
        problems.append(_problem(row["task_id"], row["prompt"], row["reference"], row.get("groups") or ()))
    return problems


def load_markov(path: str | None) -> list[Problem]:
    if path is None:
        raise CodemixError("markov: problems come from a builtin:markov mixture; pass its directory "
                           "(<output_dir>/mix) or the problems.jsonl the eval stage wrote")
    p = Path(path)
    if p.is_dir():
        return _from_mixture(p / "mix" if (p / "mix" / "manifest.json").is_file() else p)
    if p.is_file():
        return _from_file(p)
    raise CodemixError(f"markov: problems path {path} does not exist")


register(Benchmark(
    name="markov", scorer="exact_match", load=load_markov,
    description="string-rewrite rules x -> y (leftmost occurrence): exact match on held-out and seen rules",
    default_source=None, path_hint="the builtin:markov mixture directory or a markov problems.jsonl",
    path_is_file=False, problems_per_run=True))
