"""A sweep: one recipe with a `sweep:` section, expanded into cells that are each a normal recipe.

Layout of `<output_dir>`:

    sweep.json                    the cells, their values and states (what `codemix report` reads)
    cells/<name>/recipe.yaml      the cell as a plain recipe (`codemix run` runs it on its own too)
    cells/<name>/cell.json        {sweep, name, values, key, mix, depends_on}
    cells/<name>/status.json      done / failed (+ error) / running, with the cell key it was for
    cells/<name>/mix -> ../../mixes/<hash>   the shared mixture (a symlink)
    cells/<name>/{train,eval,summary.json,log.txt,error.txt}
    mixes/<hash>/                 one mixture per distinct (mix section, seed)
    reference/                    the untrained base model scored once (eval/<benchmark>/...)

Sharing stays honest because nothing below trusts the sweep: each stage still checks its own
inputs hash (mix: sources + mix section + seed; train: config + seed + mixture content hash;
eval: model + settings), so a shared mixture is reused only where it is byte-for-byte what the
cell would have built itself. The cell key (a hash of the cell recipe without its output_dir)
only lets a resumed sweep skip finished cells without loading anything.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, atomic_write_text, hash_json, utc_now
from codemix.core.errors import CodemixError
from codemix.core.locks import lock_holder
from codemix.recipes.schema import Recipe

CELLS_DIR, MIXES_DIR, REFERENCE_DIR = "cells", "mixes", "reference"
STATUS_FILE, META_FILE, RECIPE_FILE = "status.json", "cell.json", "recipe.yaml"
JOB_FILE = "job.json"  # the Slurm job submitted for the unit (launchers/slurm_follow.py)
STATES = ("done", "running", "queued", "failed", "pending")  # queued: a Slurm job waits to run it


@dataclasses.dataclass
class Unit:
    """One piece of work with its own directory and lock: a cell, or the reference evaluation."""

    name: str
    dir: Path
    data: dict[str, Any]          # the recipe as written to recipe.yaml (validated)
    recipe: Recipe
    values: dict[str, Any]
    mix_dir: Path | None = None   # shared mixture this unit's mix/ links to
    depends_on: str | None = None  # a unit that must be done first (the reference of a random-init model)
    train_launch: dict[str, Any] | None = None  # {processes, accelerate_config}: train in N processes
    upstream_key: str | None = None  # that unit's key: its outputs are this unit's inputs
    role: str = "cell"            # or "reference": scores the untrained base model (run_reference)

    @property
    def key(self) -> str:
        """What the unit computes: its recipe without the output location (and, for the
        reference of a random-init model, the key of the cell whose random start it scores)."""
        resolved = self.recipe.resolved()
        resolved.pop("output_dir", None)
        return hash_json({"recipe": resolved, "upstream": self.upstream_key} if self.upstream_key else resolved)

    def meta(self, sweep_name: str) -> dict[str, Any]:
        mix = None if self.mix_dir is None else _relpath(self.mix_dir, self.dir)
        return {"sweep": sweep_name, "name": self.name, "values": self.values, "key": self.key, "mix": mix,
                "depends_on": self.depends_on and f"../{CELLS_DIR}/{self.depends_on}", "train_launch": self.train_launch,
                "role": self.role}


@dataclasses.dataclass
class Sweep:
    name: str
    path: Path
    recipe: Recipe
    out: Path
    axes: dict[str, list[Any]]
    cells: list[Unit]
    reference: Unit | None
    reference_eval_dir: str | None   # relative to out

    @property
    def baseline(self) -> Unit:
        return self.cells[0]

    def units(self) -> list[Unit]:
        return self.cells + ([self.reference] if self.reference is not None else [])

    def select(self, names: list[str] | None) -> list[Unit]:
        if not names:
            return self.cells
        by_name = {c.name: c for c in self.cells}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], list(by_name), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; cells: {', '.join(by_name)}"
            raise CodemixError(f"--cells: no cell named {unknown[0]!r} in sweep {self.name}{hint}")
        return [by_name[n] for n in names]


# ---------------------------------------------------------------- expansion

def format_value(v: Any) -> str:
    """A value as it appears in a cell name: short, stable, safe as a directory name."""
    if isinstance(v, bool):
        text = "true" if v else "false"
    elif isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        text = str(int(v)) if v == 0 else repr(v)
    elif isinstance(v, (int, float, str)):
        text = str(v)
    elif v is None:
        text = "none"
    else:
        text = json.dumps(v, sort_keys=True, separators=(",", ":"))
    text = re.sub(r"[^A-Za-z0-9._+\-]+", "_", text).strip("_")
    return text or "_"


def axis_labels(keys: list[str]) -> dict[str, str]:
    """Each key's shortest trailing part that no other key ends with: mix.general_fraction ->
    general_fraction; mix.sources.0.weight and mix.sources.1.weight -> sources.0.weight, ..."""
    parts = {k: k.split(".") for k in keys}
    labels = {}
    for k in keys:
        for n in range(1, len(parts[k]) + 1):
            tail = parts[k][-n:]
            if tail[0].isdigit() and n < len(parts[k]):
                continue  # `0.weight` reads badly; take one more component
            if not any(o != k and parts[o][-n:] == tail for o in keys):
                labels[k] = ".".join(tail)
                break
        else:
            labels[k] = k
    return labels


def expand(cfg) -> list[dict[str, Any]]:
    """Every combination of values, in declaration order: the grid's product, with the zip group
    as one more axis (its keys move together)."""
    grid_axes = [[(k, v) for v in vals] for k, vals in cfg.grid.items()]
    if cfg.zip:
        n = len(next(iter(cfg.zip.values())))
        grid_axes.append([tuple((k, vals[i]) for k, vals in cfg.zip.items()) for i in range(n)])
    combos = []
    for combo in itertools.product(*grid_axes):
        values: dict[str, Any] = {}
        for item in combo:
            pairs = item if isinstance(item[0], tuple) else (item,)
            values.update(dict(pairs))
        combos.append(values)
    return combos


# A cell name is a directory name. ext4, xfs and btrfs allow 255 bytes per name, and codemix
# writes a directory atomically through a sibling 14 bytes longer (`.NAME.tmp-PID`); 200 keeps
# that and any tool's suffix clear. Names within it are kept as they are, so sweeps started
# before resume into the same cells. In a longer one the longest values are cut to a common
# length, each ending in `~` and 12 hex digits of its own text's sha256: every label stays
# readable (seed=2 too), and the name is stable across runs and distinct per cell.
MAX_CELL_NAME_BYTES = 200
NAME_HASH_CHARS = 12
MIN_CUT_VALUE = 24  # a cut value keeps at least 11 characters of its text before the hash


def cell_name(values: dict[str, Any], labels: dict[str, str]) -> str:
    """`label=value,...` (ASCII: format_value and the dotted keys allow nothing else), at most
    MAX_CELL_NAME_BYTES long."""
    texts = {k: format_value(v) for k, v in values.items()}
    name = ",".join(f"{labels[k]}={t}" for k, t in texts.items())
    if len(name) <= MAX_CELL_NAME_BYTES:
        return name
    budget = MAX_CELL_NAME_BYTES - (len(name) - sum(map(len, texts.values())))  # what the values may take
    # The largest common length the long values can be cut to within the budget.
    cap = max((c for c in range(MIN_CUT_VALUE, budget + 1)
               if sum(min(len(t), c) for t in texts.values()) <= budget), default=None)
    if cap is None:  # too many axes to keep each label: cut the whole name instead
        return _cut(name, MAX_CELL_NAME_BYTES)
    return ",".join(f"{labels[k]}={_cut(t, cap)}" for k, t in texts.items())


def _cut(text: str, length: int) -> str:
    """`text` if it fits in `length`, else its start, `~` and a hash of all of it, `length` long."""
    import hashlib

    if len(text) <= length:
        return text
    return f"{text[:length - NAME_HASH_CHARS - 1]}~{hashlib.sha256(text.encode()).hexdigest()[:NAME_HASH_CHARS]}"


# ---------------------------------------------------------------- loading

def read_sweep_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> tuple[Path, dict[str, Any]]:
    """The recipe file's path and its data with the `--set` overrides applied (not yet validated)."""
    from codemix.recipes.loader import apply_override, find_recipe, parse_yaml

    path = find_recipe(name_or_path)
    data = parse_yaml(path)
    for assignment in overrides:
        apply_override(data, assignment)
    return path, data


