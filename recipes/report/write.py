"""`codemix report`'s outputs: the printed text, report.md, the CSV files and the plots.

    report.md        everything below, with the method stated
    report.csv       one row per cell (and the base model): swept values, mixture rows per domain
                     and source, train loss / tokens / wall time, every benchmark's number and
                     95% CI as fractions (exactly results.json's numbers), the average
    comparisons.csv  one row per configuration x benchmark (and average): value, CI, delta vs
                     the baseline with its CI, test, p, Holm-adjusted p, verdict
    best.csv, curve.csv   the best axis value with its CI, the fitted curve (numeric axis only)
    problems.csv     per problem, each configuration's score minus the baseline's (where it differs)
    report.png       metric vs the swept axis (numeric axis) or grouped bars (otherwise)
    problems.png     the cells x problems map
    mixture_<benchmark>.png   a sweep over domain shares (k >= 2 domains): the fitted score over
                     the simplex (a ternary map for 3 domains, partial-dependence panels otherwise;
                     for 3 domains the panels go to mixture_<benchmark>_shares.png) with the
                     predicted best mixture and its region; mixture_fit.csv (best shares with
                     intervals, predicted and best measured score), mixture_cv.csv (each model's
                     leave-one-configuration-out Spearman and RMSE), mixture_curves.csv (the
                     panels' curves), mixture_suggestions.csv (--suggest), mixture_fit.json
    diversity.png    the metric against a diversity measure of the cells' mixtures (Vendi score by
                     default), Spearman's rho with its bootstrap CI per panel; diversity.csv (rho,
                     CI, p per benchmark) and diversity_points.csv (the points) beside it
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_text
from codemix.core.errors import CodemixError
from codemix.recipes.report.analysis import AVERAGE, LOG_SPAN, Analysis, axis_label
from codemix.recipes.report.data import Outcome, headline, mix_text
from codemix.recipes.report.diversity import (
    axis_title,
    correlate,
    correlation_csv,
    correlation_lines,
    points_csv,
)
from codemix.recipes.report.diversity import method_text as div_method
from codemix.recipes.report.plots import (
    plot_bars,
    plot_curves,
    plot_diversity,
    plot_problem_map,
    reference_points,
)
from codemix.recipes.report.simplex_plots import partial_dependence_csv, plot_mixture_fits
from codemix.recipes.report.simplex_tables import (
    mixture_cv_csv,
    mixture_fit_csv,
    mixture_lines,
    mixture_markdown,
    mixture_suggestions_csv,
    suggestion_lines,
)
from codemix.recipes.report.study import Study
from codemix.recipes.report.tables import (
    base_cell,
    best_csv,
    best_lines,
    cell_columns,
    comparison_columns,
    contamination_lines,
    csv_text,
    curve_csv,
    markdown_table,
    problems_csv,
    text_table,
)


@dataclass
class Written:
    text: str
    files: list[Path] = field(default_factory=list)


def method_text(analysis: Analysis) -> str:
    lines = [
        f"Paired comparisons with the baseline `{analysis.baseline}` over the same problems: the difference in "
        f"per-problem scores (unbiased pass@k per problem; accuracy per problem) with a {analysis.level:.0%} "
        f"percentile bootstrap interval from {analysis.resamples:,} resamples of the problems (seed "
        f"{analysis.seed}); configurations with several training seeds use a two-level bootstrap (seeds, "
        "then problems). Test: exact McNemar on the discordant problems when both sides are one run with "
        "one sample per problem (scipy.stats.binomtest), otherwise the bootstrap p-value (twice the smaller "
        "tail of the resampled difference at 0). Holm's correction across the configurations compared, "
        f"separately per benchmark and for the average; verdict better / worse when the Holm-adjusted p < "
        f"{analysis.alpha}, else no detectable difference.",
    ]
    if analysis.unpaired:
        lines.append(f"Unpaired ({', '.join(analysis.unpaired)}): each run was scored on problems drawn from its "
                     "own mixture, so the problems cannot be matched across runs; every run's problems are "
                     "resampled independently (seeds, where a configuration has several, by the same two-level "
                     "scheme) and the difference's interval and bootstrap p-value come from those independent "
                     "resamples; no McNemar.")
    if analysis.axis and analysis.fit == "none":
        lines.append(f"No best-value fit along {analysis.axis} (--fit none)"
                     + (f"; the axis spans {LOG_SPAN:g}x or more, so the plot's axis is logarithmic."
                        if analysis.log_axis else "."))
    elif analysis.axis:
        lines.append(
            f"Best {axis_label(analysis.axis)}: a least-squares fit of the logit of the configurations' scores "
            f"against {analysis.axis} (fit {analysis.fit}; auto chooses among linear, quadratic, cubic and "
            "interpolation by leave-one-configuration-out error), refitted on every bootstrap resample; the "
            f"interval is the {analysis.level:.0%} percentile range of the fitted maximum's location, widened to "
            "that of the bracket around each resample's best measured point, searched over the swept range only."
            + (f" The axis spans {LOG_SPAN:g}x or more, so the fit is in log10({axis_label(analysis.axis)}) "
               "and the plot's axis is logarithmic." if analysis.log_axis else ""))
    return "\n\n".join(lines)


def _series(study: Study, analysis: Analysis) -> list[tuple[str, dict[str, Outcome]]]:
    series = []
    for cfg in analysis.configs:
        outs = {}
        for bench in analysis.benchmarks:
            r = analysis.row(cfg.name, bench)
            if r is not None:
                outs[bench] = Outcome(bench, r.metric, r.value, r.ci, r.n_problems)
        series.append((cfg.name, outs))
    if study.base:
        series.append(("base", study.base))
    return series


def _cell_points(study: Study, analysis: Analysis) -> dict[str, list[tuple[float, float]]]:
    points: dict[str, list[tuple[float, float]]] = {}
    for cell in study.done:
        x = cell.values.get(analysis.axis)
        if x is None:
            continue
        for bench, o in cell.outcomes.items():
            points.setdefault(bench, []).append((float(x), o.value))
        heads = headline(analysis.benchmarks)
        if len(heads) > 1 and all(b in cell.outcomes for b in heads):
            avg = sum(cell.outcomes[b].value for b in heads) / len(heads)
            points.setdefault(AVERAGE, []).append((float(x), avg))
    return points


def title_of(study: Study, analysis: Analysis) -> str:
    metric = "/".join(sorted({r.metric for r in analysis.rows if r.benchmark != AVERAGE})) or "pass@1"
    seeds = sorted({c.seeds for c in analysis.configs})
    seed_text = f" x {'/'.join(map(str, seeds))} seeds" if seeds and seeds != [1] else ""
    if analysis.axis:
        return f"{study.name}: {metric} vs {axis_label(analysis.axis)} ({len(analysis.configs)} values{seed_text})"
    if len(analysis.configs) == 1:
        cell = analysis.configs[0].cells[0]
        mix = mix_text(cell.mix)
        return (f"{study.name}: {metric}, trained" + (" vs base model" if study.base else " model")
                + seed_text + (f"\n({mix})" if mix else ""))
    keys = sorted({axis_label(k) for c in analysis.configs for k in c.values})
    return f"{study.name}: {metric} by {', '.join(keys) or 'run'} ({len(analysis.configs)} configurations{seed_text})"


def mixture_score_labels(analysis: Analysis) -> dict[str, str]:
    """Per fitted benchmark, the score's name with its number of problems, for the mixture plots."""
    labels = {}
    heads = headline(analysis.benchmarks)
    for bench, fit in analysis.mixture.items():
        rows = [r for r in analysis.rows if r.benchmark == bench]
        if fit.scale != "logit" or not rows:
            labels[bench] = "loss" if fit.scale == "log" else "score"
        elif bench == AVERAGE:
            labels[bench] = f"mean {rows[0].metric} over {len(heads)} benchmarks"
        else:
            labels[bench] = f"{rows[0].metric}, n={rows[0].n_problems} problems"
    return labels


