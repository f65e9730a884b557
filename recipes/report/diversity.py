"""Diversity in a report: each cell's mixture diversity numbers, and the rank correlation between
the score and a diversity measure across configurations (`codemix report`, diversity.png).

A cell's numbers come from `codemix.mixing.diversity.measure.summary_columns(<cell>/mix)` (the mixture
manifest's `diversity` block, else diversity.json beside it). `codemix report --diversity`
measures the mixtures that have neither, writing diversity.json beside each (atomically), with
the offline TF-IDF + SVD embedding unless the recipe names a model (`mix.diversity.embedding`
set, or `mix.diversity: true`) or `--embedding` does.

The statistic: Spearman's rho between a configuration's diversity (the mean over its seeds'
mixtures) and its score, per benchmark and for the average over benchmarks. Its 95% interval comes
from rho recomputed on the report's own bootstrap replicates of every configuration's score (problems resampled, and seeds where a configuration has several, with
the draws of `codemix.recipes.report.stats`; seeded; see `rank_interval`), so it says how sure the ranking of these cells is given
the evaluation noise; it does not cover the mixtures' own sampling noise (one mixture per cell).
The p-value is the permutation test of "no monotone relation" over the n configurations (exact
up to 8 of them: a sweep has too few points for spearmanr's t approximation).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codemix.core.errors import CodemixError
from codemix.recipes.report.analysis import AVERAGE, Analysis, axis_label
from codemix.recipes.report.data import headline
from codemix.recipes.report.study import Study

# x axes `--diversity-axis` offers: key of summary_columns -> axis label
AXES = {"vendi": "Vendi score (effective number of distinct instructions)",
        "effective_tasks": "effective number of tasks (exp entropy of task labels)",
        "tasks": "distinct task labels",
        "mean_cosine_distance": "mean pairwise cosine distance",
        "effective_clusters": "effective number of k-means clusters",
        "distinct_2": "distinct-2 (distinct word bigrams / all)",
        "entropy_2_bits": "word-bigram entropy (bits)"}
# the few columns the printed tables show (all of summary_columns go to report.csv)
TEXT_COLUMNS = (("vendi", "vendi", ".1f"), ("effective_tasks", "eff.tasks", ".1f"),
                ("mean_cosine_distance", "cos.dist", ".3f"), ("distinct_2", "distinct-2", ".3f"))


# ---------------------------------------------------------------- reading / measuring

def mix_dir(cell_dir: Path | None) -> Path | None:
    d = cell_dir / "mix" if cell_dir is not None else None
    return d.resolve() if d is not None and d.is_dir() else None


def attach(study: Study, *, compute: bool = False, embedding: str | None = None) -> list[str]:
    """Fill every cell's `diversity` and `diversity_embedding`; with `compute`, measure the
    mixtures without a block first. Returns lines saying which embedding was used where."""
    from codemix.mixing.diversity.measure import read_block, summary_columns

    measured: dict[Path, str] = {}  # resolved mixture dir -> embedding (sweep cells share mixtures)
    used: dict[str, str] = {}  # embedding identity (tfidf, model2vec:NAME, ...) -> its full name
    missing = 0
    failed: dict[Path, str] = {}
    for cell in study.cells:
        d = mix_dir(cell.dir)
        if d is None:
            continue
        if compute and d not in measured and d not in failed and not summary_columns(d):
            try:
                measured[d] = measure_mixture(d, embedding)
            except CodemixError as e:  # one mixture's data gone (cleaned up) must not sink the report
                failed[d] = str(e)
        cell.diversity = summary_columns(d)
        block = read_block(d) if cell.diversity else None
        cell.diversity_embedding = block["embedding"]["name"] if block else None
        if block:
            used.setdefault(block["embedding"].get("used", cell.diversity_embedding), cell.diversity_embedding)
        missing += not cell.diversity and cell.status == "done"
    lines = []
    names = sorted(used.values())
    if measured:
        lines.append(f"diversity: measured {len(measured)} mixture(s) now (diversity.json beside each)")
    if len(names) == 1:
        lines.append(f"diversity embedding: {names[0]}")
    elif len(names) > 1:
        lines.append("diversity: cells were measured with different embeddings, so their numbers are not comparable: "
                     + "; ".join(names))
    if names and any(n.startswith("TF-IDF") for n in names):
        lines.append("diversity: TF-IDF vectors are fit on each mixture's own texts; a named model "
                     "(--embedding model2vec:NAME) puts every cell in one space")
    if failed:
        lines.append(f"diversity: {len(failed)} mixture(s) could not be measured, e.g. "
                     + next(iter(failed.values())))
    if missing:
        lines.append(f"diversity: {missing} cell(s) with results have no diversity block"
                     + ("" if compute else "; `codemix report --diversity` measures them"))
    return lines


def measure_mixture(d: Path, embedding: str | None) -> str:
    """Measure one built mixture and write <d>/diversity.json; returns the embedding's name."""
    from codemix.core.artifacts import atomic_write_json, read_manifest
    from codemix.mixing.config import DiversityConfig, MixConfig
    from codemix.mixing.diversity import measure as diversity
    from codemix.mixing.pipeline import DATA_FILES
    from codemix.mixing.writer import read_table

    manifest = read_manifest(d) or {}
    names = [manifest["data_file"]] if manifest.get("data_file") else list(DATA_FILES.values())
    data = next((d / n for n in names if (d / n).is_file()), None)
    if data is None:
        raise CodemixError(f"{d}: no mixture data ({' or '.join(names)}) to measure; --diversity needs the built mixture")
    recorded = manifest.get("recipe") or {}
    mix = None
    if recorded.get("mix"):
        try:
            mix = MixConfig.model_validate(recorded["mix"])
        except ValueError:
            mix = None  # recorded by another codemix version: defaults
    base = mix.diversity if mix is not None else DiversityConfig()
    decontam = mix.decontaminate if mix is not None else None
    named = base.enabled or base.embedding != DiversityConfig.model_fields["embedding"].default
    settings = base.model_dump()
    settings.update(enabled=True, map=False, embedding=embedding or (base.embedding if named else "tfidf"))
    # proximity only to benchmarks with a local copy: a report must not wait on the Hub for MBPP
    settings["benchmarks"] = [b for b in base.benchmarks if b == "humaneval" or base.mbpp_path
                              or (decontam is not None and decontam.mbpp_path)]
    try:
        cfg = DiversityConfig.model_validate(settings)
    except ValueError as e:
        raise CodemixError(f"--embedding {embedding!r}: {e}") from None
    seed = int(recorded.get("seed", 0) or 0)
    block = diversity.measure(read_table(data), cfg, seed=seed, decontam=decontam, title=f"mixture {data}")
    content_hash = manifest.get("content_hash")
    key = diversity.settings_key(cfg, seed, content_hash, decontam) if content_hash else None
    block.update(key=key, content_hash=content_hash, target=str(d))
    atomic_write_json(d / diversity.JSON_NAME, block)
    return block["embedding"]["name"]