def load_sweep(name_or_path: str, overrides: list[str] | tuple[str, ...] = (), *,
               data: dict[str, Any] | None = None, path: Path | None = None) -> Sweep:
    """Read the recipe, expand its sweep and validate every cell before anything runs. `data`
    (with `path` for messages): a recipe already read (a proxy study's phase), used instead."""
    from pydantic import ValidationError

    from codemix.recipes.loader import validation_message

    if data is None:
        path, data = read_sweep_recipe(name_or_path, overrides)
    assert path is not None
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise CodemixError(validation_message(path, e, Recipe)) from None
    if recipe.sweep is None:
        raise CodemixError(f"{path}: no sweep: section (declare sweep.grid or sweep.zip; `codemix run` runs a single recipe)")
    cfg = recipe.sweep
    keys = list(cfg.grid) + list(cfg.zip)
    _check_overrides(overrides, keys)
    out = Path(recipe.output_dir).resolve()
    base = {k: v for k, v in data.items() if k != "sweep"}
    labels = axis_labels(keys)
    include_base = cfg.include_base if cfg.include_base is not None else bool(recipe.eval and recipe.eval.include_base)
    # One reference for the whole sweep only when every cell starts from the same model and is
    # scored the same way; otherwise each cell scores its own base (eval-base/), as `codemix run` does.
    shared_reference = (include_base and recipe.train is not None and recipe.eval is not None
                        and not any(k in ("train", "eval") or k.startswith(("train.model", "eval.")) for k in keys))
    train_launch = None
    if recipe.train is not None and (cfg.train_processes > 1 or cfg.accelerate_config):
        from codemix.recipes.loader import find_accelerate_config

        find_accelerate_config(cfg.accelerate_config)  # an unknown name or missing file fails here, up front
        train_launch = {"processes": cfg.train_processes, "accelerate_config": cfg.accelerate_config}

    cells, seen = [], {}
    for values in expand(cfg):
        name = cell_name(values, labels)
        if name in seen:
            raise CodemixError(f"{path}: sweep cells {seen[name]} and {values} both get the name {name!r}; "
                               "use values that differ after formatting")
        seen[name] = values
        cell = _cell(path, recipe.name, base, name, values, out / CELLS_DIR / name,
                     include_base=None if shared_reference else include_base)
        cell.train_launch = train_launch
        cells.append(cell)

    reference, ref_eval_dir = None, None
    if shared_reference:
        reference = _reference_unit(recipe.name, cells[0], out / REFERENCE_DIR)
        ref_eval_dir = f"{REFERENCE_DIR}/eval"
    elif include_base and recipe.train is not None:
        ref_eval_dir = f"{CELLS_DIR}/{cells[0].name}/eval-base"
    return Sweep(recipe.name, path, recipe, out, {**cfg.grid, **cfg.zip}, cells, reference, ref_eval_dir)


