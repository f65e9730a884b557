"""A study: the cells a report covers (from sweep directories and/or run directories), the
baseline cell, the untrained base model, and the swept axes.

sweep.json (written by `codemix sweep`):
    {"name", "recipe_hash", "axes": {"mix.general_fraction": [...], "seed": [...]},
     "cells": [{"name", "values": {dotted key: value}, "dir": relative to the sweep dir,
                "status": "done" | "failed" | "pending" | "running"}],
     "baseline": "<cell name>", "reference": {"eval_dir": "<base model's eval dir, relative>"}}
Plain run directories get their swept values from the keys on which their resolved recipes
(recorded in every manifest) differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError
from codemix.recipes.report.data import Cell, Outcome, load_eval_dir, load_run, read_json, varying_keys


@dataclass
class Study:
    name: str
    cells: list[Cell]
    baseline: str | None = None  # a cell name
    base: dict[str, Outcome] = field(default_factory=dict)  # the untrained base model, per benchmark
    axes: dict[str, list[Any]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @property
    def done(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "done" and c.outcomes]

    def benchmarks(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.done:
            seen.update(dict.fromkeys(c.outcomes))
        return list(seen)

    def baseline_cell(self) -> Cell | None:
        return next((c for c in self.cells if c.name == self.baseline), None)


def load_sweep(sweep_dir: Path, k: int = 1) -> Study:
    spec = read_json(sweep_dir / "sweep.json", "sweep description")
    for key in ("cells",):
        if key not in spec:
            raise CodemixError(f"{sweep_dir / 'sweep.json'}: missing key '{key}'")
    cells = []
    for i, entry in enumerate(spec["cells"]):
        try:
            name, rel = entry["name"], entry["dir"]
        except (KeyError, TypeError):
            raise CodemixError(f"{sweep_dir / 'sweep.json'}: cells[{i}] needs 'name' and 'dir'") from None
        status = entry.get("status", "done")
        cell_dir = sweep_dir / rel
        if status == "done" and not cell_dir.is_dir():
            raise CodemixError(f"{sweep_dir / 'sweep.json'}: cell '{name}' is done but {cell_dir} does not exist")
        cell = load_run(cell_dir, name=name, values=entry.get("values", {}), status=status, k=k) \
            if cell_dir.is_dir() else Cell(name, dict(entry.get("values", {})), cell_dir, status)
        if status == "done" and not cell.outcomes and not cell.losses:  # a loss is a result (--target loss:...)
            cell.status = "no results"
        cells.append(cell)
    base: dict[str, Outcome] = {}
    ref = (spec.get("reference") or {}).get("eval_dir")
    if ref:
        base = load_eval_dir(sweep_dir / ref, k)
    return Study(spec.get("name", sweep_dir.name), cells, spec.get("baseline") or (cells[0].name if cells else None),
                 base, dict(spec.get("axes", {})), [str(sweep_dir)])


def collect(paths: list[Path], *, baseline: str | None = None, k: int = 1) -> Study:
    """Sweep directories and run directories, in the order given, as one study."""
    if not paths:
        raise CodemixError("give at least one sweep or run directory")
    studies: list[Study] = []
    runs: list[Path] = []
    for p in paths:
        if (p / "sweep.json").is_file():
            studies.append(load_sweep(p, k))
        elif (p / "eval").is_dir() or (p / "summary.json").is_file():
            runs.append(p)
        elif p.is_dir():
            raise CodemixError(f"{p}: neither a sweep directory (no sweep.json) nor a run directory (no eval/)")
        else:
            raise CodemixError(f"{p}: no such directory")
    if runs:
        studies.append(_study_of_runs(runs, k))
    study = studies[0] if len(studies) == 1 else _merge(studies)
    names = [c.name for c in study.cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CodemixError(f"two cells are named {dupes[0]!r}: report them from separate directories")
    if baseline is not None:
        if baseline not in names:
            raise CodemixError(f"--baseline {baseline!r}: no such cell (cells: {', '.join(names)})")
        study.baseline = baseline
    elif study.baseline not in names:
        study.baseline = names[0] if names else None
    return study


def _study_of_runs(runs: list[Path], k: int) -> Study:
    names = [r.name for r in runs]
    if len(set(names)) < len(names):  # runs/a/run and runs/b/run: name them by their distinct parts
        import os

        common = Path(os.path.commonpath([str(r.resolve()) for r in runs]))
        names = [str(r.resolve().relative_to(common)) for r in runs]
    cells = [load_run(r, name=n, k=k) for r, n in zip(runs, names, strict=True)]
    keys = varying_keys([c.recipe for c in cells])
    for cell in cells:
        flat_values = _lookup(cell.recipe or {}, keys)
        cell.values = flat_values
    base: dict[str, Outcome] = {}
    for r in runs:
        base = load_eval_dir(r / "eval-base", k)
        if base:
            break
    axes: dict[str, list[Any]] = {}
    for key in keys:
        axes[key] = sorted({c.values.get(key) for c in cells}, key=lambda v: (v is None, str(type(v)), v))
    name = runs[0].name if len(runs) == 1 else f"{len(runs)} runs"
    return Study(name, cells, cells[0].name, base, axes, [str(r) for r in runs])


def _lookup(recipe: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    out = {}
    for key in keys:
        node: Any = recipe
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out[key] = node
    return out


def _merge(studies: list[Study]) -> Study:
    cells = [c for s in studies for c in s.cells]
    axes: dict[str, list[Any]] = {}
    for s in studies:
        for key, values in s.axes.items():
            axes.setdefault(key, [])
            axes[key] += [v for v in values if v not in axes[key]]
    base = next((s.base for s in studies if s.base), {})
    return Study(" + ".join(s.name for s in studies), cells, studies[0].baseline, base, axes,
                 [src for s in studies for src in s.sources])


def select(study: Study, where: list[str]) -> tuple[Study, str]:
    """The cells whose swept values match every `KEY=VALUE` (`--where rules=1000`): one slice of a
    many-dimensional sweep, so a numeric axis can be fitted and compared along. KEY is a dotted
    swept key or its last part; VALUE matches the value as written in the recipe (1000 = 1000.0).
    Returns the sliced study and its label (`rules=1000`)."""
    import difflib

    if not where:
        return study, ""
    keys = sorted({k for c in study.cells for k in c.values})
    wanted: list[tuple[str, str]] = []
    for item in where:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CodemixError(f"--where {item!r}: expected KEY=VALUE, e.g. --where rules=1000")
        match = [k for k in keys if k == key or k.rsplit(".", 1)[-1] == key]
        if len(match) != 1:
            close = difflib.get_close_matches(key, [k.rsplit(".", 1)[-1] for k in keys], n=1, cutoff=0.5)
            why = "matches several swept keys" if match else "is not a swept key"
            raise CodemixError(f"--where {item!r}: {key!r} {why} (swept: {', '.join(keys) or 'none'})"
                               + (f"; did you mean {close[0]!r}?" if close and not match else ""))
        wanted.append((match[0], value))
    cells = [c for c in study.cells if all(_same(c.values.get(k), v) for k, v in wanted)]
    label = ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in wanted)
    if not cells:
        seen = {k: sorted({repr(c.values.get(k)) for c in study.cells}) for k, _ in wanted}
        raise CodemixError(f"--where {label}: no cell matches (values: "
                           + "; ".join(f"{k.rsplit('.', 1)[-1]} in {', '.join(v)}" for k, v in seen.items()) + ")")
    names = {c.name for c in cells}
    baseline = study.baseline if study.baseline in names else cells[0].name
    return Study(f"{study.name} [{label}]", cells, baseline, study.base, study.axes, study.sources), label


def _same(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool) or actual is None:
        return str(actual).lower() == wanted.lower()
    if isinstance(actual, int | float):
        try:
            return float(wanted) == float(actual)
        except ValueError:
            return False
    return str(actual) == wanted