# ---------------------------------------------------------------- rank correlation

@dataclass
class Point:
    config: str
    label: str  # the swept value, or the configuration's name
    x: float
    value: float
    ci: tuple[float, float] | None


@dataclass
class Correlation:
    benchmark: str
    axis: str
    metric: str
    n_problems: int
    points: list[Point] = field(default_factory=list)
    rho: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    resamples: int = 0


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of x (C,) with every row of y (B, C), average ranks for ties (as
    scipy.stats.spearmanr); NaN where a row (or x) is constant."""
    from scipy.stats import rankdata

    rx = rankdata(x)
    ry = rankdata(np.atleast_2d(y), axis=1)
    rx = rx - rx.mean()
    ry = ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx ** 2).sum() * (ry ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, ry @ rx / np.where(den > 0, den, 1.0), np.nan)


PERMUTATIONS = 100_000  # exact (every ordering) up to 8 configurations (8! = 40,320), seeded Monte Carlo above


def spearman_p(x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """Two-sided permutation p-value of "no monotone relation" (scipy.stats.permutation_test,
    pairings): exact for a sweep's handful of configurations, where spearmanr's t approximation
    is far off (rho = 1 over 5 points: exact p = 2/120 = 0.017, the t approximation ~1e-24)."""
    from scipy.stats import permutation_test

    res = permutation_test((np.asarray(x, float),), lambda xp, axis=-1: spearman_rows(y, xp),
                           permutation_type="pairings", vectorized=True, n_resamples=PERMUTATIONS,
                           alternative="two-sided", rng=np.random.default_rng(seed))
    return float(res.pvalue)


def rank_correlation(x: np.ndarray, y: np.ndarray, replicates: np.ndarray, level: float = 0.95, seed: int = 0
                     ) -> tuple[float, tuple[float, float] | None, float]:
    """(Spearman's rho (scipy.stats.spearmanr), its percentile CI over the replicates (B, C) of
    y, the permutation p-value)."""
    from scipy.stats import spearmanr

    rho, p = float(spearmanr(x, y).statistic), spearman_p(x, y, seed)
    reps = spearman_rows(x, replicates)
    reps = reps[~np.isnan(reps)]
    return rho, rank_interval(reps, rho, level) if len(reps) else None, p


def rank_interval(replicates: np.ndarray, rho: float, level: float = 0.95) -> tuple[float, float]:
    """The hull of the percentile and the basic (reverse-percentile) bootstrap intervals of rho,
    within [-1, 1].

    Why both: a resample adds a second round of evaluation noise, which scrambles the ranks of
    close configurations again, so the replicates sit further from the truth than the estimate
    does. Near rho = +-1 the percentile interval then misses the truth (coverage 49% in 100
    synthetic 6-point monotone sweeps, steps of 2 points, 400 problems), while the basic interval,
    which reflects that shift, is right there (96%) but under-covers a truth near 0 (73% at
    rho -0.03, where the percentile one gives 99%). Their hull covered in all four settings tried
    (95-100%; `pytest -m slow tests/test_report_diversity.py` repeats all four)."""
    tail = (1 - level) / 2 * 100
    lo, hi = (float(v) for v in np.percentile(replicates, [tail, 100 - tail]))
    return max(-1.0, min(lo, 2 * rho - hi)), min(1.0, max(hi, 2 * rho - lo))


def correlate(study: Study, analysis: Analysis, axis: str = "vendi") -> tuple[list[Correlation], list[str]]:
    """Per benchmark and the average: the configurations' diversity (x) against their score."""
    if axis not in AXES:
        raise CodemixError(f"--diversity-axis {axis!r}: choose one of {', '.join(AXES)}")
    notes: list[str] = []
    xs: dict[str, float] = {}
    for cfg in analysis.configs:
        vals = [c.diversity[axis] for c in cfg.cells if axis in c.diversity]
        if len(vals) == len(cfg.cells):
            xs[cfg.name] = float(np.mean(vals))
    if not xs:
        if any(c.diversity for c in study.cells):
            notes.append(f"diversity: no cell has {axis}" + (" (its mixture rows have no task labels)"
                                                           if axis.endswith("tasks") else ""))
        return [], notes
    label = {c.name: (f"{axis_label(analysis.axis)}={_value_text(c.values[analysis.axis])}" if analysis.axis
                      else c.name) for c in analysis.configs}
    out = []
    panels = analysis.benchmarks + ([AVERAGE] if len(headline(analysis.benchmarks)) > 1 else [])
    for bench in panels:
        rows = [r for r in analysis.rows if r.benchmark == bench and r.config in xs]
        if not rows:
            continue
        corr = Correlation(bench, axis, rows[0].metric, rows[0].n_problems, resamples=analysis.resamples)
        corr.points = sorted((Point(r.config, label[r.config], xs[r.config], r.value, r.ci) for r in rows),
                             key=lambda p: p.x)
        out.append(corr)
        names = [p.config for p in corr.points]
        reps = _replicates(analysis, bench, names)
        x = np.array([p.x for p in corr.points])
        y = np.array([p.value for p in corr.points])
        if len(names) < 3:
            notes.append(f"diversity vs {bench}: {len(names)} configuration(s); a rank correlation needs 3")
        elif np.ptp(x) == 0 or np.ptp(y) == 0:
            notes.append(f"diversity vs {bench}: every configuration has the same "
                         f"{'diversity' if np.ptp(x) == 0 else 'score'}; no rank correlation")
        elif reps is None:
            corr.rho, _, corr.p_value = rank_correlation(x, y, y[None, :], analysis.level, analysis.seed)
            notes.append(f"diversity vs {bench}: no per-problem scores to resample; rho without an interval")
        else:
            corr.rho, corr.ci, corr.p_value = rank_correlation(x, y, reps, analysis.level, analysis.seed)
    return out, notes


