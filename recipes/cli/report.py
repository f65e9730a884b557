"""`codemix report DIR...`: one table, paired statistics and plots over sweep or run directories.

    codemix report runs/sweep [--baseline CELL] [--reference CSV] [--out DIR]
    codemix report runs/a runs/b runs/c        # plain run dirs: what varied is read from their recipes
    codemix report runs/sweep --diversity [--diversity-axis effective_tasks]   # + score vs mixture diversity
    codemix report runs/markov-longtail --where rules=1000 --where frequency=power_law   # one slice

Prints the tables and writes report.md, report.csv (+ comparisons.csv, best.csv, curve.csv,
problems.csv; diversity.csv, diversity_points.csv where the cells' mixtures carry diversity
numbers) and PNG plots into --out (default: the first directory's report/).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="sweep directories (sweep.json) or run directories")
    p.add_argument("--baseline", default=None, help="the cell every other is compared with (default: the sweep's baseline, else the first cell)")
    p.add_argument("--reference", default=None,
                   help="CSV of published numbers to overlay (axis column, then benchmark columns in percent); "
                        "'paper-code-mix' names the bundled one")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: DIR/report for the first DIR)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="report only the cells with this swept value (repeatable), e.g. --where rules=1000; "
                        "the default --out becomes DIR/report-KEY=VALUE")
    p.add_argument("--axis", default=None, help="the numeric swept key to find the best value along (default: the only one), or token_share / row_share: the general domain's realised share of the mixture's tokens / rows")
    p.add_argument("--fit", default="auto", help="model for the best value, on the logit scale (log for a loss): auto (default: the candidate with the smallest leave-one-configuration-out error); along one axis linear, quadratic, cubic or interpolate; for a mixture sweep (mix.domain_shares) scheffe, logratio or gbt; or none (plot the points only)")
    p.add_argument("--k", type=int, default=1, help="pass@k to compare (default 1)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (same seed, same intervals)")
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate for the verdicts (default 0.05)")
    p.add_argument("--diversity", action="store_true",
                   help="measure the mixtures that have no diversity block yet (diversity.json beside each)")
    p.add_argument("--diversity-axis", default="vendi",
                   help="x axis of diversity.png: vendi (default), effective_tasks (rows with task labels), tasks, "
                        "mean_cosine_distance, effective_clusters, distinct_2, entropy_2_bits")
    p.add_argument("--embedding", default=None,
                   help="with --diversity: tfidf, model2vec:NAME or sentence-transformers:NAME (default: the "
                        "recipe's model where it names one, else tfidf, offline)")
    p.add_argument("--suggest", type=int, default=0, metavar="K", help="also propose the K next axis values (or, for a mixture sweep, mixtures) to run")
    p.add_argument("--target", default=None, metavar="WHAT",
                   help="what to analyse and fit: the benchmarks (default), one benchmark, average, or loss:DOMAIN (the per-domain validation loss recorded when the recipe sets mix.validation; lower is better); a proxy -> target study defaults to its sweep.proxy.target")


def run(args: argparse.Namespace) -> int:
    from codemix.api.studies import report

    result = report(args.dirs, baseline=args.baseline, reference=args.reference, out=args.out, where=args.where,
                    axis=args.axis, fit=args.fit, k=args.k, resamples=args.resamples, seed=args.seed,
                    alpha=args.alpha, diversity=args.diversity, diversity_axis=args.diversity_axis,
                    embedding=args.embedding, suggest=args.suggest, target=args.target)
    print(result.text)
    return 0
