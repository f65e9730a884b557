"""The mixture fit as text: printed lines, report.md's section and the CSV files
(mixture_fit.csv, mixture_cv.csv, mixture_suggestions.csv) for codemix.recipes.report.simplex's
MixtureFit objects."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from codemix.recipes.report.analysis import Analysis
from codemix.recipes.report.tables import csv_scalar, num_text


def mixture_value_text(fit: Any, value: float) -> str:
    """A mixture fit's score as printed: a rate (logit scale) in percent, a loss with 3 digits."""
    return f"{value * 100:.1f}" if fit.scale == "logit" else f"{value:#.3g}"


def _mixture_unit(fit: Any) -> str:
    return "%" if fit.scale == "logit" else ""


def best_measured(fit: Any) -> int:
    """Index of the best measured configuration (the lowest for a loss)."""
    return int(np.argmax(fit.measured) if fit.maximize else np.argmin(fit.measured))


def _measured_ci(analysis: Analysis | None, name: str, bench: str) -> tuple[float, float] | None:
    row = analysis.row(name, bench) if analysis is not None else None
    return row.ci if row is not None else None


def _shares_text(labels: list[str], shares: Any) -> str:
    return ", ".join(f"{label} {share:.2f}" for label, share in zip(labels, shares, strict=True))


def mixture_lines(fits: dict[str, Any], analysis: Analysis | None = None) -> list[str]:
    """Per benchmark (and the average): the fitted model, the predicted best mixture with each
    share's interval, the predicted score with its interval beside the best measured
    configuration's, and the fit's notes."""
    lines = []
    for bench, fit in fits.items():
        v = lambda x, f=fit: mixture_value_text(f, x)  # noqa: E731
        unit = _mixture_unit(fit)
        best_word = "max" if fit.maximize else "min (lower is better)"
        i = best_measured(fit)
        ci = _measured_ci(analysis, fit.names[i], bench)
        measured = f"{v(fit.measured[i])}{unit}" + (f" [{v(ci[0])}, {v(ci[1])}]" if ci else "")
        shares = ", ".join(f"{label} {share:.2f} [{fit.share_ci[label][0]:.2f}, {fit.share_ci[label][1]:.2f}]"
                           if label in fit.share_ci else f"{label} {share:.2f}"
                           for label, share in zip(fit.labels, fit.best, strict=True))
        lines.append(f"best mixture on {bench} ({fit.model} fit, {best_word}, {len(fit.measured)} configurations): "
                     f"{shares}; predicted {v(fit.best_score)}{unit} [{v(fit.best_score_ci[0])}, "
                     f"{v(fit.best_score_ci[1])}]; best measured {fit.names[i]} {measured} "
                     f"({_shares_text(fit.labels, fit.shares[i])}); {fit.level:.0%} intervals, "
                     f"{fit.resamples:,} resamples")
        _, cv_rows = mixture_cv_table(fit)
        lines.append("  leave-one-configuration-out (model: Spearman, RMSE; * used): "
                     + "; ".join(f"{m}: {rho}, {rmse}" for m, rho, rmse in cv_rows))
        lines += [f"note ({bench}): {n}" for n in fit.notes]
    return lines


def mixture_cv_table(fit: Any) -> tuple[list[str], list[list[str]]]:
    """The leave-one-configuration-out table of one fit: headers, rows; the chosen model starred."""
    headers = ["model", "LOO Spearman", "LOO RMSE"]
    rows = []
    for model, scores in fit.cv.items():
        rmse = scores.get("rmse")
        rmse_text = "-" if rmse is None else (f"{rmse * 100:.2f} pts" if fit.scale == "logit" else f"{rmse:.3g}")
        rows.append([model + (" *" if model == fit.model else ""), num_text(scores.get("spearman"), "+.2f"), rmse_text])
    return headers, rows


