"""What reports read: results.json files, run directories and sweep directories, as plain data.

A run directory (what `codemix run` writes) holds mix/manifest.json, train/manifest.json,
eval/<benchmark>/results.json and, when the base model was scored, eval-base/<benchmark>/. A
sweep directory holds sweep.json (written by `codemix sweep`) naming its cells, each a run
directory. Both scorer kinds' results.json are read: `pass@k` (execute) and `accuracy`
(exact_match); both carry per_task {task_id: {n, c}}, the per-problem data paired statistics need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codemix.core.errors import CodemixError


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CodemixError(f"{path}: no such file ({what})") from None
    except (OSError, json.JSONDecodeError) as e:
        raise CodemixError(f"{path}: not a readable JSON file ({what}): {e}") from None
    if not isinstance(data, dict):
        raise CodemixError(f"{path}: expected a JSON object ({what})")
    return data


@dataclass
class Outcome:
    """One model's result on one benchmark: the headline number and, when results.json has
    per_task, the per-problem scores behind it (task order as in the file)."""

    benchmark: str
    metric: str  # "pass@1", "pass@10", ... or "accuracy"
    value: float
    ci: tuple[float, float] | None
    n_problems: int
    problems_hash: str | None = None
    task_ids: tuple[str, ...] = ()
    scores: np.ndarray | None = field(default=None, repr=False)
    single_sample: bool = False  # one sample per problem (greedy): McNemar applies
    path: str | None = None
    problems_per_run: bool = False  # problems drawn from each run's own mixture: compared unpaired

    @property
    def lower_is_better(self) -> bool:
        return lower_is_better(self.metric)

    @classmethod
    def from_results(cls, results: dict[str, Any], path: str | Path | None = None, k: int = 1) -> Outcome:
        from codemix.recipes.report.stats import pass_at_k_scores

        where = str(path) if path else "results"
        bench = results.get("benchmark")
        if not bench:
            raise CodemixError(f"{where}: no 'benchmark' key (not a codemix results.json?)")
        accuracy = results.get("metric") == "accuracy" or ("accuracy" in results and "pass_at_k" not in results)
        per_task = results.get("per_task")
        task_ids, scores, single = (), None, False
        if per_task:
            task_ids = tuple(per_task)
            try:
                n = np.array([int(per_task[t]["n"]) for t in task_ids])
                c = np.array([int(per_task[t]["c"]) for t in task_ids])
            except (KeyError, TypeError, ValueError):
                raise CodemixError(f"{where}: per_task entries must be {{'n': samples, 'c': correct}}") from None
            single = bool(np.all(n == 1))
            try:
                scores = c / n if accuracy else pass_at_k_scores(n, c, k)
            except ValueError as e:
                raise CodemixError(f"{where}: {e}") from None
        if accuracy:
            metric, value, ci = "accuracy", results.get("accuracy"), results.get("accuracy_ci")
        else:
            metric = f"pass@{k}"
            value = results.get("pass_at_k", {}).get(metric)
            ci = results.get("pass_at_k_ci", {}).get(metric)
        if value is None:
            if scores is None:
                raise CodemixError(f"{where}: no {metric} in the file and no per_task counts to compute it from")
            value = float(scores.mean())
        n_problems = len(task_ids) if task_ids else int(results.get("n_attempted", results.get("n_tasks", 0)))
        per_run = results.get("problems_per_run")
        if per_run is None:  # results written before the scorer recorded it: ask the registry
            per_run = _registry_problems_per_run(bench)
        return cls(bench, metric, float(value), tuple(ci) if ci else None, n_problems,
                   results.get("problems_hash"), task_ids, scores, single, str(path) if path else None,
                   bool(per_run))

    def aligned(self, task_ids: tuple[str, ...]) -> np.ndarray:
        """The per-problem scores in another run's task order (same problem set required)."""
        if self.scores is None:
            raise CodemixError(f"{self.path or self.benchmark}: no per_task counts; paired statistics need them")
        if self.task_ids == task_ids:
            return self.scores
        pos = {t: i for i, t in enumerate(self.task_ids)}
        missing = [t for t in task_ids if t not in pos]
        if missing or len(pos) != len(task_ids):
            extra = [t for t in self.task_ids if t not in set(task_ids)]
            raise CodemixError(f"{self.path or self.benchmark}: scored on other problems "
                               f"(missing {missing[:3]}, extra {extra[:3]})")
        return self.scores[[pos[t] for t in task_ids]]


def _registry_problems_per_run(benchmark: str) -> bool:
    from codemix.eval.benchmarks import get_benchmark

    try:
        return get_benchmark(benchmark).problems_per_run
    except CodemixError:  # a benchmark this installation does not know
        return False