def _replicates(analysis: Analysis, bench: str, names: list[str]) -> np.ndarray | None:
    benches = headline(analysis.benchmarks) if bench == AVERAGE else [bench]
    if not all(n in analysis.boots.get(b, {}) for b in benches for n in names):
        return None
    return np.column_stack([np.mean([analysis.boots[b][n] for b in benches], axis=0) for n in names])


def _value_text(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------- text, CSV

def correlation_lines(corrs: list[Correlation]) -> list[str]:
    lines = []
    for c in corrs:
        if c.rho is None:
            continue
        ci = f" [{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]" if c.ci else ""
        lines.append(f"{c.metric} on {c.benchmark} vs {c.axis}: Spearman rho {c.rho:+.2f}{ci} over "
                     f"{len(c.points)} configurations (p = {c.p_value:.3g})")
    return lines


def correlation_csv(corrs: list[Correlation]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", "axis", "metric", "n_configs", "spearman_rho", "ci_low", "ci_high", "p_value",
                "resamples"])
    for c in corrs:
        w.writerow([c.benchmark, c.axis, c.metric, len(c.points), _r(c.rho), _r(c.ci and c.ci[0]),
                    _r(c.ci and c.ci[1]), _r(c.p_value), c.resamples])
    return buf.getvalue()


def points_csv(corrs: list[Correlation]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", "config", "label", "axis", "x", "value", "ci_low", "ci_high"])
    for c in corrs:
        for p in c.points:
            w.writerow([c.benchmark, p.config, p.label, c.axis, repr(p.x), repr(p.value),
                        _r(p.ci and p.ci[0]), _r(p.ci and p.ci[1])])
    return buf.getvalue()


def _r(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def axis_title(axis: str) -> str:
    return AXES.get(axis, axis)


def method_text(axis: str, analysis: Analysis) -> str:
    return (f"Diversity: Spearman's rank correlation between each configuration's {axis} (its mixture's, "
            f"the mean over seeds) and its score, per benchmark and for the average. The {analysis.level:.0%} "
            f"interval recomputes rho on the {analysis.resamples:,} bootstrap replicates of the scores used "
            "above (problems, and seeds where there are several; seeded) and takes the hull of the percentile "
            "and basic bootstrap intervals (each alone under-covers on one side; see recipes/report_diversity.py), "
            "so it reflects evaluation noise only, not the sampling of the mixtures; p is the test of no monotone "
            f"relation over the configurations (permutation test, exact up to 8 configurations). Swept axis: {axis_label(analysis.axis) or 'none'}.")