def mixture_markdown(fits: dict[str, Any], analysis: Analysis | None = None,
                     suggestions: Any = None) -> list[str]:
    """report.md's "Mixture fit" section: per benchmark the best mixture, a table of its shares with
    their intervals, the predicted and the best measured score, the cross-validation table."""
    if not fits:
        return []
    md = ["## Mixture fit", ""]
    for bench, fit in fits.items():
        v = lambda x, f=fit: mixture_value_text(f, x)  # noqa: E731
        unit = _mixture_unit(fit)
        i = best_measured(fit)
        ci = _measured_ci(analysis, fit.names[i], bench)
        md += [f"### {bench}", "",
               f"- model: {fit.model} on the {fit.scale} scale ({len(fit.measured)} configurations over "
               f"{' / '.join(fit.labels)}; {'higher' if fit.maximize else 'lower'} is better)",
               f"- predicted best: {v(fit.best_score)}{unit} [{v(fit.best_score_ci[0])}, {v(fit.best_score_ci[1])}]",
               f"- best measured: {fit.names[i]} {v(fit.measured[i])}{unit}"
               + (f" [{v(ci[0])}, {v(ci[1])}]" if ci else "") + f" ({_shares_text(fit.labels, fit.shares[i])})",
               f"- {fit.resamples:,} bootstrap resamples; intervals at {fit.level:.0%}", "",
               f"| domain | best share | {fit.level:.0%} interval |", "|---|---|---|"]
        for label, share in zip(fit.labels, fit.best, strict=True):
            low, high = fit.share_ci.get(label, (None, None))
            md.append(f"| {label} | {share:.2f} | " + ("-" if low is None else f"[{low:.2f}, {high:.2f}]") + " |")
        headers, rows = mixture_cv_table(fit)
        md += ["", "Leave-one-configuration-out cross-validation (* the model used):", "",
               "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        md += ["| " + " | ".join(r) + " |" for r in rows]
        md += [""] + [f"- note: {n}" for n in fit.notes] + ([""] if fit.notes else [])
    if suggestions is not None and len(suggestions):
        labels = next(iter(fits.values())).labels
        md += ["Next mixtures to run:", ""] + [f"- {_shares_text(labels, s)}" for s in suggestions] + [""]
    md += ["Method: each model (scheffe: quadratic Scheffé polynomial; logratio: linear in the additive log-ratios; "
           "gbt: gradient-boosted trees) is fitted on the score's scale (logit of a rate, log of a loss) and "
           "scored by leave-one-configuration-out prediction; the model used has the smallest such error "
           "weighted by each configuration's bootstrap variance. The best mixture is the fit's optimum over a "
           "dense grid of the simplex; its region is the convex hull of the optima refitted on the bootstrap "
           "replicates, widened by the neighbourhood of each replicate's best measured mixture, and a share's "
           "interval is its range over that region.", "",
           "mixture_fit.csv, mixture_cv.csv and mixture_curves.csv have these numbers unrounded.", ""]
    return md


def suggestion_lines(fits: dict[str, Any], suggestions: Any) -> list[str]:
    if suggestions is None or not len(suggestions) or not fits:
        return []
    labels = next(iter(fits.values())).labels
    return ["next mixtures to run: " + "; ".join(f"({_shares_text(labels, s)})" for s in suggestions)]


def _csv_rows(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else csv_scalar(float(v) if isinstance(v, np.floating) else v) for v in row])
    return buf.getvalue()


def mixture_fit_csv(fits: dict[str, Any]) -> str:
    """One row per benchmark x domain: the predicted best share with its interval, and (repeated on
    every row of the benchmark) the predicted score with its interval and the best measured one."""
    rows = []
    for bench, fit in fits.items():
        i = best_measured(fit)
        for d, label in enumerate(fit.labels):
            low, high = fit.share_ci.get(label, (None, None))
            rows.append([bench, fit.model, fit.scale, label, fit.best[d], low, high, fit.best_score,
                         fit.best_score_ci[0], fit.best_score_ci[1], fit.names[i], fit.measured[i], fit.shares[i, d],
                         fit.resamples, fit.level])
    return _csv_rows(["benchmark", "model", "scale", "label", "best_share", "share_low", "share_high",
                      "predicted_score", "score_ci_low", "score_ci_high", "best_measured_config",
                      "best_measured_score", "best_measured_share", "resamples", "level"], rows)


def mixture_cv_csv(fits: dict[str, Any]) -> str:
    rows = [[bench, model, model == fit.model, scores.get("spearman"), scores.get("rmse")]
            for bench, fit in fits.items() for model, scores in fit.cv.items()]
    return _csv_rows(["benchmark", "model", "chosen", "loo_spearman", "loo_rmse"], rows)


def mixture_suggestions_csv(fits: dict[str, Any], suggestions: Any) -> str:
    labels = next(iter(fits.values())).labels
    return _csv_rows(["rank", *labels], [[i + 1, *row] for i, row in enumerate(suggestions)])