def _check_overrides(overrides, keys: list[str]) -> None:
    for assignment in overrides:
        key = assignment.partition("=")[0]
        clash = next((k for k in keys if key == k or key.startswith(k + ".") or k.startswith(key + ".")), None)
        if clash is not None:
            raise CodemixError(f"--set {key}: {clash} is swept (sweep.grid / sweep.zip), so the grid's values "
                               "replace it in every cell; change the grid in the recipe instead, or run a subset with --cells")


def _cell(path: Path, sweep_name: str, base: dict, name: str, values: dict, cell_dir: Path, *,
          include_base: bool | None) -> Unit:
    """The base recipe with the cell's values set, validated; include_base None: the sweep's
    shared reference scores the base model, so the cell does not."""
    from pydantic import ValidationError

    from codemix.recipes.loader import apply_override, validation_message

    where = f"{path} (sweep cell {name})"
    data = copy.deepcopy(base)
    for key, value in values.items():
        try:
            apply_override(data, f"{key}={json.dumps(value)}")
        except CodemixError as e:
            raise CodemixError(f"{where}: {str(e).removeprefix('--set ')}") from None
    data["name"] = f"{sweep_name}.{_short(name)}"
    data["output_dir"] = str(cell_dir)
    if data.get("eval") is not None:
        data["eval"] = {**data["eval"], "include_base": bool(include_base)}
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise CodemixError(validation_message(where, e, Recipe)) from None
    mix_dir = None
    if recipe.mix is not None:
        mix_dir = cell_dir.parent.parent / MIXES_DIR / hash_json({"mix": recipe.mix.model_dump(mode="json"),
                                                                  "seed": recipe.seed})[:16]
    return Unit(name, cell_dir, data, recipe, values, mix_dir)


