"""Does the proxy's choice hold at the target scale? (the report of a `sweep.proxy` study)

For the mixtures the proxy phase sent on (codemix.recipes.sweep.proxy), set the proxy fit's
predictions against the scores measured at the target scale:

- rank correlation (Spearman) of predicted and measured, with a percentile interval over the
  target's bootstrap replicates (problems or validation rows, and seeds, resampled; the
  predictions held fixed, so it is the interval of the target measurement's noise only);
- regret of the proxy's pick (its predicted optimum): the best measured target score among the
  mixtures run minus the pick's (lower minus for a loss), with its interval; 0 when the pick is
  the best one measured. It is measured against the mixtures run, not the unknown best of all;
- compute: CPU seconds of every proxy and target cell (status.json `cpu_s`), against a full grid
  of the design at the target scale, estimated as the design's cells times the mean target cell.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codemix.core.errors import CodemixError
from codemix.recipes.report.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, percentile_ci
from codemix.recipes.sweep.config import MIXTURE_KEY
from codemix.recipes.sweep.proxy import CHOICE_FILE, PROXY_DIR, TARGET_DIR, read_choice


@dataclass
class ProxyTarget:
    target: str
    maximize: bool
    rows: list[dict[str, Any]]
    spearman: float | None
    spearman_ci: tuple[float, float] | None
    regret: float | None
    regret_ci: tuple[float, float] | None
    pick: str | None
    best_measured: str | None
    compute: dict[str, Any]
    proxy_model: str | None
    level: float = DEFAULT_LEVEL
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_proxy_study(directory: Path) -> bool:
    return (Path(directory) / CHOICE_FILE).is_file()


def _cell_costs(sweep_dir: Path) -> tuple[list[float], list[float]]:
    """(cpu_s, wall_s) of every finished cell of a sweep directory."""
    cpu, wall = [], []
    for status in sorted((sweep_dir / "cells").glob("*/status.json")):
        try:
            st = json.loads(status.read_text())
        except (OSError, ValueError):
            continue
        if st.get("status") == "done":
            if st.get("cpu_s") is not None:
                cpu.append(float(st["cpu_s"]))
            wall.append(float(st.get("wall_s_total") or st.get("wall_s") or 0.0))
    return cpu, wall


def spearman_rows(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Spearman's rho of `predicted` (n,) with each row of `measured` (B, n), average ranks for
    ties (as scipy.stats.spearmanr)."""
    from scipy.stats import rankdata

    rp = rankdata(predicted)
    rm = rankdata(measured, axis=1)
    rp = rp - rp.mean()
    rm = rm - rm.mean(axis=1, keepdims=True)
    denom = np.sqrt((rp ** 2).sum() * (rm ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rm @ rp) / denom, np.nan)


