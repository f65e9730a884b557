"""Tables for one run and for many, from the same columns: terminal text, markdown and CSV.

Printed tables show percentages (pass@k and accuracy x 100); CSV files keep the fractions of
results.json unrounded, so a CSV number is exactly the number in the results.json behind it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from codemix.mixing.report import contamination_rows, format_table
from codemix.recipes.report.analysis import Analysis, axis_label
from codemix.recipes.report.data import LOSS_METRIC, Cell, Outcome, headline


@dataclass
class Column:
    text: str  # header in printed tables
    csv: str  # header in CSV
    text_value: Callable[[Any], str]
    csv_value: Callable[[Any], Any]


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def pct_ci(value: float | None, ci) -> str:
    if value is None:
        return "-"
    return pct(value) + (f" [{ci[0] * 100:.1f}, {ci[1] * 100:.1f}]" if ci else "")


def metric_ci(value: float | None, ci, metric: str) -> str:
    """A rate in percent (pct_ci), or a loss as it is (4 decimals: validation losses of mixtures
    differ in the second or third)."""
    if metric != LOSS_METRIC or value is None:
        return pct_ci(value, ci)
    return f"{value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def metric_delta(value: float | None, ci, metric: str) -> str:
    if metric != LOSS_METRIC or value is None:
        return signed_points(value, ci)
    return f"{value:+.4f}" + (f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "")


def signed_points(value: float | None, ci=None) -> str:
    if value is None:
        return "-"
    text = f"{value * 100:+.1f}"
    return text + (f" [{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]" if ci else "")


def p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def num_text(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def n_text(sizes: list[int], subset: dict[str, Any] | None = None, *, noun: str = "",
           in_parentheses: bool = False) -> str:
    """`n=40 problems`, or `n=40 of 164 problems (--limit)` for a run scored on a subset of the
    benchmark (`n=40 of 164, --limit` where the text itself stands in parentheses)."""
    text = f"n={'/'.join(map(str, sizes))}"
    subset = subset if subset and subset.get("of") else None
    if subset:
        text += f" of {subset['of']}"
    if noun:
        text += f" {noun}"
    if subset and subset.get("by"):
        text += f", {subset['by']}" if in_parentheses else f" ({subset['by']})"
    return text


def _metric_header(outcomes: list[Outcome], bench: str, subset: dict[str, Any] | None = None) -> str:
    metrics = sorted({o.metric for o in outcomes})
    sizes = sorted({o.n_problems for o in outcomes})
    if metrics == [LOSS_METRIC]:  # a validation loss (--target loss:DOMAIN): rows, not problems; no percent
        return f"{bench} ({n_text(sizes, noun='rows')}, lower is better)"
    return f"{bench} {'/'.join(metrics)} % ({n_text(sizes, subset, in_parentheses=True)})"


def cell_columns(cells: list[Cell], benchmarks: list[str], *, label: str = "cell",
                 subsets: dict[str, dict[str, Any]] | None = None) -> list[Column]:
    """Columns of the per-cell table: what varied, the mixture, training, every benchmark, average.
    `subsets`: per benchmark, results.json's `subset` where only part of it was scored."""
    cols = [Column(label, label, lambda c: c.name, lambda c: c.name)]
    if any(c.status != "done" for c in cells):
        cols.append(Column("status", "status", lambda c: c.status, lambda c: c.status))
    keys = list(dict.fromkeys(k for c in cells for k in c.values))
    for key in keys:
        shares = [c.values[key] for c in cells if isinstance(c.values.get(key), dict)]
        if shares:  # a mixture ({domain: share}): the shares side by side under one header
            labels = list(dict.fromkeys(d for sh in shares for d in sh))
            cols.append(Column(f"shares {'/'.join(labels)}", key,
                               lambda c, k=key, ls=labels: "/".join(f"{(c.values.get(k) or {}).get(d, 0):g}" for d in ls),
                               lambda c, k=key: c.values.get(k)))
            continue
        cols.append(Column(axis_label(key), key, lambda c, k=key: num_text(c.values.get(k), ""),
                           lambda c, k=key: c.values.get(k)))
    domains = list(dict.fromkeys(d for c in cells if c.mix for d in c.mix["domains"]))
    sources = list(dict.fromkeys(s for c in cells if c.mix for s in c.mix["sources"]))
    if domains:
        cols.append(Column("rows " + "/".join(domains), "rows",
                           lambda c: "/".join(str(c.mix["domains"].get(d, 0)) for d in domains) if c.mix else "-",
                           lambda c: c.mix["rows"] if c.mix else None))
        for d in domains:
            cols.append(Column("", f"rows {d}", None, lambda c, d=d: c.mix["domains"].get(d, 0) if c.mix else None))
        for s in sources:
            cols.append(Column("", f"rows source {s}", None,
                               lambda c, s=s: c.mix["sources"].get(s) if c.mix else None))
        cols.append(Column("", "realised general_fraction", None,
                           lambda c: c.mix["realised_general_fraction"] if c.mix else None))
    if any(c.train for c in cells):
        get = lambda c, k: (c.train or {}).get(k)  # noqa: E731
        cols += [Column("loss", "train loss", lambda c: num_text(get(c, "final_loss"), ".4f"), lambda c: get(c, "final_loss")),
                 Column("tokens", "train tokens", lambda c: num_text(get(c, "tokens"), ","), lambda c: get(c, "tokens")),
                 # A resumed training's own wall_s covers its last session only: the total where known.
                 Column("wall s", "train wall s", lambda c: num_text(_train_wall(c.train), ".0f"),
                        lambda c: _train_wall(c.train))]
    cols += diversity_columns(cells)
    for bench in benchmarks:
        outs = [c.outcomes[bench] for c in cells if bench in c.outcomes]
        metric = outs[0].metric if outs else "pass@1"

        def out(c, b=bench):
            return c.outcomes.get(b)

        cols.append(Column(_metric_header(outs, bench, (subsets or {}).get(bench)), f"{bench} {metric}",
                           lambda c, o=out, m=metric: metric_ci(o(c).value, o(c).ci, m) if o(c) else "-",
                           lambda c, o=out: o(c).value if o(c) else None))
        cols.append(Column("", f"{bench} ci_low", None, lambda c, o=out: o(c).ci[0] if o(c) and o(c).ci else None))
        cols.append(Column("", f"{bench} ci_high", None, lambda c, o=out: o(c).ci[1] if o(c) and o(c).ci else None))
        cols.append(Column("", f"{bench} n_problems", None, lambda c, o=out: o(c).n_problems if o(c) else None))
    heads = headline(benchmarks)
    if len(heads) > 1:
        cols.append(Column("average %", "average", lambda c: pct(average(c, heads)),
                           lambda c: average(c, heads)))
    return cols