def _write_mixture(study: Study, analysis: Analysis, out_dir: Path, put, files: list[Path]) -> list[str]:
    """The mixture fit's CSV, JSON and plots; returns its lines of the printed text."""
    fits, suggestions = analysis.mixture, analysis.mixture_suggestions
    if not fits:
        return []
    put("mixture_fit.csv", mixture_fit_csv(fits))
    put("mixture_cv.csv", mixture_cv_csv(fits))
    put("mixture_curves.csv", partial_dependence_csv(fits))
    summary: dict[str, Any] = {"fits": {bench: fit.to_dict() for bench, fit in fits.items()}}
    if suggestions is not None and len(suggestions):
        put("mixture_suggestions.csv", mixture_suggestions_csv(fits, suggestions))
        summary["suggestions"] = [[float(v) for v in row] for row in suggestions]
    put("mixture_fit.json", json.dumps(summary, indent=1) + "\n")
    files += plot_mixture_fits(fits, out_dir, study.name, mixture_score_labels(analysis), suggestions)
    return mixture_lines(fits, analysis) + suggestion_lines(fits, suggestions)


def check_out_dir(out_dir: Path) -> None:
    """A CodemixError when the report cannot be written into `out_dir`: it, or the nearest part
    of its path that exists, is not a directory. Cheap: callers run it before the analysis."""
    for p in (out_dir, *out_dir.parents):
        if p.exists():
            if not p.is_dir():
                where = "" if p == out_dir else f": {p} is not a directory"
                raise CodemixError(f"--out {out_dir}{where or ' is a file'}; the report is a directory of files, "
                                   "give a directory (new or existing)")
            return