def proxy_target(out_dir: Path, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                 level: float = DEFAULT_LEVEL, k: int = 1, analysis: Any = None) -> ProxyTarget:
    """The check of a proxy study in `out_dir`. `analysis`: the target phase already analysed on
    the proxy's target (what `codemix report` computed for report/target/), so its bootstrap is
    not drawn twice; else the target phase is read and analysed here."""
    from codemix.recipes.report.analysis import AVERAGE, analyse
    from codemix.recipes.report.data import headline
    from codemix.recipes.report.study import load_sweep
    from codemix.recipes.report.target import for_target, is_loss

    out_dir = Path(out_dir)
    choice = read_choice(out_dir)
    if choice is None:
        raise CodemixError(f"{out_dir / CHOICE_FILE}: missing or unreadable (run `codemix sweep` with a proxy first)")
    target = choice["target"]
    maximize = not is_loss(target)
    notes: list[str] = []
    target_dir = out_dir / choice.get("target_dir", TARGET_DIR)
    if not (target_dir / "sweep.json").is_file():
        raise CodemixError(f"{target_dir}: the target phase has not started (the proxy phase or its fit is not done)")
    if analysis is None:
        study = for_target(load_sweep(target_dir, k=k), target)
        if not study.done:
            raise CodemixError(f"{target_dir}: no target cell has results yet")
        analysis = analyse(study, resamples=resamples, seed=seed, level=level, fit="none")
    level = analysis.level
    bench = target if target in analysis.boots else None
    if target == "average" or bench is None:
        heads = headline(analysis.benchmarks)
        bench = AVERAGE if len(heads) > 1 else (heads[0] if heads else None)
    if bench is None:
        raise CodemixError(f"{target_dir}: nothing to compare for target {target!r}")
    by_shares = {}
    for cfg in analysis.configs:
        shares = cfg.values.get(MIXTURE_KEY)
        if isinstance(shares, dict):
            by_shares[json.dumps(shares, sort_keys=True)] = cfg
    rows, reps = [], []
    for entry in choice["chosen"]:
        cfg = by_shares.get(json.dumps(entry["shares"], sort_keys=True))
        row = analysis.row(cfg.name, bench) if cfg is not None else None
        if cfg is None or row is None:
            notes.append(f"mixture {entry['shares']} has no target result yet")
            continue
        if bench == AVERAGE:
            rep = np.mean([analysis.boots[b][cfg.name] for b in headline(analysis.benchmarks)], axis=0)
        else:
            rep = analysis.boots[bench][cfg.name]
        reps.append(rep)
        rows.append({**entry, "config": cfg.name, "seeds": cfg.seeds, "measured": row.value,
                     "measured_ci": list(row.ci) if row.ci else None})
    spearman = spearman_ci = regret = regret_ci = None
    pick = best = None
    if rows:
        predicted = np.array([r["predicted"] for r in rows])
        measured = np.array([r["measured"] for r in rows])
        replicates = np.vstack(reps).T  # (B, n)
        sign = 1.0 if maximize else -1.0
        if len(rows) >= 3 and np.ptp(predicted) > 0:
            spearman = float(spearman_rows(predicted, measured[None, :])[0])
            rho = spearman_rows(predicted, replicates)
            rho = rho[np.isfinite(rho)]
            spearman_ci = percentile_ci(rho, level) if rho.size else None
        else:
            notes.append("rank correlation: needs at least 3 target mixtures with different predictions")
        pick_i = next((i for i, r in enumerate(rows) if r.get("optimum")), 0)
        best_i = int(np.argmax(sign * measured))
        pick, best = rows[pick_i]["config"], rows[best_i]["config"]
        regret = float(sign * (measured[best_i] - measured[pick_i])) + 0.0  # + 0.0: no "-0"
        regret_ci = percentile_ci(sign * (replicates.max(axis=1) if maximize else replicates.min(axis=1))
                                  - sign * replicates[:, pick_i], level)
    proxy_cpu, proxy_wall = _cell_costs(out_dir / choice.get("proxy", PROXY_DIR))
    target_cpu, target_wall = _cell_costs(target_dir)
    n_design = len(json.loads((out_dir / choice.get("proxy", PROXY_DIR) / "sweep.json").read_text())["cells"])
    compute: dict[str, Any] = {"proxy_cells": len(proxy_wall), "target_cells": len(target_wall),
                               "full_grid_cells": n_design, "proxy_wall_s": round(sum(proxy_wall), 1),
                               "target_wall_s": round(sum(target_wall), 1)}
    if proxy_cpu and target_cpu and len(proxy_cpu) == len(proxy_wall) and len(target_cpu) == len(target_wall):
        full = n_design * float(np.mean(target_cpu))
        spent = sum(proxy_cpu) + sum(target_cpu)
        compute.update(proxy_cpu_s=round(sum(proxy_cpu), 1), target_cpu_s=round(sum(target_cpu), 1),
                       full_grid_cpu_s=round(full, 1), spent_share=round(spent / full, 4),
                       mean_proxy_cell_cpu_s=round(float(np.mean(proxy_cpu)), 1),
                       mean_target_cell_cpu_s=round(float(np.mean(target_cpu)), 1))
    else:
        notes.append("compute: some cells have no cpu_s in status.json (run before it was recorded); wall times only")
    return ProxyTarget(target, maximize, rows, spearman, spearman_ci, regret, regret_ci, pick, best, compute,
                       (choice.get("proxy_fit") or {}).get("model"), level, notes)


