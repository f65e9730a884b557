"""The statistics of a report: every configuration against the baseline on every benchmark and
on the average over benchmarks, Holm-corrected, and the best value along a numeric axis.

A configuration is the cells that differ only in `seed`. Per benchmark, all runs share one
problem-resampling matrix (paired); each configuration's seeds are resampled inside each
replicate with draws shared across benchmarks (a seed is one trained model, scored on every
benchmark), so the average's interval carries the same training noise as its parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codemix.core.errors import CodemixError
from codemix.recipes.report.curve import CHOICES, BestLocation, best_location, suggest
from codemix.recipes.report.data import Cell, headline, lower_is_better
from codemix.recipes.report.simplex import CHOICES as MIXTURE_CHOICES
from codemix.recipes.report.simplex import fit_mixture, suggest_mixtures
from codemix.recipes.report.stats import (
    DEFAULT_ALPHA,
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    bootstrap_p_value,
    group_means,
    holm,
    mcnemar_exact,
    percentile_ci,
    resampled_means,
    rng_for,
    seed_choices,
    verdict,
)
from codemix.recipes.report.study import Study
from codemix.recipes.sweep.config import MIXTURE_KEY

AVERAGE = "average"
# An axis whose values are all positive and span two decades or more (the number of rules I =
# 10 ... 10,000) is read on a log scale: plotted so, and its best value fitted in log10 of it,
# where a quadratic on the raw values would be decided by the largest value alone.
LOG_SPAN = 100.0


def is_log_axis(values: list[Any]) -> bool:
    nums = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return len(nums) == len(values) > 1 and min(nums) > 0 and max(nums) / min(nums) >= LOG_SPAN


@dataclass
class Config:
    name: str
    values: dict[str, Any]  # swept values without the seed
    cells: list[Cell]

    @property
    def seeds(self) -> int:
        return len(self.cells)


@dataclass
class Row:
    """One configuration on one benchmark (or the average), and its comparison to the baseline."""

    config: str
    benchmark: str
    metric: str
    n_problems: int
    seeds: int
    value: float
    ci: tuple[float, float] | None
    delta: float | None = None
    delta_ci: tuple[float, float] | None = None
    test: str | None = None
    p_value: float | None = None
    p_holm: float | None = None
    verdict: str | None = None
    b_only: int | None = None  # problems only this configuration solves (McNemar)
    a_only: int | None = None  # problems only the baseline solves


@dataclass
class Analysis:
    benchmarks: list[str]
    configs: list[Config]
    baseline: str | None
    rows: list[Row]
    axis: str | None = None
    log_axis: bool = False  # is_log_axis of the axis values
    fit: str = "auto"
    best: dict[str, BestLocation] = field(default_factory=dict)
    suggestions: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # per benchmark: (task ids, config names, (configs x problems) score minus the baseline's)
    differences: dict[str, tuple[tuple[str, ...], list[str], np.ndarray]] = field(default_factory=dict)
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    level: float = DEFAULT_LEVEL
    alpha: float = DEFAULT_ALPHA
    # benchmarks whose runs were scored on problems drawn from their own mixtures: compared unpaired
    unpaired: list[str] = field(default_factory=list)
    # benchmark -> configuration -> (resamples,) bootstrap replicates of its score (problems and
    # seeds resampled); what other statistics over configurations (rank correlations) reuse
    boots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    # a sweep over domain shares (codemix.recipes.report.simplex): benchmark or AVERAGE -> its
    # MixtureFit, and the mixtures to run next (rows of shares in the fits' label order; --suggest)
    mixture: dict[str, Any] = field(default_factory=dict)
    mixture_suggestions: np.ndarray | None = None

    def row(self, config: str, benchmark: str) -> Row | None:
        return next((r for r in self.rows if r.config == config and r.benchmark == benchmark), None)


def group_configs(cells: list[Cell]) -> list[Config]:
    configs: dict[str, Config] = {}
    for cell in cells:
        cfg = configs.setdefault(cell.config, Config(cell.config, {k: v for k, v in cell.values.items()
                                                                   if k != "seed"}, []))
        cfg.cells.append(cell)
    return list(configs.values())


# Axes read from each cell's built mixture rather than from the recipe: the general domain's
# share of the mixture's tokens or rows, as realised (mix manifest, `tokens.by_domain`).
MIXTURE_AXES = {"token_share": "token_share", "row_share": "row_share"}


def add_mixture_axis(configs: list[Config], axis: str) -> None:
    """Give every configuration the general domain's realised share (`axis`), averaged over its
    seeds (each seed draws other rows, so the token share differs slightly between them)."""
    missing = [cell.name for c in configs for cell in c.cells if (cell.mix or {}).get(axis) is None]
    if missing:
        raise CodemixError(f"--axis {axis}: cell(s) {', '.join(missing[:4])} have no {axis} in their mixture "
                           "manifest (built before token counts were recorded); rebuild them with `codemix mix --force`")
    for c in configs:
        c.values[axis] = float(np.mean([cell.mix[axis] for cell in c.cells]))


def numeric_axis(configs: list[Config], axis: str | None) -> tuple[str | None, str | None]:
    """(axis, None) when the configurations lie on one numeric axis, else (None, why not)."""
    keys = sorted({k for c in configs for k in c.values})
    varying = [k for k in keys if len({repr(c.values.get(k)) for c in configs}) > 1]
    if axis is not None:
        match = [k for k in keys if k == axis or k.rsplit(".", 1)[-1] == axis]
        if not match:
            raise CodemixError(f"--axis {axis!r}: not a swept key (swept: {', '.join(keys) or 'none'})")
        axis = match[0]
        # keys zipped with the axis (one value per axis value, e.g. train.max_steps with mix.budget)
        # vary along the same line; anything else is a second dimension
        others = [k for k in varying if k != axis
                  and len({(repr(c.values.get(axis)), repr(c.values.get(k))) for c in configs})
                  > len({repr(c.values.get(axis)) for c in configs})]
        if others:
            return None, f"best value: other keys vary too ({', '.join(others)}); report one slice at a time"
    elif len(varying) == 1:
        axis = varying[0]
    else:
        return None, (f"best value: needs one numeric swept axis, found {len(varying)}"
                      + (f" ({', '.join(varying)}); choose one with --axis" if varying else ""))
    values = [c.values.get(axis) for c in configs]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return None, f"best value: {axis} is not numeric"
    return axis, None


def analyse(study: Study, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0, level: float = DEFAULT_LEVEL,
            alpha: float = DEFAULT_ALPHA, fit: str = "auto", axis: str | None = None,
            suggest_k: int = 0) -> Analysis:
    configs = group_configs(study.done)
    labels = mixture_labels(configs)
    allowed = MIXTURE_CHOICES if labels else CHOICES
    if fit not in allowed and fit != "none":
        kind = "a mixture sweep (mix.domain_shares)" if labels else "a sweep along one axis"
        raise CodemixError(f"--fit {fit!r}: for {kind} choose one of {', '.join(allowed)}, none")
    base_cell = study.baseline_cell()
    baseline = base_cell.config if base_cell is not None and base_cell in study.done else None
    note = None
    if study.baseline and baseline is None and configs:
        # a sweep still running: compare with the baseline's configuration if another seed of it
        # is done, else with the first configuration that is, rather than with nothing
        same = next((c.name for c in configs if base_cell is not None and c.name == base_cell.config), None)
        baseline = same or configs[0].name
        note = f"baseline cell {study.baseline!r} has no results yet: comparing with {baseline!r}"
    out = Analysis(study.benchmarks(), configs, baseline, [], resamples=resamples, seed=seed, level=level,
                   alpha=alpha, fit=fit)
    if note:
        out.notes.append(note)
    choices = {c.name: seed_choices(c.seeds, resamples, rng_for(seed, "seeds", c.name)) for c in configs}
    boots: dict[str, dict[str, np.ndarray]] = {}  # benchmark -> config -> (B,) replicates
    for bench in out.benchmarks:
        boots[bench] = _benchmark(out, bench, configs, choices, baseline)
    out.boots = boots
    if out.unpaired:
        out.notes.append(f"{', '.join(out.unpaired)}: each run is scored on problems drawn from its own mixture "
                         "(they differ between cells by design), so comparisons are unpaired: every run's "
                         "problems resampled independently, no McNemar, no per-problem map")
    _average(out, configs, boots, baseline)
    for bench in [*out.benchmarks, AVERAGE]:  # Holm within each column: the cells compared there
        rows = [r for r in out.rows if r.benchmark == bench and r.p_value is not None]
        for r, p in zip(rows, holm([r.p_value for r in rows]), strict=True):
            r.p_holm = float(p)
            # a loss (--target loss:DOMAIN) is better lower: the verdict reads the difference's sign so
            r.verdict = verdict(-r.delta if lower_is_better(r.metric) else r.delta, r.p_holm, alpha)
    if labels:  # the configurations differ only in their domain shares: a fit on the simplex
        if fit != "none":
            _mixture(out, configs, labels, boots, suggest_k)
        return out
    if axis in MIXTURE_AXES:
        add_mixture_axis(configs, axis)
    out.axis, why = numeric_axis(configs, axis) if len(configs) > 1 else (None, None)
    if why:
        out.notes.append(why)
    if out.axis:
        out.log_axis = is_log_axis([c.values[out.axis] for c in configs])
        if fit != "none":  # none: a dose-response (accuracy rising with the number of rules) has no interior best
            _best(out, configs, boots, suggest_k)
    return out


def _benchmark(out: Analysis, bench: str, configs: list[Config], choices: dict, baseline: str | None):
    have = [c for c in configs if all(bench in cell.outcomes for cell in c.cells)]
    if not have:
        out.notes.append(f"{bench}: no configuration has it for every seed; left out")
        return {}
    hashes = {cell.outcomes[bench].problems_hash for c in have for cell in c.cells} - {None}
    paired = len(hashes) <= 1
    if not paired and not all(cell.outcomes[bench].problems_per_run for c in have for cell in c.cells):
        files = [f"{cell.name}: {cell.outcomes[bench].problems_hash[:12]}" for c in have for cell in c.cells
                 if cell.outcomes[bench].problems_hash]
        raise CodemixError(f"{bench}: cells were scored on different problems (problems_hash differs: "
                           f"{'; '.join(files[:4])}); compare like with like")
    ref_cfg = next((c for c in have if c.name == baseline), have[0])
    task_ids = ref_cfg.cells[0].outcomes[bench].task_ids
    if not paired:
        out.unpaired.append(bench)
    if any(cell.outcomes[bench].scores is None for c in have for cell in c.cells):
        out.notes.append(f"{bench}: some results.json lack per_task counts; no comparisons on it")
        for c in have:
            o = c.cells[0].outcomes[bench]
            out.rows.append(Row(c.name, bench, o.metric, o.n_problems, c.seeds, o.value, o.ci))
        return {}
    if paired:
        x = np.vstack([cell.outcomes[bench].aligned(task_ids) for c in have for cell in c.cells])
        run_means = resampled_means(x, out.resamples, rng_for(out.seed, "problems", bench))
    else:  # one independent problem resample per run (their problem sets are unrelated)
        x = None
        run_means = np.column_stack([
            resampled_means(cell.outcomes[bench].scores, out.resamples,
                            rng_for(out.seed, "problems", bench, cell.name))[:, 0]
            for c in have for cell in c.cells])
    columns, start, boots, points, means = {}, 0, {}, {}, {}
    for c in have:
        columns[c.name] = list(range(start, start + c.seeds))
        start += c.seeds
        boots[c.name] = group_means(run_means, columns[c.name], choices[c.name])
        if paired:
            points[c.name] = x[columns[c.name]].mean(axis=0)  # per-problem, averaged over seeds
            means[c.name] = float(points[c.name].mean())
        else:  # no problem is shared across runs: the seeds' scores alone
            means[c.name] = float(np.mean([cell.outcomes[bench].value for cell in c.cells]))
    diffs = []
    for c in have:
        first = c.cells[0].outcomes[bench]
        if c.seeds == 1:  # exactly the numbers in results.json (a validation loss has no CI there: the bootstrap's)
            value, ci = first.value, first.ci if first.ci is not None else percentile_ci(boots[c.name], out.level)
        else:
            value, ci = means[c.name], percentile_ci(boots[c.name], out.level)
        row = Row(c.name, bench, first.metric, len(task_ids) if paired else first.n_problems, c.seeds, value, ci)
        if baseline in means and c.name != baseline:
            base_cfg = next(b for b in have if b.name == baseline)
            _compare(row, boots[c.name] - boots[baseline], means[c.name] - means[baseline],
                     out.level, two_level=max(c.seeds, base_cfg.seeds) > 1)
            if not paired:
                row.test = "unpaired " + row.test
                out.rows.append(row)
                continue
            single = all(cell.outcomes[bench].single_sample for cell in c.cells + base_cfg.cells)
            if c.seeds == base_cfg.seeds == 1 and single:
                row.test = "mcnemar"
                row.p_value, row.b_only, row.a_only = mcnemar_exact(x[columns[baseline][0]], x[columns[c.name][0]])
            diffs.append((c.name, points[c.name] - points[baseline]))
        out.rows.append(row)
    if diffs:
        out.differences[bench] = (task_ids, [d[0] for d in diffs], np.vstack([d[1] for d in diffs]))
    return boots


def _compare(row: Row, deltas: np.ndarray, delta: float, level: float, *, two_level: bool) -> None:
    row.delta = delta
    row.delta_ci = percentile_ci(deltas, level)
    row.test = "two-level bootstrap" if two_level else "bootstrap"
    row.p_value = bootstrap_p_value(deltas)


def _average(out: Analysis, configs: list[Config], boots: dict, baseline: str | None) -> None:
    """The paper's headline: the mean over benchmarks, for configurations scored on all of them."""
    heads = headline(out.benchmarks)
    if len(heads) < 2:
        return
    full = [c for c in configs if all(c.name in boots[b] for b in heads)]
    multi_seed_baseline = baseline is not None and any(c.name == baseline and c.seeds > 1 for c in configs)
    for c in full:
        parts = [out.row(c.name, b) for b in heads]
        value = float(np.mean([p.value for p in parts]))
        rep = np.mean([boots[b][c.name] for b in heads], axis=0)
        row = Row(c.name, AVERAGE, parts[0].metric if len({p.metric for p in parts}) == 1 else "mixed",
                  sum(p.n_problems for p in parts), c.seeds, value, percentile_ci(rep, out.level))
        if baseline is not None and c.name != baseline and any(b.name == baseline for b in full):
            base_rep = np.mean([boots[b][baseline] for b in heads], axis=0)
            base_val = float(np.mean([out.row(baseline, b).value for b in heads]))
            _compare(row, rep - base_rep, value - base_val, out.level, two_level=c.seeds > 1 or multi_seed_baseline)
        out.rows.append(row)


