"""Speed of `codemix report`'s statistics: 60 cells x 3 benchmarks x 500 problems, 10,000
bootstrap resamples (target: <= 10 s on 2 cores), against a straightforward per-resample loop.

    python speed/report_speed.py                      # the target size
    python speed/report_speed.py --loop-resamples 2000   # quicker reference (scaled to 10,000)
    python speed/report_speed.py --mixture             # a mixture sweep (target below)

Data (untimed): a sweep of 20 general_fraction values x 3 training seeds = 60 cells; per cell
and benchmark, one greedy sample per problem (pass/fail) drawn around a curve with per-problem
difficulty shared by all cells. Timed: codemix.recipes.report.analysis.analyse() — per benchmark and
for the average over benchmarks: every configuration's 95% CI (two-level bootstrap: seeds, then
problems), the paired difference to the baseline with its CI and p-value, Holm, and the best
general_fraction (quadratic fit refitted on every resample). Also timed: the whole `codemix
report` (reading 180 results.json, the statistics, CSV/markdown, both plots) on the same sweep
written to disk.

Reference, same run: the same statistics written the plain way — for each benchmark, each
resample: draw the seeds and problems, take means, store; then per-resample np.polyfit for the
best value. It is linear in the number of resamples, so `--loop-resamples` below 10,000 is
scaled up (and said so). The two use different random streams: their intervals agree to
Monte Carlo error, which is printed.

--mixture: 64 Dirichlet mixtures of 3 domains (one seed each) x 3 benchmarks x 500 problems,
2,000 resamples (target: analyse() <= 15 s on 2 cores): the statistics above plus, per benchmark
and for the average, the mixture fit (codemix.recipes.report.simplex: leave-one-out of all three
models, the chosen one refitted on every replicate, the region, 3 suggestions). Reference, same
run: the chosen linear model refitted the plain way, one np.linalg.lstsq and one grid search per
replicate, on the same replicates (analysis.boots), so its optima must equal the vectorised ones.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from codemix.recipes.report.analysis import AVERAGE, analyse  # noqa: E402
from codemix.recipes.report.data import Cell, Outcome  # noqa: E402
from codemix.recipes.report.study import Study  # noqa: E402

BENCHES = ("humaneval", "mbpp", "pyfuncs")


def make_study(n_values: int, seeds: int, problems: int) -> Study:
    fractions = np.round(np.linspace(0, 0.25, n_values), 4)
    cells = []
    for f in fractions:
        for s in range(1, seeds + 1):
            outcomes = {}
            for b, bench in enumerate(BENCHES):
                difficulty = np.random.default_rng(b).normal(0, 1.5, problems)
                rng = np.random.default_rng([b, s, int(f * 1e4)])
                p = 1 / (1 + np.exp(-(0.3 - 8 * (f - 0.1) ** 2 + difficulty + rng.normal(0, 0.1))))
                scores = (rng.random(problems) < p).astype(float)
                tasks = tuple(f"{bench}/{i}" for i in range(problems))
                outcomes[bench] = Outcome(bench, "pass@1", float(scores.mean()), None, problems, "h", tasks, scores, True)
            cells.append(Cell(f"general_fraction={f},seed={s}", {"mix.general_fraction": float(f), "seed": s},
                              outcomes=outcomes))
    return Study("speed", cells, cells[0].name)


def loop_reference(study: Study, resamples: int, seed: int = 1) -> dict[str, dict]:
    """The straightforward implementation: one resample at a time."""
    rng = np.random.default_rng(seed)
    configs: dict[str, list[Cell]] = {}
    for c in study.cells:
        configs.setdefault(c.config, []).append(c)
    names = list(configs)
    xs = np.array([configs[n][0].values["mix.general_fraction"] for n in names])
    out: dict[str, dict] = {}
    data = {bench: {n: np.vstack([c.outcomes[bench].scores for c in cells]) for n, cells in configs.items()}
            for bench in BENCHES}
    per_bench = {bench: np.empty((resamples, len(names))) for bench in BENCHES}
    for b in range(resamples):
        # a seed is one trained model scored on every benchmark: one seed draw per config, shared
        seeds = {n: rng.integers(0, len(cells), len(cells)) for n, cells in configs.items()}
        for bench in BENCHES:
            p = data[bench][names[0]].shape[1]
            idx = rng.integers(0, p, p)
            for j, n in enumerate(names):
                per_bench[bench][b, j] = data[bench][n][seeds[n]][:, idx].mean()
    for bench, reps in [*per_bench.items(), (AVERAGE, np.mean(list(per_bench.values()), axis=0))]:
        deltas = reps[:, 1:] - reps[:, [0]]
        ci = np.percentile(deltas, [2.5, 97.5], axis=0)
        best = np.empty(resamples)
        grid = np.linspace(xs.min(), xs.max(), 401)
        for b in range(resamples):
            best[b] = grid[np.polyval(np.polyfit(xs, reps[b], 2), grid).argmax()]
        out[bench] = {"delta_ci": ci.T, "best_ci": np.percentile(best, [2.5, 97.5])}
    return out


MIXTURE_LABELS = ("code", "general", "symbolic")


def make_mixture_study(cells: int, problems: int) -> Study:
    shares = np.random.default_rng(0).dirichlet(np.ones(3), cells).round(3)
    shares[:, 2] = 1 - shares[:, :2].sum(axis=1)
    top = np.array([0.5, 0.3, 0.2])
    out = []
    for i, row in enumerate(shares):
        outcomes = {}
        for b, bench in enumerate(BENCHES):
            difficulty = np.random.default_rng(b).normal(0, 1.5, problems)
            rng = np.random.default_rng([b, i])
            bump = -0.5 + 1.5 * np.exp(-np.sum((row - top) ** 2) / (2 * 0.15 ** 2))
            scores = (rng.random(problems) < 1 / (1 + np.exp(-(bump + difficulty)))).astype(float)
            tasks = tuple(f"{bench}/{j}" for j in range(problems))
            outcomes[bench] = Outcome(bench, "pass@1", float(scores.mean()), None, problems, "h", tasks, scores, True)
        mix = {label: float(v) for label, v in zip(MIXTURE_LABELS, row, strict=True)}
        out.append(Cell(f"mix{i}", {"mix.domain_shares": mix, "seed": 1}, outcomes=outcomes))
    return Study("speed-mixture", out, out[0].name)


def mixture_loop_reference(analysis) -> tuple[float, float, float]:
    """(loop seconds, vectorised seconds, largest distance between their replicate optima): the
    Scheffé model refitted on every replicate of every target, once with one np.linalg.lstsq and
    one grid search per replicate, once as simplex.py does it (one matrix product)."""
    from codemix.recipes.report.simplex import GRID_POINTS, _top
    from codemix.recipes.report.simplex_models import features, predict_many, simplex_grid, to_scale

    gap, loop, fast = 0.0, 0.0, 0.0
    for bench, fit in analysis.mixture.items():
        reps = np.vstack([analysis.boots[bench][n] if bench != AVERAGE
                          else np.mean([analysis.boots[b][n] for b in BENCHES], axis=0) for n in fit.names])
        z = to_scale(reps, fit.scale)
        grid = np.unique(np.vstack([simplex_grid(3, GRID_POINTS), fit.shares]), axis=0)
        t = time.perf_counter()
        design, at = features("scheffe", fit.shares), features("scheffe", grid)
        optima = np.empty((z.shape[1], 3))
        for b in range(z.shape[1]):
            optima[b] = grid[(at @ np.linalg.lstsq(design, z[:, b], rcond=None)[0]).argmax()]
        loop += time.perf_counter() - t
        t = time.perf_counter()
        vectorised = _top(predict_many("scheffe", fit.shares, z.T, grid), grid)
        fast += time.perf_counter() - t
        gap = max(gap, float(np.abs(vectorised - optima).max()))
    return loop, fast, gap


def mixture_main(args: argparse.Namespace) -> None:
    study = make_mixture_study(args.cells, args.problems)
    resamples = args.resamples if args.resamples != 10_000 else 2_000
    print(f"{args.cells} mixtures of 3 domains (Dirichlet, 1 seed) x {len(BENCHES)} benchmarks x {args.problems} "
          f"problems, {resamples:,} resamples, --fit {args.fit}")
    t = time.perf_counter()
    analysis = analyse(study, resamples=resamples, suggest_k=3, fit=args.fit)
    fast = time.perf_counter() - t
    print(f"codemix statistics + mixture fits: {fast:.2f} s  (target <= 15 s; {fast / 15:.2f} of it)")
    for bench, fit in analysis.mixture.items():
        cv = ", ".join(f"{m} rho {v['spearman']:.2f} rmse {v['rmse'] * 100:.2f}" for m, v in fit.cv.items()
                       if v["spearman"] is not None)
        shares = ", ".join(f"{k} {v:.2f} [{lo:.2f}, {hi:.2f}]" for (k, (lo, hi)), v in zip(fit.share_ci.items(), fit.best, strict=True))
        print(f"  {bench}: {fit.model} ({fit.resamples} resamples): {shares}; LOO {cv}")
    loop, fast, gap = mixture_loop_reference(analysis)
    print(f"Scheffé refitted on every replicate of the {len(analysis.mixture)} targets: per-replicate lstsq loop "
          f"{loop:.2f} s, vectorised {fast:.2f} s ({loop / fast:.1f}x); optima agree within {gap:.2g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--values", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--loop-resamples", type=int, default=None, help="resamples for the loop reference (default: --resamples)")
    ap.add_argument("--skip-files", action="store_true", help="skip the end-to-end `codemix report` timing")
    ap.add_argument("--mixture", action="store_true", help="time a mixture sweep instead (--cells mixtures; "
                    "resamples default 2,000)")
    ap.add_argument("--cells", type=int, default=64, help="--mixture: how many mixtures")
    ap.add_argument("--fit", default="auto", help="--mixture: the model (auto, scheffe, logratio, gbt)")
    args = ap.parse_args()
    if args.mixture:
        mixture_main(args)
        return
    study = make_study(args.values, args.seeds, args.problems)
    n_cells = len(study.cells)
    print(f"{n_cells} cells ({args.values} values x {args.seeds} seeds) x {len(BENCHES)} benchmarks x "
          f"{args.problems} problems, {args.resamples:,} resamples")

    t = time.perf_counter()
    analysis = analyse(study, resamples=args.resamples, suggest_k=3)
    fast = time.perf_counter() - t
    print(f"codemix statistics (vectorised): {fast:.2f} s  (target <= 10 s)")

    loop_b = args.loop_resamples or args.resamples
    t = time.perf_counter()
    ref = loop_reference(study, loop_b)
    loop = (time.perf_counter() - t) * args.resamples / loop_b
    scaled = f" (measured at {loop_b:,} resamples, scaled x{args.resamples / loop_b:.1f})" if loop_b != args.resamples else ""
    print(f"per-resample loop reference:     {loop:.2f} s{scaled}")
    print(f"speed-up: {loop / fast:.1f}x")

    diffs = []
    for bench, r in ref.items():
        rows = [x for x in analysis.rows if x.benchmark == bench and x.delta_ci is not None]
        diffs.append(np.abs(np.array([x.delta_ci for x in rows]) - r["delta_ci"]).max())
        width = np.mean([x.delta_ci[1] - x.delta_ci[0] for x in rows])
        print(f"  {bench}: mean delta CI width {width * 100:.2f} vs loop "
              f"{np.mean(r['delta_ci'][:, 1] - r['delta_ci'][:, 0]) * 100:.2f} points")
    best_gap = max(abs(np.array(analysis.best[b].ci) - ref[b]["best_ci"]).max() for b in ref)
    print(f"agreement (different random streams): delta CI endpoints within {max(diffs) * 100:.2f} points, "
          f"best-value CI endpoints within {best_gap:.3f}")
    print("best general_fraction (average): "
          f"{analysis.best[AVERAGE].best:.3g} [{analysis.best[AVERAGE].ci[0]:.3g}, {analysis.best[AVERAGE].ci[1]:.3g}]")

    if not args.skip_files:
        import contextlib
        import io

        from report_helpers import write_sweep

        from codemix.recipes.cli import main as codemix

        with tempfile.TemporaryDirectory() as tmp:
            fractions = tuple(float(f) for f in np.round(np.linspace(0, 0.25, args.values), 4))
            benches = {b: args.problems for b in BENCHES}
            sweep = write_sweep(Path(tmp) / "sweep", fractions=fractions, seeds=tuple(range(1, args.seeds + 1)),
                                benchmarks=benches)
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                rc = codemix(["report", str(sweep), "--resamples", str(args.resamples)])
            print(f"whole `codemix report` (read 180 results.json, statistics, CSV, markdown, 2 plots): "
                  f"{time.perf_counter() - t:.2f} s (rc {rc})")


if __name__ == "__main__":
    main()