def _train_wall(train: dict[str, Any] | None) -> float | None:
    train = train or {}
    return train.get("wall_s_total") if train.get("wall_s_total") is not None else train.get("wall_s")


def diversity_columns(cells: list[Cell]) -> list[Column]:
    """The mixture's diversity (codemix.mixing.diversity.measure.summary_columns): a few in printed tables, every
    number in the CSV (as `diversity <key>`), and the embedding it was measured with."""
    from codemix.recipes.report.diversity import TEXT_COLUMNS

    keys = list(dict.fromkeys(k for c in cells for k in c.diversity))
    if not keys:
        return []
    shown = {k: (head, fmt) for k, head, fmt in TEXT_COLUMNS if k in keys}
    cols = []
    for key in keys:
        head, fmt = shown.get(key, ("", None))
        cols.append(Column(head, f"diversity {key}",
                           (lambda c, k=key, f=fmt: num_text(c.diversity.get(k), f)) if fmt else None,
                           lambda c, k=key: c.diversity.get(k)))
    cols.append(Column("", "diversity embedding", None, lambda c: c.diversity_embedding))
    return cols


def average(cell: Cell, benchmarks: list[str]) -> float | None:
    """The paper's average: the plain mean of the benchmarks' numbers (only with all of them)."""
    if not all(b in cell.outcomes for b in benchmarks):
        return None
    return sum(cell.outcomes[b].value for b in benchmarks) / len(benchmarks)