def _short(name: str) -> str:
    """A cell name as a recipe name (which allows letters, digits, '.', '_', '-')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _reference_unit(sweep_name: str, baseline: Unit, ref_dir: Path) -> Unit:
    """The untrained base model of the baseline cell, scored with the baseline's eval settings.

    For a pretrained model that is the model every cell starts from. For `init: random` it is the
    baseline cell's saved random start (its tokenizer is trained on that cell's mixture), so the
    reference waits for the baseline cell's training.
    """
    r = baseline.recipe
    if r.train.model.init == "random":
        model, depends_on = str(baseline.dir / "train" / "base"), baseline.name
    else:
        model, depends_on = r.train.model.path, None
    ev = r.eval.model_dump(mode="json")
    # Like for like (as `codemix run` does for its eval-base): a codemix checkpoint is prompted
    # with instructions by default, so the base model gets the same prompts.
    if ev["prompt_style"] == "auto":
        ev["prompt_style"] = "instruction"
    ev.update(model=model, adapter=None, include_base=False)
    data = {"name": f"{sweep_name}.reference", "seed": r.seed, "output_dir": str(ref_dir), "eval": ev}
    return Unit(REFERENCE_DIR, ref_dir, data, Recipe.model_validate(data), {}, None, depends_on,
                upstream_key=baseline.key if depends_on else None, role="reference")


def run_reference(recipe: Recipe, recipe_path: Path) -> dict[str, Any]:
    """Run the reference unit: score its model (the untrained base) and write summary.json and
    summary.png naming it `base`, the name every table gives the untrained starting model.
    (`codemix run` would name the one model of an eval-only recipe `trained`.)"""
    import time

    from codemix.core.artifacts import package_versions
    from codemix.core.progress import shown
    from codemix.recipes.pipeline import SUMMARY_KEYS, run_eval
    from codemix.recipes.report.single import plot_results, results_table

    t0 = time.time()
    out = Path(recipe.output_dir)
    print(f"[sweep] reference: the untrained base model {shown(recipe.eval.model)}, "
          "scored with the baseline cell's eval settings", flush=True)
    results, _ = run_eval(recipe)
    base = {bench: {k: r[k] for k in SUMMARY_KEYS if k in r} for bench, r in results.items()}
    print()
    print(results_table(base, label="base"))
    plot_results(base, None, out / "summary.png", title=recipe.name, label="base")
    summary = {"recipe": str(recipe_path), "name": recipe.name, "recipe_hash": recipe.hash(), "role": "reference",
               "stages": {}, "trained": None, "base": base, "wall_s": round(time.time() - t0, 2),
               "versions": package_versions(), "created": utc_now()}
    atomic_write_json(out / "summary.json", summary)
    print(f"\nsummary: {shown(out / 'summary.json')}, plot: {shown(out / 'summary.png')}")
    return summary


# ---------------------------------------------------------------- state on disk

def _relpath(target: Path, start: Path) -> str:
    import os

    return os.path.relpath(target, start)


def read_status(unit: Unit) -> dict[str, Any]:
    try:
        return json.loads((unit.dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def state(unit: Unit) -> tuple[str, str]:
    """(state, detail): done / running / failed / pending, read from the unit's directory."""
    holder = lock_holder(unit.dir) if unit.dir.is_dir() else None
    if holder is not None:
        return "running", f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('started', '?')}"
    st = read_status(unit)
    if not st:
        return "pending", ""
    if st.get("key") != unit.key:
        return "pending", "recipe changed since its last run"
    if st.get("status") == "done" and (unit.dir / "summary.json").is_file():
        return "done", wall_text(st)
    if st.get("status") == "failed":
        return "failed", st.get("error", "")
    if st.get("status") == "running":
        return "pending", "interrupted (no live process holds it)"
    if st.get("status") == "requeued":  # its Slurm job went back to the queue near its time limit
        return "queued", f"job {st.get('job')}: {st.get('reason', 'requeued')}"
    return "pending", ""