def _best(out: Analysis, configs: list[Config], boots: dict, suggest_k: int) -> None:
    xs_all = {c.name: float(c.values[out.axis]) for c in configs}
    heads = headline(out.benchmarks)
    for bench in [*out.benchmarks, AVERAGE]:
        if bench == AVERAGE:
            names = [c.name for c in configs if out.row(c.name, AVERAGE) is not None]
            reps = [np.mean([boots[b][n] for b in heads], axis=0) for n in names]
        else:
            names = [n for n in boots.get(bench, {})]
            reps = [boots[bench][n] for n in names]
        if not names:
            continue
        points = np.array([out.row(n, bench).value for n in names])
        if np.ptp(points) == 0:
            out.notes.append(f"best value on {bench}: every configuration scores {points[0] * 100:.1f}%; no maximum")
            continue
        x = np.array([xs_all[n] for n in names])
        fx = np.log10(x) if out.log_axis else x
        try:
            loc = best_location(fx, np.column_stack(reps), points, fit=out.fit, level=out.level)
        except ValueError as e:
            out.notes.append(f"best value on {bench}: {e}")
            continue
        if out.log_axis:  # back to the axis' own units; the coefficients stay in powers of log10(x)
            loc.x, loc.best, loc.ci = x, float(10 ** loc.best), (float(10 ** loc.ci[0]), float(10 ** loc.ci[1]))
            loc.measured_best = float(10 ** loc.measured_best)
            loc.fit_ci = (float(10 ** loc.fit_ci[0]), float(10 ** loc.fit_ci[1]))
            loc.curve_x = 10 ** loc.curve_x
        out.best[bench] = loc
        target = AVERAGE if len(heads) > 1 else heads[0] if heads else out.benchmarks[0]
        if suggest_k and bench == target:
            out.suggestions = suggest(fx, np.column_stack(reps), points, suggest_k, fit=loc.fit)
            if out.log_axis:
                out.suggestions = [float(10 ** s) for s in out.suggestions]
    edge = [b for b, loc in out.best.items() if loc.edge_share > 0.2]
    if edge:
        out.notes.append(f"the maximum sits at the edge of the {out.axis} range in over 20% of resamples "
                         f"({', '.join(edge)}): the interval is bounded by the grid; extend it")