def base_cell(base: dict[str, Outcome]) -> Cell:
    return Cell("base", outcomes=base)


def text_table(cols: list[Column], items: list[Any]) -> str:
    shown = [c for c in cols if c.text_value is not None]
    return format_table([c.text for c in shown], [[c.text_value(i) for c in shown] for i in items])


def markdown_table(cols: list[Column], items: list[Any]) -> str:
    shown = [c for c in cols if c.text_value is not None]
    lines = ["| " + " | ".join(c.text for c in shown) + " |", "|" + "---|" * len(shown)]
    lines += ["| " + " | ".join(c.text_value(i).replace("|", "\\|") for c in shown) + " |" for i in items]
    return "\n".join(lines)


def csv_text(cols: list[Column], items: list[Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.csv for c in cols])
    for i in items:
        w.writerow(["" if (v := c.csv_value(i)) is None else csv_scalar(v) for c in cols])
    return buf.getvalue()


def csv_scalar(v: Any) -> Any:
    if isinstance(v, float):
        return repr(v)  # shortest round-trip text: float(csv) == the results.json float
    if isinstance(v, list | dict):
        return json.dumps(v)
    return v


def comparison_columns(analysis: Analysis) -> list[Column]:
    """One row per configuration x benchmark (and the average): value and the paired comparison."""
    keys = list(dict.fromkeys(k for c in analysis.configs for k in c.values))
    values = {c.name: c.values for c in analysis.configs}
    loss = bool(analysis.rows) and all(r.metric == LOSS_METRIC for r in analysis.rows)
    value_head, delta_head = ("value [95% CI]", "delta [95% CI]") if loss else ("value % [95% CI]", "delta pts [95% CI]")
    cols = [Column("config", "config", lambda r: r.config, lambda r: r.config)]
    for key in keys:
        cols.append(Column("", key, None, lambda r, k=key: values[r.config].get(k)))
    cols += [
        Column("seeds", "seeds", lambda r: str(r.seeds), lambda r: r.seeds),
        Column("benchmark", "benchmark", lambda r: r.benchmark, lambda r: r.benchmark),
        Column("n", "n_problems", lambda r: str(r.n_problems), lambda r: r.n_problems),
        Column("metric", "metric", lambda r: r.metric, lambda r: r.metric),
        Column(value_head, "value", lambda r: metric_ci(r.value, r.ci, r.metric), lambda r: r.value),
        Column("", "ci_low", None, lambda r: r.ci[0] if r.ci else None),
        Column("", "ci_high", None, lambda r: r.ci[1] if r.ci else None),
        Column(delta_head, "delta", lambda r: metric_delta(r.delta, r.delta_ci, r.metric), lambda r: r.delta),
        Column("", "delta_ci_low", None, lambda r: r.delta_ci[0] if r.delta_ci else None),
        Column("", "delta_ci_high", None, lambda r: r.delta_ci[1] if r.delta_ci else None),
        Column("+/-", "only_this/only_baseline",
               lambda r: f"+{r.b_only}/-{r.a_only}" if r.b_only is not None else "-",
               lambda r: f"{r.b_only}/{r.a_only}" if r.b_only is not None else None),
        Column("test", "test", lambda r: r.test or "-", lambda r: r.test),
        Column("p", "p_value", lambda r: p_text(r.p_value), lambda r: r.p_value),
        Column("p Holm", "p_holm", lambda r: p_text(r.p_holm), lambda r: r.p_holm),
        Column("verdict", "verdict", lambda r: r.verdict or ("baseline" if r.config == analysis.baseline else "-"),
               lambda r: r.verdict or ("baseline" if r.config == analysis.baseline else None)),
    ]
    return cols