def _fmt(v: float | None, loss: bool) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if loss else f"{v * 100:.1f}"


def _fmt_ci(ci, loss: bool) -> str:
    return f"[{_fmt(ci[0], loss)}, {_fmt(ci[1], loss)}]" if ci else ""


def _shares_text(shares: dict[str, float]) -> str:
    return " ".join(f"{d} {v:.3f}" for d, v in shares.items())  # 3 decimals: as the cells are named


def proxy_target_lines(pt: ProxyTarget) -> list[str]:
    loss = not pt.maximize
    unit = "" if loss else " %"
    what = f"{pt.target} ({'lower' if loss else 'higher'} is better)"
    head = ("role", "mixture", "pred. rank", f"proxy predicted{unit}", f"proxy measured{unit}",
            f"target measured{unit}", "seeds")
    body = [(("pick" if r.get("optimum") else r["role"]), _shares_text(r["shares"]), str(r["predicted_rank"]),
             _fmt(r["predicted"], loss), _fmt(r.get("proxy_measured"), loss),
             f"{_fmt(r['measured'], loss)} {_fmt_ci(r.get('measured_ci'), loss)}", str(r["seeds"]))
            for r in pt.rows]
    width = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = [f"proxy -> target on {what}; proxy fit: {pt.proxy_model}", ""]
    lines += ["  ".join(f"{x[i]:<{width[i]}}" for i in range(len(head))).rstrip() for x in [head, *body]]
    lines.append("")
    pct = int(round(pt.level * 100))
    if pt.spearman is not None:
        lines.append(f"rank correlation (Spearman), proxy predicted vs target measured: {pt.spearman:+.2f} "
                     f"{pct}% CI [{pt.spearman_ci[0]:+.2f}, {pt.spearman_ci[1]:+.2f}] over {len(pt.rows)} mixtures"
                     if pt.spearman_ci else f"rank correlation (Spearman): {pt.spearman:+.2f}")
    if pt.regret is not None:
        scale = 1 if loss else 100
        unit_text = "" if loss else " points"
        lines.append(f"regret of the proxy's pick: {pt.regret * scale + 0.0:.4g}{unit_text} "
                     f"{pct}% CI [{pt.regret_ci[0] * scale:.4g}, {pt.regret_ci[1] * scale:.4g}] "
                     f"(best measured: {pt.best_measured}; pick: {pt.pick})")
    c = pt.compute
    if "full_grid_cpu_s" in c:
        lines.append(f"compute: proxy {c['proxy_cells']} cells {c['proxy_cpu_s']:,.0f} CPU-s + target {c['target_cells']} "
                     f"cells {c['target_cpu_s']:,.0f} CPU-s = {c['spent_share'] * 100:.0f}% of a full target grid "
                     f"({c['full_grid_cells']} cells x {c['mean_target_cell_cpu_s']:,.0f} CPU-s = {c['full_grid_cpu_s']:,.0f} CPU-s, estimated)")
    else:
        lines.append(f"compute: proxy {c['proxy_cells']} cells {c['proxy_wall_s']:,.0f} s wall, target "
                     f"{c['target_cells']} cells {c['target_wall_s']:,.0f} s wall")
    lines += [f"note: {n}" for n in pt.notes]
    return lines


def proxy_target_csv(pt: ProxyTarget) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    labels = list(pt.rows[0]["shares"]) if pt.rows else []
    w.writerow(["role", *labels, "predicted_rank", "predicted", "proxy_measured", "target_measured", "target_low",
                "target_high", "seeds", "config"])
    for r in pt.rows:
        ci = r.get("measured_ci") or [None, None]
        w.writerow(["pick" if r.get("optimum") else r["role"], *(r["shares"][d] for d in labels), r["predicted_rank"],
                    r["predicted"], r.get("proxy_measured"), r["measured"], ci[0], ci[1], r["seeds"], r["config"]])
    return buf.getvalue()