def write_report(study: Study, analysis: Analysis, out_dir: Path, reference: dict[str, Any] | None = None,
                 diversity_axis: str = "vendi", diversity_lines: list[str] | None = None) -> Written:
    check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = list(study.cells) + ([base_cell(study.base)] if study.base else [])
    cols = cell_columns(cells, analysis.benchmarks)
    cmp_cols = comparison_columns(analysis)
    cmp_rows = analysis.rows
    files: list[Path] = []

    def put(name: str, text: str) -> None:
        atomic_write_text(out_dir / name, text)
        files.append(out_dir / name)

    put("report.csv", csv_text(cols, cells))
    put("comparisons.csv", csv_text(cmp_cols, cmp_rows))
    if analysis.best:
        put("best.csv", best_csv(analysis))
        put("curve.csv", curve_csv(analysis))
    if analysis.differences:
        put("problems.csv", problems_csv(analysis))
    title = title_of(study, analysis)
    if analysis.axis:
        ref = reference_points(reference, analysis.benchmarks) if reference else None
        if reference and axis_label(analysis.axis) != reference["axis"]:
            analysis.notes.append(f"--reference {reference['path']}: its axis {reference['axis']!r} is not the "
                                  f"swept {analysis.axis!r}; not overlaid")
            ref = None
        files.append(plot_curves(analysis, _cell_points(study, analysis), study.base, out_dir / "report.png", title, ref,
                                  Path(reference["path"]).stem if reference else "reference"))
    else:
        files.append(plot_bars(_series(study, analysis), analysis.benchmarks, out_dir / "report.png", title))
    problems_png = plot_problem_map(analysis, out_dir / "problems.png",
                                    f"{study.name}: problems each configuration solves that the baseline "
                                    f"({analysis.baseline}) does not (green) and the reverse (pink)")
    if problems_png:
        files.append(problems_png)

    corrs, div_notes = correlate(study, analysis, diversity_axis)
    analysis.notes += div_notes
    if corrs:
        put("diversity.csv", correlation_csv(corrs))
        put("diversity_points.csv", points_csv(corrs))
        seeds = sorted({c.seeds for c in analysis.configs})
        embeddings = sorted({c.diversity_embedding.split(":")[0] for c in study.done if c.diversity_embedding})
        files.append(plot_diversity(corrs, out_dir / "diversity.png",
                                    f"{study.name}: {corrs[0].metric} vs {diversity_axis} of the mixture\n"
                                    f"{len(corrs[0].points)} configurations"
                                    + (f" x {'/'.join(map(str, seeds))} seeds" if seeds != [1] else "")
                                    + "; bars: 95% CI; embedding: " + " / ".join(embeddings),
                                    axis_title(diversity_axis)))
    div_text = (diversity_lines or []) + correlation_lines(corrs)
    mixture_text = _write_mixture(study, analysis, out_dir, put, files)

    best = best_lines(analysis)
    next_points = (f"next {axis_label(analysis.axis)} values to run (c-optimal for the best value's location): "
                   + ", ".join(f"{v:.4g}" for v in analysis.suggestions)) if analysis.suggestions else None
    text = [f"{study.name}: {len(study.done)} of {len(study.cells)} cells with results; "
            f"baseline {analysis.baseline}", "", text_table(cols, cells), ""]
    compared = analysis.baseline is not None and len(analysis.configs) > 1
    if compared:
        text += [text_table(cmp_cols, cmp_rows), ""]
    text += best + ([next_points] if next_points else []) + mixture_text + div_text + [f"note: {n}" for n in analysis.notes]
    md = [f"# {title}", "", "Sources: " + ", ".join(f"`{s}`" for s in study.sources), "",
          "## Cells", "", markdown_table(cols, cells), "",
          "Numbers are percentages with 95% CIs; report.csv has the same numbers as fractions.", ""]
    if compared:
        md += [f"## Compared with the baseline ({analysis.baseline})", "", markdown_table(cmp_cols, cmp_rows), "",
               "delta: percentage points, this configuration minus the baseline; +/-: problems only this "
               "configuration / only the baseline solves.", ""]
    if best:
        md += [f"## Best {axis_label(analysis.axis)}", ""] + [f"- {line}" for line in best] + [""]
        if next_points:
            md += [f"- {next_points}", ""]
    md += mixture_markdown(analysis.mixture, analysis, analysis.mixture_suggestions)
    if corrs:
        md += [f"## Score against diversity ({diversity_axis})", ""] + [f"- {line}" for line in div_text] + [""]
        md += ["| benchmark | configurations | Spearman rho [95% CI] | p |", "|---|---|---|---|"]
        md += [f"| {c.benchmark} | {len(c.points)} | " + (f"{c.rho:+.2f}" if c.rho is not None else "-")
               + (f" [{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]" if c.ci else "") + " | "
               + (f"{c.p_value:.3g}" if c.p_value is not None else "-") + " |" for c in corrs]
        md += ["", "diversity.csv has these numbers, diversity_points.csv the points plotted.", ""]
    elif diversity_lines:
        md += ["## Diversity", ""] + [f"- {line}" for line in diversity_lines] + [""]
    contamination = contamination_lines(study.done)
    if contamination:
        md += ["## Contamination", ""] + contamination + [""]
    md += ["## Method", "", method_text(analysis), ""] + ([div_method(diversity_axis, analysis), ""] if corrs else [])
    if analysis.notes:
        md += ["## Notes", ""] + [f"- {n}" for n in analysis.notes] + [""]
    md += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in files if p.suffix == ".png"] + [""]
    put("report.md", "\n".join(md))
    text += ["", "report: " + ", ".join(str(p) for p in files)]
    return Written("\n".join(text), files)
