"""`codemix compare RESULTS_A RESULTS_B`: is B better than A on the same benchmark?

Paired over problems: the difference in pass@1 (or accuracy) with a paired bootstrap CI; with
one sample per problem (greedy) the exact McNemar test on the problems only one side solves,
otherwise the bootstrap p-value. `--json` prints one object (fractions, not percentages).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", type=Path, metavar="RESULTS_A", help="results.json (or its directory): the reference side")
    p.add_argument("b", type=Path, metavar="RESULTS_B", help="results.json (or its directory): compared with A")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--k", type=int, default=1, help="pass@k to compare (default 1; ignored for accuracy)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (same seed, same interval)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the verdict (default 0.05)")


def run(args: argparse.Namespace) -> int:
    from codemix.api.studies import compare

    result = compare(args.a, args.b, k=args.k, resamples=args.resamples, seed=args.seed, alpha=args.alpha)
    print(json.dumps(result.data) if args.json else result.text())
    return 0