def mixture_labels(configs: list[Config]) -> list[str] | None:
    """The domain labels (in the design's order: first seen) when the configurations differ, besides
    the seed, only in mix.domain_shares, a {label: share} dict each; else None."""
    if len(configs) < 2 or not all(isinstance(c.values.get(MIXTURE_KEY), dict) for c in configs):
        return None
    others = {k for c in configs for k in c.values} - {MIXTURE_KEY}
    if any(len({repr(c.values.get(k)) for c in configs}) > 1 for k in others):
        return None
    return list(dict.fromkeys(label for c in configs for label in c.values[MIXTURE_KEY]))


def _mixture_scale(metric: str, values: np.ndarray) -> tuple[str, bool]:
    """(scale, maximize): losses on the log scale and minimised; rates on the logit scale."""
    if lower_is_better(metric):
        return "log", False
    return ("logit" if np.all((values >= 0) & (values <= 1)) else "identity"), True


def _mixture(out: Analysis, configs: list[Config], labels: list[str], boots: dict, suggest_k: int) -> None:
    """A MixtureFit per benchmark and for the average (recipes/report/simplex.py), replicates from
    the same paired two-level bootstrap as the rows' intervals."""
    shares_of = {c.name: [float(c.values[MIXTURE_KEY].get(label, 0.0)) for label in labels] for c in configs}
    heads = headline(out.benchmarks)
    target = AVERAGE if len(heads) > 1 else heads[0] if heads else None
    for bench in [*out.benchmarks, AVERAGE]:
        if bench == AVERAGE:
            names = [c.name for c in configs if out.row(c.name, AVERAGE) is not None]
            reps = [np.mean([boots[b][n] for b in heads], axis=0) for n in names]
        else:
            names = list(boots.get(bench, {}))
            reps = [boots[bench][n] for n in names]
        if not names:
            continue
        rows = [out.row(n, bench) for n in names]
        measured = np.array([r.value for r in rows])
        if np.ptp(measured) == 0:
            out.notes.append(f"best mixture on {bench}: every configuration scores {measured[0]:.4g}; no optimum")
            continue
        scale, maximize = _mixture_scale(rows[0].metric, measured)
        try:
            fit = fit_mixture(np.array([shares_of[n] for n in names]), measured, np.vstack(reps), labels, names,
                              model=out.fit, scale=scale, maximize=maximize, level=out.level, seed=out.seed)
        except ValueError as e:
            out.notes.append(f"best mixture on {bench}: {e}")
            continue
        out.mixture[bench] = fit
        out.notes += [f"best mixture on {bench}: {n}" for n in fit.notes]
        if suggest_k and bench == target:
            out.mixture_suggestions = suggest_mixtures(fit, suggest_k)


def axis_label(key: str | None) -> str:
    return key.rsplit(".", 1)[-1] if key else ""