def load_results(path: str | Path, k: int = 1) -> Outcome:
    """A results.json, or a directory holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    return Outcome.from_results(read_json(p, "results.json"), p, k)


def load_eval_dir(eval_dir: Path, k: int = 1) -> dict[str, Outcome]:
    """{benchmark: Outcome} for every <eval_dir>/<benchmark>/results.json, in name order, each
    followed by its groups (`markov:unseen`, `markov:seen`, ...) where its problems have groups."""
    out: dict[str, Outcome] = {}
    if not eval_dir.is_dir():
        return out
    for results in sorted(eval_dir.glob("*/results.json")):
        data = read_json(results, "results.json")
        o = Outcome.from_results(data, results, k)
        out[o.benchmark] = o
        out.update(group_outcomes(data, o, results.parent / "problems.jsonl"))
    return out


GROUP_SEP = ":"  # `markov:unseen`: the group `unseen` of the benchmark `markov`
LOSS_PREFIX = "loss" + GROUP_SEP  # `loss:code`: the validation loss on the domain `code`
LOSS_METRIC = "loss"  # Outcome.metric of a validation loss; the one metric where smaller is better


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of `metric` are the better ones (verdicts, tables and fits read it)."""
    return metric == LOSS_METRIC


def validation_outcomes(run_dir: Path) -> dict[str, Outcome]:
    """{`loss:<domain>`: Outcome} from <run_dir>/train/validation_loss.json ({} without one): the
    domain's mean row loss as the value, its rows as the problems (ids as in validation.jsonl)
    and their losses as the per-problem scores. Every cell of a study holds out the same rows
    (mix.validation), so the scores pair across cells like a benchmark's problems; the problem
    set is named by a hash of the row ids, which differs when two runs held out other rows."""
    from codemix.core.artifacts import hash_json
    from codemix.finetune.validation import VALIDATION_LOSS_FILE

    path = Path(run_dir) / "train" / VALIDATION_LOSS_FILE
    if not path.is_file():
        return {}
    data = read_json(path, "validation loss")
    per_row = data.get("per_row")
    domains = data.get("domains")
    if not isinstance(per_row, dict) or not isinstance(domains, dict):
        raise CodemixError(f"{path}: expected 'domains' and 'per_row' objects (not a codemix validation_loss.json?)")
    out: dict[str, Outcome] = {}
    for domain, block in domains.items():
        ids = tuple(block.get("row_ids") or ()) if isinstance(block, dict) else ()
        if not ids:
            continue
        missing = [i for i in ids if i not in per_row]
        if missing:
            raise CodemixError(f"{path}: domain {domain}: rows {missing[:3]} have no loss in per_row")
        scores = np.array([float(per_row[i]) for i in ids])
        name = f"{LOSS_PREFIX}{domain}"
        out[name] = Outcome(name, LOSS_METRIC, float(block.get("mean", scores.mean())), None, len(ids),
                            hash_json(sorted(ids)), ids, scores, False, str(path))
    return out


def is_group(benchmark: str) -> bool:
    # `loss:code` is a target of its own (a domain's validation loss), not a group of a benchmark
    return GROUP_SEP in benchmark and not benchmark.startswith(LOSS_PREFIX)


def headline(benchmarks: list[str]) -> list[str]:
    """The benchmarks an average runs over: groups are parts of a benchmark, not more benchmarks."""
    return [b for b in benchmarks if not is_group(b)]


def group_outcomes(results: dict[str, Any], whole: Outcome, problems_file: Path) -> dict[str, Outcome]:
    """One Outcome per group of an exact-match result (e.g. held-out vs seen rules), with the
    per-problem scores of its members, so reports compare runs on a group alone. Members come
    from the group block's `task_ids` (written since the scorer names them) or, for older
    results, from the `groups` of each row of the problems file the eval stage wrote beside it."""
    blocks = results.get("groups") or {}
    if not blocks or whole.scores is None:
        return {}
    members = {g: b.get("task_ids") for g, b in blocks.items() if isinstance(b, dict)}
    if any(m is None for m in members.values()):
        if not problems_file.is_file():
            return {}
        from codemix.core.jsonl import iter_json_lines

        members = {g: [] for g in blocks}
        for _, row in iter_json_lines(problems_file):
            for g in row.get("groups") or ():
                if g in members:
                    members[g].append(row["task_id"])
    pos = {t: i for i, t in enumerate(whole.task_ids)}
    out = {}
    for g, ids in members.items():
        ids = [t for t in ids if t in pos]
        if not ids:
            continue
        block = blocks[g]
        scores = whole.scores[[pos[t] for t in ids]]
        value = block.get("accuracy", float(scores.mean()))
        ci = block.get("accuracy_ci")
        name = f"{whole.benchmark}{GROUP_SEP}{g}"
        out[name] = Outcome(name, whole.metric, float(value), tuple(ci) if ci else None, len(ids),
                            f"{whole.problems_hash}{GROUP_SEP}{g}" if whole.problems_hash else None,
                            tuple(ids), scores, whole.single_sample, whole.path, whole.problems_per_run)
    return out