def plot_proxy_target(pt: ProxyTarget, path: Path) -> Path:
    """Target measured (with its interval) against proxy predicted, the pick starred."""
    from codemix.recipes.report.plots import pyplot, save_png

    plt = pyplot()
    loss = not pt.maximize
    scale = 1.0 if loss else 100.0
    fig, ax = plt.subplots(figsize=(7.2, 5.2))
    if loss:  # losses of a mixture design span decades (0.13 to 6.7 on mixture-3way): log axes, as fitted
        ax.set_xscale("log")
        ax.set_yscale("log")
    for n, r in enumerate(sorted(pt.rows, key=lambda r: r["predicted"])):
        x, y = r["predicted"] * scale, r["measured"] * scale
        ci = r.get("measured_ci")
        yerr = [[y - ci[0] * scale], [ci[1] * scale - y]] if ci else None
        color = "#d62728" if r.get("optimum") else ("#1f77b4" if r["role"] == "top" else "#7f7f7f")
        ax.errorbar([x], [y], yerr=yerr, fmt="*" if r.get("optimum") else "o", color=color, ms=14 if r.get("optimum") else 7,
                    capsize=3)
        # the predicted rank beside the point (alternating sides: the top mixtures sit close together);
        # the shares behind each rank are listed in the box
        ax.annotate(f"#{r['predicted_rank']}", (x, y), textcoords="offset points", xytext=(9 if n % 2 else -22, 2),
                    fontsize=8, color=color)
    listing = "\n".join(f"#{r['predicted_rank']}: {_shares_text(r['shares'])}"
                         for r in sorted(pt.rows, key=lambda r: r["predicted_rank"]))
    ax.text(0.98, 0.02, f"predicted rank: mixture\n{listing}", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7, family="monospace", bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb", "alpha": 0.9})
    if loss:
        from matplotlib.ticker import FormatStrFormatter

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(FormatStrFormatter("%g"))
    unit = "" if loss else " (%)"
    ax.set_xlabel(f"proxy-predicted {pt.target}{unit}")
    ax.set_ylabel(f"target-measured {pt.target}{unit}, {int(round(pt.level * 100))}% CI")
    title = f"proxy -> target ({'lower' if loss else 'higher'} is better)"
    if pt.spearman is not None:
        title += f": Spearman {pt.spearman:+.2f}"
        if pt.spearman_ci:
            title += f" [{pt.spearman_ci[0]:+.2f}, {pt.spearman_ci[1]:+.2f}]"
    if pt.regret is not None:
        title += f", regret {pt.regret * scale:.3g}{'' if loss else ' pts'}"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], marker="*", color="#d62728", ls="", ms=12, label="proxy's pick (predicted optimum)"),
                       Line2D([], [], marker="o", color="#1f77b4", ls="", label="top predicted"),
                       Line2D([], [], marker="o", color="#7f7f7f", ls="", label="others (ranking check)")],
              fontsize=8, loc="best")
    return save_png(fig, path)


def write_proxy_target(pt: ProxyTarget, out_dir: Path) -> tuple[str, list[Path]]:
    from codemix.core.artifacts import atomic_write_json, atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    text = "\n".join(proxy_target_lines(pt))
    files = []
    for name, content in (("proxy_target.txt", text + "\n"), ("proxy_target.csv", proxy_target_csv(pt))):
        atomic_write_text(out_dir / name, content)
        files.append(out_dir / name)
    atomic_write_json(out_dir / "proxy_target.json", pt.to_dict())
    files.append(out_dir / "proxy_target.json")
    if pt.rows:
        files.append(plot_proxy_target(pt, out_dir / "proxy_target.png"))
    return text, files
