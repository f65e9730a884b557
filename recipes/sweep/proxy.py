"""Proxy -> target: choose mixtures at a cheap scale, check the choice at the real one.

RegMix and the data-mixing-laws work pick pre-training mixtures by fitting score ~ shares on
many small proxy runs. A `sweep.proxy` block does that for a recipe's mixture design, in two
ordinary sweeps under the recipe's output directory:

    proxy/               the whole design (every mixture x every seed) with proxy.set applied:
                         a smaller model, fewer steps, a smaller budget
    proxy-choice.json    the fit at the proxy scale (codemix.recipes.report.simplex, the model
                         chosen by leave-one-configuration-out error) and the mixtures it sends on
    target/              those mixtures (x the same seeds) at the recipe's own scale

The mixtures sent on: the proxy's predicted optimum (which need not be a design point), then the
best-predicted design mixtures up to `top`, then `others` design mixtures spread evenly over the
rest of the predicted ranking, down to the worst: without them, a ranking could not be checked
(the top few alone would show no spread in their predictions). `codemix report` on the output
directory sets the proxy's predictions against the target's measurements (rank correlation with
its interval, the regret of the proxy's pick, the compute spent against a full target grid).

Everything is deterministic given the proxy's results, so re-running the sweep recomputes the
same choice and skips the finished cells of both phases.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from codemix.core.artifacts import atomic_write_json, utc_now
from codemix.core.errors import CodemixError
from codemix.recipes.sweep.config import MIXTURE_KEY

PROXY_DIR, TARGET_DIR, CHOICE_FILE = "proxy", "target", "proxy-choice.json"


def proxy_overrides(data: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """The recipe with `--proxy KEY=VALUE` assignments merged into sweep.proxy.set (creating the
    block when the recipe has none)."""
    import yaml

    data = copy.deepcopy(data)
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise CodemixError("--proxy: the recipe has no sweep: section")
    block = sweep["proxy"] = sweep.get("proxy") or {}
    values = block["set"] = block.get("set") or {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CodemixError(f"--proxy {item!r}: expected KEY=VALUE, e.g. --proxy train.max_steps=400")
        try:
            values[key] = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            values[key] = raw
    return data


def phase_data(data: dict[str, Any], phase: str, out: Path, chosen: list[dict[str, float]] | None = None) -> dict[str, Any]:
    """The recipe of one phase as a plain sweep recipe: `proxy` (the design with proxy.set
    applied) or `target` (the chosen mixtures at the recipe's scale)."""
    from codemix.recipes.loader import apply_override

    data = copy.deepcopy(data)
    sweep = dict(data["sweep"])
    proxy = sweep.pop("proxy")
    data["name"] = f"{data['name']}.{phase}"
    if phase == "proxy":
        for key, value in proxy["set"].items():
            try:
                apply_override(data, f"{key}={json.dumps(value)}")
            except CodemixError as e:
                raise CodemixError(f"sweep.proxy.set: {str(e).removeprefix('--set ')}") from None
        data["output_dir"] = str(out / PROXY_DIR)
    else:
        sweep.pop("mixture")
        sweep["grid"] = {**(sweep.get("grid") or {}), MIXTURE_KEY: chosen}
        data["output_dir"] = str(out / TARGET_DIR)
    data["sweep"] = sweep
    return data


def choose(fit: Any, top: int, others: int, as_run: dict[str, dict[str, float]] | None = None) -> list[dict[str, Any]]:
    """The mixtures the target phase runs, from a MixtureFit at the proxy scale: the predicted
    optimum, the best-predicted design points up to `top`, then `others` spread over the rest of
    the predicted ranking (evenly spaced positions, the worst included). `as_run`: configuration
    name -> its mix.domain_shares as the proxy ran it; a design point goes on exactly so (the
    fit holds the shares renormalised: a Dirichlet draw rounded to 3 decimals may sum to 0.999),
    so that the target cell is the same mixture under the same name."""
    from codemix.mixing.design import SHARE_DIGITS

    labels = list(fit.labels)
    best = _rounded(np.asarray(fit.best, dtype=np.float64), SHARE_DIGITS)
    design = [np.asarray(s, dtype=np.float64) for s in fit.shares]
    keep = [not np.allclose(s, best, atol=5e-4) for s in design]
    candidates = [best] + [s for s, k in zip(design, keep, strict=True) if k]
    names = [None] + [n for n, k in zip(fit.names, keep, strict=True) if k]
    values = [None] + [float(v) for v, k in zip(fit.measured, keep, strict=True) if k]
    predicted = np.asarray(fit.predict(np.vstack(candidates)), dtype=np.float64)
    order = [0] + [i + 1 for i in np.argsort(-predicted[1:] if fit.maximize else predicted[1:], kind="stable")]
    ranked = [candidates[i] for i in order]
    scores = [float(predicted[i]) for i in order]
    ranked_names = [names[i] for i in order]
    ranked_values = [values[i] for i in order]
    n_top = min(top, len(ranked))
    rest = list(range(n_top, len(ranked)))
    picks = []
    if others and rest:
        positions = np.linspace(0, len(rest) - 1, min(others, len(rest)) + 1)[1:] if len(rest) > others else np.arange(len(rest))
        picks = sorted({rest[int(round(p))] for p in positions})
    out = []
    for rank, i in enumerate([*range(n_top), *picks]):
        name, proxy_measured = ranked_names[i], ranked_values[i]
        shares = (as_run or {}).get(name) if name is not None else None
        if shares is None:
            shares = {d: float(round(v, SHARE_DIGITS)) for d, v in zip(labels, ranked[i], strict=True)}
        out.append({"shares": {d: float(shares.get(d, 0.0)) for d in labels},
                    "predicted": scores[i], "predicted_rank": i + 1, "role": "top" if rank < n_top else "other",
                    "optimum": i == 0, "proxy_config": name, "proxy_measured": proxy_measured})
    return out


def _rounded(p: np.ndarray, digits: int) -> np.ndarray:
    """Shares rounded to the digits cell names carry, still summing to exactly 1 (the largest
    share absorbs the rounding)."""
    r = np.round(np.clip(p, 0, 1), digits)
    r[int(np.argmax(r))] += round(1 - float(r.sum()), digits)
    return np.round(r, digits)


def fit_proxy(proxy_dir: Path, target: str, fit: str, seed: int = 0) -> tuple[Any, dict[str, dict[str, float]]]:
    """The proxy phase's MixtureFit for `target` (a benchmark, `average`, or `loss:<domain>`),
    and each configuration's mix.domain_shares as it ran."""
    from codemix.recipes.report.analysis import analyse
    from codemix.recipes.report.study import load_sweep
    from codemix.recipes.report.target import for_target

    study = load_sweep(proxy_dir)
    failed = [c.name for c in study.cells if c.status != "done"]
    if failed:
        raise CodemixError(f"proxy phase: cell(s) {', '.join(failed[:4])} have no results; the proxy fit needs every "
                           f"design cell (see {proxy_dir}/sweep.json)")
    # 2,000 resamples: the choice depends on the point fit only; the replicates give the region
    # and the intervals recorded beside it (the report recomputes them with its own --resamples)
    analysis = analyse(for_target(study, target), fit=fit, seed=seed, resamples=2000)
    fits = getattr(analysis, "mixture", {}) or {}
    if target == "average" and target not in fits and len(fits) == 1:  # one benchmark: it is the average
        target = next(iter(fits))
    if target not in fits:
        known = ", ".join(fits) or "none"
        why = "; ".join(analysis.notes) if analysis.notes else ""
        raise CodemixError(f"sweep.proxy.target {target!r}: no mixture fit for it at the proxy scale "
                           f"(fitted: {known}){f': {why}' if why else ''}")
    as_run = {c.name: c.values[MIXTURE_KEY] for c in analysis.configs if isinstance(c.values.get(MIXTURE_KEY), dict)}
    return fits[target], as_run


def write_choice(out: Path, proxy_cfg: Any, fit: Any, chosen: list[dict[str, Any]]) -> Path:
    path = out / CHOICE_FILE
    summary = fit.to_dict() if hasattr(fit, "to_dict") else {"model": fit.model}
    atomic_write_json(path, {"target": proxy_cfg.target, "fit": proxy_cfg.fit, "top": proxy_cfg.top,
                             "others": proxy_cfg.others, "set": proxy_cfg.set, "proxy": PROXY_DIR,
                             "target_dir": TARGET_DIR, "proxy_fit": summary, "chosen": chosen,
                             "created": utc_now()})
    return path


def read_choice(out: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(out) / CHOICE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