def best_lines(analysis: Analysis) -> list[str]:
    """"best general_fraction 0.09 [0.05, 0.15]" per benchmark and for the average."""
    if not analysis.best:
        return []
    name = axis_label(analysis.axis)
    lines = []
    for bench, loc in analysis.best.items():
        edge = f"; max at the range's edge in {loc.edge_share:.0%} of resamples" if loc.edge_share >= 0.005 else ""
        measured = f"; best measured {loc.measured_best:.2g}" if loc.measured_best is not None else ""
        lines.append(f"best {name} on {bench}: {loc.best:.2g} [{loc.ci[0]:.2g}, {loc.ci[1]:.2g}] ({loc.fit} fit{measured}){edge}")
    return lines


def best_csv(analysis: Analysis) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", "axis", "fit", "best", "ci_low", "ci_high", "edge_share", "resamples",
                "coefficients (of the logit of the score, ascending powers of the axis, of log10 of it on a log axis; "
                "polynomial fits only)", "cv_rmse (leave-one-configuration-out RMSE of the score per candidate fit)"])
    for bench, loc in analysis.best.items():
        w.writerow([bench, analysis.axis, loc.fit, repr(loc.best), repr(loc.ci[0]), repr(loc.ci[1]),
                    repr(loc.edge_share), loc.resamples, json.dumps(loc.coefficients), json.dumps(loc.cv_rmse)])
    return buf.getvalue()


def curve_csv(analysis: Analysis) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", analysis.axis or "x", "fitted"])
    for bench, loc in analysis.best.items():
        for x, y in zip(loc.curve_x, loc.curve_y, strict=True):
            w.writerow([bench, repr(float(x)), repr(float(y))])
    return buf.getvalue()


def problems_csv(analysis: Analysis) -> str:
    """The cells x problems map: per problem, a configuration's score minus the baseline's
    (only problems where it differs)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", "task_id", "config", "baseline", "difference"])
    for bench, (tasks, names, diff) in analysis.differences.items():
        for i, name in enumerate(names):
            for j, task in enumerate(tasks):
                if diff[i, j] != 0:
                    w.writerow([bench, task, name, analysis.baseline, repr(float(diff[i, j]))])
    return buf.getvalue()


# ---- the mixture fit over k >= 2 domains (codemix.recipes.report.simplex) -------------------------

def contamination_lines(cells: list[Cell]) -> list[str]:
    """report.md's contamination section: rows decontamination removed per source and benchmark
    (a range where the cells' mixtures differ, e.g. a source left out at a share of 0) and the
    matched pairs of the first mixture that has them; [] when nothing was removed."""
    blocks = [c.mix["contamination"] for c in cells if c.mix and c.mix.get("contamination")]
    if not blocks or not any(v for b in blocks for v in b.get("totals", {}).values()):
        return []
    tables = [contamination_rows(b) for b in blocks]
    headers = tables[0][0]
    merged: dict[str, list[set[str]]] = {}
    for _, rows in tables:
        for row in rows:
            for i, v in enumerate(row[1:]):
                merged.setdefault(row[0], [set() for _ in headers[1:]])[i].add(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for source, values in merged.items():
        lines.append("| " + " | ".join([source, *[" or ".join(sorted(v)) for v in values]]) + " |")
    lines += ["", f"Counts of the source's rows (before sampling) that {len(blocks)} mixture(s) removed; matched pairs:", ""]
    plain = lambda t: (t or "").replace("`", "'")  # noqa: E731
    for source, per in blocks[0]["by_source"].items():
        for bench, c in per.items():
            for pair in c.get("pairs", []):
                shared = f"; shared n-gram `{plain(pair['shared'])}`" if pair.get("shared") else ""
                lines.append(f"- {source} x {bench} ({pair['reason']}, {pair['task']}, row {pair['id']}): "
                             f"row `{plain(pair['row'])}` / benchmark `{plain(pair['benchmark'])}`{shared}")
    return lines
