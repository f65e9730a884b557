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


def compare(a_path: Path, b_path: Path, *, k: int = 1, resamples: int = 10_000, seed: int = 0,
            alpha: float = 0.05) -> dict:
    from codemix.core.errors import CodemixError
    from codemix.recipes.report.data import load_results
    from codemix.recipes.report.stats import compare_runs

    a, b = load_results(a_path, k), load_results(b_path, k)
    if a.benchmark != b.benchmark:
        raise CodemixError(f"{a.path} is {a.benchmark}, {b.path} is {b.benchmark}: compare results of one benchmark")
    if a.problems_hash and b.problems_hash and a.problems_hash != b.problems_hash:
        raise CodemixError(f"{a.path} and {b.path} were scored on different problems (problems_hash "
                           f"{a.problems_hash[:12]}... vs {b.problems_hash[:12]}...): a paired comparison needs the same problems")
    if a.metric != b.metric:
        raise CodemixError(f"{a.path} reports {a.metric}, {b.path} {b.metric}: compare like with like")
    for o in (a, b):
        if o.scores is None:
            raise CodemixError(f"{o.path}: no per_task counts; a paired comparison needs per-problem results")
    sa, sb = a.scores, b.aligned(a.task_ids)
    c = compare_runs(sa, sb, single_sample=a.single_sample and b.single_sample, resamples=resamples, seed=seed)
    out = {"benchmark": a.benchmark, "metric": a.metric, "n_problems": c.n_problems, "a": c.a, "b": c.b,
           "delta": c.delta, "ci": list(c.ci), "level": c.level, "test": c.test, "p_value": c.p_value,
           "verdict": c.verdict(alpha), "alpha": alpha, "resamples": resamples, "seed": seed,
           "a_path": a.path, "b_path": b.path, "problems_hash": a.problems_hash}
    if c.test == "mcnemar":
        out["b_only"], out["a_only"] = c.b_only, c.a_only
    return out


def text(r: dict) -> str:
    from codemix.recipes.report.tables import p_text, pct, signed_points

    lines = [f"{r['benchmark']}: {r['metric']} on {r['n_problems']} problems",
             f"  A  {pct(r['a']):>5} %  {r['a_path']}",
             f"  B  {pct(r['b']):>5} %  {r['b_path']}",
             f"  B - A: {signed_points(r['delta'], r['ci'])} points ({r['level']:.0%} CI, paired bootstrap over "
             f"problems, {r['resamples']:,} resamples)"]
    if r["test"] == "mcnemar":
        lines.append(f"  exact McNemar: {r['b_only']} problems only B solves, {r['a_only']} only A: p = {p_text(r['p_value'])}")
    else:
        lines.append(f"  bootstrap test: p = {p_text(r['p_value'])}")
    lines.append(f"  verdict: B is {r['verdict']}" if r["verdict"] != "no detectable difference"
                 else f"  verdict: no detectable difference (alpha {r['alpha']})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from codemix.core.errors import CodemixError

    if args.resamples < 100:
        raise CodemixError(f"--resamples must be at least 100, got {args.resamples}")
    result = compare(args.a, args.b, k=args.k, resamples=args.resamples, seed=args.seed, alpha=args.alpha)
    print(json.dumps(result) if args.json else text(result))
    return 0