def wall_text(status: dict[str, Any]) -> str:
    """A finished unit's time: this run's, and the total when its training resumed in this run."""
    wall = f"{status.get('wall_s', 0):.0f} s"
    if status.get("wall_s_total") is None:
        return wall
    return (f"{status['wall_s_total']:.0f} s in all ({wall} in this run, which resumed training at step "
            f"{status.get('resumed_from_step')})")


def materialize(sweep: Sweep, units: list[Unit]) -> None:
    """Write each unit's recipe.yaml and cell.json (skipping units another launcher holds)."""
    import yaml

    for unit in units:
        if unit.dir.is_dir() and lock_holder(unit.dir) is not None:
            continue
        unit.dir.mkdir(parents=True, exist_ok=True)
        text = f"# sweep {sweep.name}, cell {unit.name} (written by codemix sweep)\n" + yaml.safe_dump(unit.data, sort_keys=False)
        meta = json.dumps(unit.meta(sweep.name), indent=2) + "\n"
        for name, content in ((RECIPE_FILE, text), (META_FILE, meta)):
            path = unit.dir / name
            if not path.is_file() or path.read_text(encoding="utf-8") != content:  # unchanged: keep its mtime
                atomic_write_text(path, content)


def sweep_json(sweep: Sweep) -> dict[str, Any]:
    cells = []
    for c in sweep.cells:
        st, detail = state(c)
        job = _slurm_job(c)
        cells.append({"name": c.name, "values": c.values, "dir": f"{CELLS_DIR}/{c.name}", "status": st,
                      **({"detail": detail} if detail else {}), **({"job": job} if job else {})})
    ref = None
    if sweep.reference_eval_dir is not None:
        ref = {"eval_dir": sweep.reference_eval_dir}
        if sweep.reference is not None:
            ref.update(model=sweep.reference.recipe.eval.model, status=state(sweep.reference)[0])
    return {"name": sweep.name, "recipe": str(sweep.path), "recipe_hash": sweep.recipe.hash(), "axes": sweep.axes,
            "cells": cells, "baseline": sweep.baseline.name, "reference": ref, "updated": utc_now()}


def write_sweep_json(sweep: Sweep) -> Path:
    path = sweep.out / "sweep.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, sweep_json(sweep))
    return path


def read_job(directory: Path) -> dict[str, Any]:
    """The Slurm job a launcher last submitted for the unit in `directory` ({job, submitted, by},
    its job.json), or {}."""
    try:
        data = json.loads((directory / JOB_FILE).read_text())
        return data if isinstance(data, dict) and data.get("job") else {}
    except (OSError, ValueError):
        return {}


def _slurm_job(unit: Unit) -> str | None:
    return read_job(unit.dir).get("job")


def plan_table(sweep: Sweep, units: list[Unit], live: dict[str, tuple[str, str]] | None = None) -> str:
    """The units and their states; `live`: states Slurm gives for some of them (queued, running,
    failed with Slurm's reason), over what their directories say."""
    states = [(live or {}).get(u.name) or state(u) for u in units]
    rows = [("cell", "state", "detail")] + [(u.name, st, detail[:100]) for u, (st, detail) in zip(units, states, strict=True)]
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]}".rstrip() for r in rows]
    counts = {s: sum(st == s for st, _ in states) for s in STATES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f" ({len(units)} in all)")
    return "\n".join(lines)
