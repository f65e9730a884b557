"""builtin:pyfuncs -- "Write a Python function ..." tasks with executable tests (domain code).

Train/held-out split (deterministic, no state):
- held-out parameter values: a (family, params) combination is held out when
  crc32("<family>|<params>") % 100 < HELDOUT_PERCENT. Training rows redraw such combinations, so
  the train split never contains them; the held-out split draws only them. These tasks are
  learnable from training data: `add_137` is held out, `add_136` and `add_138` are not.
- held-out families: a few whole families (HELDOUT_FAMILIES) never appear in training.
`pyfuncs_heldout_tasks` turns held-out combinations into a fixed HumanEval-style benchmark,
~80% "params" tasks (HELDOUT_PARAMS_PER_FAMILY per training family) and ~20% "family" tasks.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from codemix.core.errors import CodemixError
from codemix.mixing.builtin.draw import Rand, pick, stable_seed, weighted_table
from codemix.mixing.builtin.pyfuncs_family import (
    N_VARIANTS,
    Code,
    Family,
    code,
    docstring_prompt,
    instruction,
)
from codemix.mixing.builtin.pyfuncs_numbers import HELDOUT_LIST_FAMILIES, LIST_FAMILIES, NUMBER_FAMILIES
from codemix.mixing.builtin.pyfuncs_text import (
    DICT_FAMILIES,
    HELDOUT_DICT_FAMILIES,
    PARSE_FAMILIES,
    STRING_FAMILIES,
)

TRAIN_FAMILIES: list[Family] = [*NUMBER_FAMILIES, *LIST_FAMILIES, *STRING_FAMILIES, *DICT_FAMILIES, *PARSE_FAMILIES]
HELDOUT_FAMILIES: list[Family] = [*HELDOUT_LIST_FAMILIES, *HELDOUT_DICT_FAMILIES]
FAMILIES: dict[str, Family] = {f.name: f for f in TRAIN_FAMILIES + HELDOUT_FAMILIES}

# 10% of each training family's parameter space is held out: enough held-out values even for the
# smallest families (160 combinations -> ~16 held out), while 90% remain to learn from.
HELDOUT_PERCENT = 10
# Share of held-out-split rows that come from held-out families (the rest: held-out params).
HELDOUT_FAMILY_SHARE = 0.2
# Benchmark size: 38 training families x 3 + 5 held-out families x 5 = 139 tasks, 82% "params".
HELDOUT_PARAMS_PER_FAMILY = 3
HELDOUT_TASKS_PER_FAMILY = 5
# A rejection loop that needs this many draws means a family has (almost) no held-out values.
MAX_DRAWS = 100_000
# Distinct held-out values wanted per family: after this many draws the family has run out.
MAX_BENCHMARK_DRAWS = 5_000

# Per-family caches of the phrasing-independent text of each (family, params) combination.
# Building the tests strings costs ~6 us, 2-3x the rest of a row; all families together have
# ~70k combinations (~0.8 kB each, ~56 MB when all are cached, after ~1M rows), so the caches
# are bounded by the parameter spaces; MAX_CACHED_PER_FAMILY only guards against a future
# family with a huge space. Plain dicts: an lru_cache lookup measured ~4x slower here.
MAX_CACHED_PER_FAMILY = 50_000
_CACHES: dict[str, dict[tuple, tuple[bool, Code]]] = {name: {} for name in FAMILIES}

_TRAIN_CHOICES = [(fam, _CACHES[fam.name]) for fam in TRAIN_FAMILIES]
_TRAIN_TABLE = weighted_table([f.weight for f in TRAIN_FAMILIES])
_HELDOUT_FAMILY_NAMES = frozenset(f.name for f in HELDOUT_FAMILIES)


def is_heldout(family: str, params: tuple) -> bool:
    """Whether (family, params) belongs to the held-out split (whole held-out family or value)."""
    if family in _HELDOUT_FAMILY_NAMES:
        return True
    return zlib.crc32(f"{family}|{params!r}".encode()) % 100 < HELDOUT_PERCENT


def _combo(fam: Family, p: tuple) -> tuple[bool, Code]:
    cache = _CACHES[fam.name]
    hit = cache.get(p)
    if hit is None:
        if len(cache) >= MAX_CACHED_PER_FAMILY:
            cache.clear()
        hit = cache[p] = (is_heldout(fam.name, p), code(fam, p))
    return hit


def _draw(fam: Family, r: Rand, heldout: bool) -> tuple[tuple, Code]:
    for _ in range(MAX_DRAWS):
        p = fam.sample(r)
        combo_heldout, c = _combo(fam, p)
        if combo_heldout is heldout:
            return p, c
    raise RuntimeError(f"pyfuncs family {fam.name!r}: no {'held-out' if heldout else 'training'} parameters found")


def _row(fam: Family, c: Code, r: Rand) -> tuple[str, str, str, dict[str, Any]]:
    text = instruction(fam, c, int(r() * N_VARIANTS))
    # Fresh containers per row: rows must not share mutable state with the cache or each other.
    meta = {"entry_point": c.entry_point, "solution": c.solution, "tests": list(c.tests),
            "family": fam.name, "params": c.params.copy()}
    return text, c.response, fam.name, meta


def make_train_row(r: Rand) -> tuple[str, str, str, dict[str, Any]]:
    # _draw and _combo inlined: this is the hot loop of a 1M-row mixture.
    fam, cache = _TRAIN_CHOICES[_TRAIN_TABLE[int(r() * len(_TRAIN_TABLE))]]
    while True:
        p = fam.sample(r)
        hit = cache.get(p) or _combo(fam, p)
        if not hit[0]:  # ~90% of draws are training values
            return _row(fam, hit[1], r)


def make_heldout_row(r: Rand) -> tuple[str, str, str, dict[str, Any]]:
    if r() < HELDOUT_FAMILY_SHARE:
        fam, kind = pick(r, HELDOUT_FAMILIES), "family"
    else:
        fam, kind = TRAIN_FAMILIES[pick(r, _TRAIN_TABLE)], "params"
    text, response, task, meta = _row(fam, _draw(fam, r, heldout=True)[1], r)
    meta["heldout_kind"] = kind
    return text, response, task, meta


def pyfuncs_heldout_tasks(seed: int = 0, per_family: int | None = None) -> list[dict[str, Any]]:
    """The fixed held-out benchmark: HumanEval-like tasks from held-out (family, params) pairs.

    `per_family` overrides the number of tasks per family (default: 3 per training family with
    held-out parameter values, 5 per held-out family). Deterministic in (seed, per_family)."""
    if per_family is not None and (isinstance(per_family, bool) or not isinstance(per_family, int) or per_family < 1):
        raise CodemixError(f"pyfuncs_heldout_tasks: per_family must be a positive integer, got {per_family!r}")
    r = random.Random(stable_seed("codemix-pyfuncs-heldout", seed)).random
    plan = [(fam, "params", per_family or HELDOUT_PARAMS_PER_FAMILY) for fam in TRAIN_FAMILIES]
    plan += [(fam, "family", per_family or HELDOUT_TASKS_PER_FAMILY) for fam in HELDOUT_FAMILIES]
    tasks: list[dict[str, Any]] = []
    for fam, kind, count in plan:
        chosen: list[tuple] = []
        draws = 0
        while len(chosen) < count:
            draws += 1
            if draws > MAX_BENCHMARK_DRAWS:
                raise CodemixError(f"pyfuncs_heldout_tasks: family {fam.name!r} has fewer than "
                                   f"per_family={count} held-out parameter values; use a smaller per_family")
            p, _ = _draw(fam, r, heldout=True)
            if p not in chosen:
                chosen.append(p)
        for p in chosen:
            c, variant = code(fam, p), int(r() * N_VARIANTS)
            tasks.append({
                "task_id": f"pyfuncs/{len(tasks)}",
                "family": fam.name,
                "instruction": instruction(fam, c, variant),
                "prompt": docstring_prompt(fam, c.entry_point, c.descs[variant & 1]),
                "entry_point": c.entry_point,
                "canonical_solution": c.solution,
                "tests": list(c.tests),
                "heldout_kind": kind,
                "params": dict(c.params),
            })
    return tasks