def mix_composition(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a mixture holds: rows, rows per domain and per source, the general share realised."""
    if not manifest:
        return None
    domains = dict(manifest.get("domains", {}))
    rows = int(manifest.get("rows", sum(domains.values())))
    recipe_mix = (manifest.get("recipe") or {}).get("mix") or {}
    general = ((manifest.get("tokens") or {}).get("by_domain") or {}).get("general", {"token_share": 0.0, "row_share": 0.0}) \
        if manifest.get("tokens") else {}
    return {"rows": rows, "budget": manifest.get("budget"), "style": manifest.get("style"),
            "general_fraction": recipe_mix.get("general_fraction"),
            "realised_general_fraction": round(domains.get("general", 0) / rows, 6) if rows else None,
            "domains": domains, "sources": {s["name"]: s.get("realised") for s in manifest.get("sources", [])},
            # the general domain's realised share of tokens / rows (None before manifests recorded tokens)
            **{k: general.get(k) for k in ("token_share", "row_share")},
            "contamination": (manifest.get("decontamination") or {}).get("contamination")}


def mix_text(composition: dict[str, Any] | None) -> str:
    """'general_fraction 0.25: 180 code + 60 general rows' (what a run's mixture was)."""
    if not composition:
        return ""
    rows = " + ".join(f"{n} {d}" for d, n in composition["domains"].items()) + " rows"
    gf = composition.get("general_fraction")
    return f"general_fraction {gf}: {rows}" if gf is not None else rows


@dataclass
class Cell:
    """One trained model (a run directory) and what varied to make it."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)  # swept dotted key -> value
    dir: Path | None = None
    status: str = "done"
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    mix: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    recipe: dict[str, Any] | None = field(default=None, repr=False)
    # the mixture's diversity numbers (codemix.mixing.diversity.measure.summary_columns; {} when not measured)
    # and the embedding they were measured with (the block's embedding name)
    diversity: dict[str, float] = field(default_factory=dict)
    diversity_embedding: str | None = None
    # `loss:<domain>` -> the validation loss on that domain's held-out rows ({} when none were held out)
    losses: dict[str, Outcome] = field(default_factory=dict)

    @property
    def config(self) -> str:
        """The configuration name: the cell's name without its seed part (seeds of one
        configuration share it), so a sweep's own names (`general_fraction=0,seed=2`) carry over."""
        if "seed" not in self.values:
            return self.name
        parts = self.name.split(",")
        seedless = [p for p in parts if p != f"seed={self.values['seed']}"]
        if len(seedless) == len(parts) - 1:
            return ",".join(seedless) or "all"
        rest = {k: v for k, v in self.values.items() if k != "seed"}
        return cell_name(rest) if rest else "all"

    @property
    def seed(self) -> Any:
        return self.values.get("seed")


def cell_name(values: dict[str, Any]) -> str:
    """`general_fraction=0.1,seed=2`: the last part of each dotted key, in the given order."""
    return ",".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items())


def load_run(run_dir: Path, *, name: str | None = None, values: dict[str, Any] | None = None,
             status: str | None = None, k: int = 1) -> Cell:
    mix = _maybe_json(run_dir / "mix" / "manifest.json")
    train = _maybe_json(run_dir / "train" / "manifest.json")
    outcomes = load_eval_dir(run_dir / "eval", k)
    recipe = (train or mix or {}).get("recipe")
    train_info = None
    if train:
        train_info = {key: train.get(key) for key in ("final_loss", "tokens", "wall_s", "steps", "validation_loss")}
    if status is None:
        status = "done" if outcomes else "no results"
    # Only a finished training run's losses: the file is written before its manifest.
    losses = validation_outcomes(run_dir) if train else {}
    return Cell(name or run_dir.name, dict(values or {}), run_dir, status, outcomes, mix_composition(mix),
                train_info, recipe, losses=losses)


def _maybe_json(path: Path) -> dict[str, Any] | None:
    return read_json(path, "manifest") if path.is_file() else None


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value, sort_keys=True) if isinstance(value, list) else value
    return out


IGNORED_KEYS = {"name", "output_dir"}  # differ between any two runs without changing the experiment


def varying_keys(recipes: list[dict[str, Any] | None]) -> list[str]:
    """Dotted recipe keys whose values differ between runs (what was varied, for plain run dirs)."""
    flat = [_flatten(r) for r in recipes if r]
    if len(flat) < 2:
        return []
    keys = sorted(set().union(*flat) - IGNORED_KEYS, key=lambda k: (k != "seed", k))
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def load_reference(path: Path) -> dict[str, Any]:
    """Published numbers to overlay (`--reference CSV`): the first column is the swept axis (its
    last dotted part, e.g. general_fraction), the others are benchmark names or `average`, in
    percent as papers print them; empty cells are unknown."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise CodemixError(f"--reference {path}: {e.strerror or e}") from None
    if len(rows) < 2 or len(rows[0]) < 2:
        raise CodemixError(f"--reference {path}: expected a header (axis, benchmark columns...) and data rows")
    header = [h.strip() for h in rows[0]]
    columns: dict[str, list[tuple[float, float]]] = {h: [] for h in header[1:]}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            x = float(row[0])
            for h, cell in zip(header[1:], row[1:], strict=False):
                if cell.strip():
                    columns[h].append((x, float(cell)))
        except ValueError:
            raise CodemixError(f"--reference {path}: line {line}: not a number in {row}") from None
    return {"axis": header[0], "columns": {h: v for h, v in columns.items() if v}, "path": str(path)}
