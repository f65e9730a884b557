"""Many runs at once and what they show: run a sweep's grid, report over sweep or run
directories, compare two results, measure a mixture's diversity. `codemix sweep|report|compare|
diversity` are these functions behind argparse."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from codemix.api.results import Comparison, DiversityResult, ReportResult, SweepResult
from codemix.core.errors import CodemixError

MIXTURE_COLUMNS = {"id", "source", "domain", "prompt", "completion"}


def sweep(recipe: str | os.PathLike[str], *, overrides: Sequence[str] = (), cells: str | Sequence[str] | None = None,
          plan: bool = False, launcher: Literal["local", "slurm"] | None = None, parallel: int | None = None,
          gpus_per_cell: int | None = None, fail_fast: bool = False, cluster: Literal["slurm", "local"] = "slurm",
          slurm: Mapping[str, Any] | None = None, cancel_on_exit: bool = False,
          on_done: Callable[[str, str, str], None] | None = None, proxy: Sequence[str] = ()) -> SweepResult:
    """Run every cell of a recipe's `sweep:` grid, skipping finished ones (`codemix sweep`).

    Args:
        recipe: A recipe file or bundled name with a `sweep:` section.
        overrides: `--set` assignments applied to the base recipe.
        cells: Only these cells (names as the plan shows them; a string may list several,
            separated by ';' or ',').
        plan: Only report each cell's state (done, running, queued, failed, pending); run nothing.
            Cells with a Slurm job show its state (`queued (job 21_3, PD Resources)`) where
            Slurm is reachable.
        launcher: local or slurm (default: the recipe's `sweep.launcher`).
        parallel: local: cells at once.
        gpus_per_cell: GPUs per cell.
        fail_fast: Stop starting cells after the first failure.
        cluster: submitit cluster of the slurm launcher; "local" runs the job array as local processes.
        slurm: Overrides of the recipe's `sweep.slurm` (partition, time, account, qos, additional).
        cancel_on_exit: slurm: on Ctrl-C (KeyboardInterrupt), cancel the jobs still queued or
            running instead of leaving them to run (they are listed either way).
        on_done: Called as on_done(cell, outcome, detail) when each cell ends (default: print a line).
        proxy: `--proxy KEY=VALUE` assignments: run the recipe's mixture design at this proxy
            scale, fit it, then only the predicted best mixtures (and a spread of others) at the
            recipe's scale (merged into `sweep.proxy.set`; see codemix.recipes.sweep.proxy).

    Returns:
        The outcome of each cell, the plan table after the run and sweep.json.
    """
    from codemix.recipes.sweep import runner as sw
    from codemix.recipes.sweep.launchers import LaunchOptions

    if parallel is not None and parallel < 1:
        raise CodemixError(f"--parallel must be >= 1, got {parallel}")
    if gpus_per_cell is not None and gpus_per_cell < 0:
        raise CodemixError(f"--gpus-per-cell must be >= 0, got {gpus_per_cell}")
    path, data = sw.read_sweep_recipe(os.fspath(recipe), list(overrides))
    if proxy:
        from codemix.recipes.sweep.proxy import proxy_overrides

        data = proxy_overrides(data, list(proxy))
    loaded = sw.load_sweep(os.fspath(recipe), list(overrides), data=data, path=path)
    options = LaunchOptions(parallel=parallel, gpus_per_cell=gpus_per_cell, fail_fast=fail_fast, cluster=cluster,
                            slurm=dict(slurm or {}), cancel_on_exit=cancel_on_exit)
    if loaded.recipe.sweep is not None and loaded.recipe.sweep.proxy is not None:
        if cells:
            raise CodemixError("--cells: a proxy -> target sweep runs its phases whole (the fit needs every proxy cell)")
        return _proxy_target(loaded, path, data, list(overrides), plan=plan, launcher=launcher, options=options,
                             on_done=on_done)
    return _launch(loaded, select_cells(loaded, cells), plan=plan, launcher=launcher, options=options, on_done=on_done)


def _launch(loaded: Any, units: list, *, plan: bool, launcher: Literal["local", "slurm"] | None, options: Any,
            on_done: Callable[[str, str, str], None] | None, label: str = "sweep") -> SweepResult:
    """Run (or, for `plan`, only list) `units` of a loaded sweep and the reference it needs."""
    from codemix.core.progress import shown
    from codemix.recipes.sweep import runner as sw
    from codemix.recipes.sweep.launchers import get_launcher

    units = units + ([loaded.reference] if loaded.reference is not None else [])
    print(f"{label} {loaded.name}: {len(loaded.cells)} cells over {', '.join(loaded.axes)} -> {shown(loaded.out)}")
    if plan:
        from codemix.recipes.sweep.launchers.slurm import live_states

        return SweepResult(out_dir=loaded.out, outcomes={}, plan=sw.plan_table(loaded, units, live_states(units)),
                           data=sw.sweep_json(loaded))
    sweep_cfg = loaded.recipe.sweep  # present: load_sweep refuses a recipe without one
    chosen = get_launcher(launcher or (sweep_cfg.launcher if sweep_cfg is not None else "local"))
    if hasattr(chosen, "preflight"):  # e.g. slurm: the request against sinfo, before anything is written
        chosen.preflight(loaded, options)
    sw.materialize(loaded, units)
    sw.write_sweep_json(loaded)
    guard, t0, finished = threading.Lock(), time.time(), []

    def done(unit, outcome: str, detail: str) -> None:
        with guard:
            finished.append(unit.name)
            note = sw.read_status(unit).get("error", "") if outcome == "failed" else detail
            if outcome == "running":
                note = "held by another launcher"
            if on_done is not None:
                on_done(unit.name, outcome, note)
            else:
                print(f"[{label}] {unit.name}: {outcome}{f' ({note})' if note else ''} "
                      f"[{len(finished)}/{len(units)}, {time.time() - t0:.0f} s]", flush=True)
            sw.write_sweep_json(loaded)

    outcomes = chosen.launch(loaded, units, options, done)
    sw.write_sweep_json(loaded)
    return SweepResult(out_dir=loaded.out, outcomes=dict(outcomes), plan=sw.plan_table(loaded, units),
                       data=sw.sweep_json(loaded))


def _proxy_target(loaded: Any, path: Path, data: dict[str, Any], overrides: list[str], *, plan: bool,
                  launcher: Literal["local", "slurm"] | None, options: Any,
                  on_done: Callable[[str, str, str], None] | None) -> SweepResult:
    """Both phases of a proxy -> target sweep (codemix.recipes.sweep.proxy): the design at the
    proxy scale, the fit and the choice, then the chosen mixtures at the recipe's scale."""
    from codemix.core.progress import shown
    from codemix.recipes.sweep import proxy as px
    from codemix.recipes.sweep import runner as sw

    cfg = loaded.recipe.sweep.proxy
    out = loaded.out
    phase = sw.load_sweep(str(path), overrides, data=px.phase_data(data, "proxy", out), path=path)
    print(f"proxy -> target: the {len(phase.cells)}-cell design at the proxy scale "
          f"({', '.join(f'{k}={v}' for k, v in cfg.set.items())}), then the {cfg.top} best-predicted mixtures "
          f"and {cfg.others} others (by {cfg.target}) at the recipe's scale -> {shown(out)}")
    first = _launch(phase, phase.cells, plan=plan, launcher=launcher, options=options, on_done=on_done, label="proxy")
    outcomes = {f"{px.PROXY_DIR}/{k}": v for k, v in first.outcomes.items()}
    data_out: dict[str, Any] = {"proxy": first.data}
    plans = [f"proxy phase ({shown(phase.out)}):", first.plan]
    if plan:
        previous = px.read_choice(out)
        if previous is None:
            plans.append("target phase: chosen after the proxy phase's fit (not yet)")
        else:
            chosen = [c["shares"] for c in previous["chosen"]]
            target = sw.load_sweep(str(path), overrides, data=px.phase_data(data, "target", out, chosen), path=path)
            plans += [f"target phase ({shown(target.out)}, as last chosen):", sw.plan_table(target, target.cells)]
        return SweepResult(out_dir=out, outcomes={}, plan="\n".join(plans), data=data_out)
    if first.failed:
        plans.append("target phase: not started (the proxy fit needs every proxy cell; re-run to retry the failed ones)")
        return SweepResult(out_dir=out, outcomes=outcomes, plan="\n".join(plans), data=data_out)
    fit, as_run = px.fit_proxy(phase.out, cfg.target, cfg.fit)
    chosen = px.choose(fit, cfg.top, cfg.others, as_run)
    px.write_choice(out, cfg, fit, chosen)
    best = chosen[0]
    print(f"[proxy] fit: {fit.model} on {cfg.target}; predicted best mixture "
          f"{', '.join(f'{d} {v:.3f}' for d, v in best['shares'].items())} ({best['predicted']:.4g}); "
          f"running {len(chosen)} mixtures at the target scale ({shown(out / px.CHOICE_FILE)})", flush=True)
    target = sw.load_sweep(str(path), overrides, path=path,
                           data=px.phase_data(data, "target", out, [c["shares"] for c in chosen]))
    second = _launch(target, target.cells, plan=False, launcher=launcher, options=options, on_done=on_done,
                     label="target")
    outcomes.update({f"{px.TARGET_DIR}/{k}": v for k, v in second.outcomes.items()})
    data_out["target"] = second.data
    plans += [f"target phase ({shown(target.out)}):", second.plan]
    return SweepResult(out_dir=out, outcomes=outcomes, plan="\n".join(plans), data=data_out)


def select_cells(loaded: Any, spec: str | Sequence[str] | None) -> list:
    """The sweep's cells named by `spec` (all of them for None)."""
    if spec is None or spec == "":
        return loaded.cells
    if isinstance(spec, str):
        # Cell names contain commas themselves (general_fraction=0.1,seed=2): ';' always
        # separates cells; a plain comma list is split against the known names.
        names = [s.strip() for s in spec.split(";") if s.strip()]
        known = {c.name for c in loaded.cells}
        if len(names) == 1 and names[0] not in known:
            names = split_cell_list(names[0], known)
    else:
        names = list(spec)
    return loaded.select(names)


def split_cell_list(spec: str, known: set[str]) -> list[str]:
    """`a=1,b=2,a=3,b=4` -> the cell names it is made of (greedy, longest known name first)."""
    parts, out, i = spec.split(","), [], 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            candidate = ",".join(parts[i:j])
            if candidate in known or j == i + 1:
                out.append(candidate)
                i = j
                break
    return out


def report(dirs: Sequence[str | os.PathLike[str]], *, baseline: str | None = None, reference: str | None = None,
           out: str | os.PathLike[str] | None = None, where: Sequence[str] = (), axis: str | None = None,
           fit: str = "auto", k: int = 1, resamples: int = 10_000, seed: int = 0, alpha: float = 0.05,
           diversity: bool = False, diversity_axis: str = "vendi", embedding: str | None = None,
           suggest: int = 0, target: str | None = None) -> ReportResult:
    """One table, paired statistics and plots over sweep or run directories (`codemix report`).

    A proxy -> target study's directory (proxy-choice.json, written by a sweep with a proxy) is
    reported as both phases (report/proxy/, report/target/) and the check of the proxy's choice
    at the target scale (report/proxy_target.*).

    Args:
        dirs: Sweep directories (with sweep.json) or run directories.
        baseline: The cell every other is compared with (default: the sweep's baseline, else the first).
        reference: A CSV of published numbers to overlay, or "paper-code-mix" for the bundled one.
        out: Output directory (default: the first directory's report/).
        where: `KEY=VALUE` filters: only the cells with these swept values.
        axis: The numeric swept key to find the best value along (default: the only one).
        fit: auto (chosen by leave-one-out error on the logit scale), linear, quadratic, cubic, interpolate, or none.
        k: pass@k to compare.
        resamples: Bootstrap resamples (at least 100).
        seed: Bootstrap seed.
        alpha: Family-wise error rate of the verdicts.
        diversity: Measure the mixtures that have no diversity numbers yet.
        diversity_axis: x axis of diversity.png (vendi, effective_tasks, ...).
        embedding: With `diversity`: tfidf, model2vec:NAME or sentence-transformers:NAME.
        suggest: Also propose this many next axis values (or mixtures) to run.
        target: What to analyse: the benchmarks (default), one benchmark, `average`, or
            `loss:<domain>` (the per-domain validation loss the train stage records).

    Returns:
        The printed tables and every file written (report.md, report.csv, comparisons.csv, plots).
    """
    from codemix.recipes.loader import find_reference
    from codemix.recipes.report.analysis import analyse
    from codemix.recipes.report.data import load_reference
    from codemix.recipes.report.diversity import AXES, attach
    from codemix.recipes.report.study import collect, select
    from codemix.recipes.report.target import for_target
    from codemix.recipes.report.write import write_report

    if resamples < 100:
        raise CodemixError(f"--resamples must be at least 100, got {resamples}")
    if not 0 < alpha < 1:
        raise CodemixError(f"--alpha must be in (0, 1), got {alpha}")
    if diversity_axis not in AXES:
        raise CodemixError(f"--diversity-axis {diversity_axis!r}: choose one of {', '.join(AXES)}")
    if embedding and not diversity:
        raise CodemixError("--embedding applies with --diversity only")
    paths = [Path(d) for d in dirs]
    from codemix.recipes.report.proxy_target import is_proxy_study

    if len(paths) == 1 and is_proxy_study(paths[0]):
        if where or baseline:
            raise CodemixError("--where / --baseline: not with a proxy -> target study; report its proxy/ or "
                               "target/ directory on its own for that")
        return _proxy_target_report(paths[0], out=out, fit=fit, k=k, resamples=resamples, seed=seed, alpha=alpha,
                                    suggest=suggest, target=target)
    study = collect(paths, baseline=baseline, k=k)
    study, label = select(study, list(where))
    if not study.done:
        raise CodemixError(f"{', '.join(map(str, paths))}: no cell has results yet")
    diversity_lines = attach(study, compute=diversity, embedding=embedding)
    study = for_target(study, target)
    analysis = analyse(study, resamples=resamples, seed=seed, alpha=alpha, fit=fit, axis=axis, suggest_k=suggest)
    published = load_reference(find_reference(reference)) if reference else None
    out_dir = Path(out) if out is not None else paths[0] / (f"report-{label}" if label else "report")
    written = write_report(study, analysis, out_dir, published, diversity_axis=diversity_axis,
                           diversity_lines=diversity_lines)
    return ReportResult(out_dir=out_dir, text=written.text, files=list(written.files))


def _proxy_target_report(directory: Path, *, out: str | os.PathLike[str] | None, fit: str, k: int, resamples: int,
                         seed: int, alpha: float, suggest: int, target: str | None) -> ReportResult:
    """Both phases' reports and the proxy -> target check (codemix.recipes.report.proxy_target)."""
    from codemix.recipes.report.analysis import analyse
    from codemix.recipes.report.proxy_target import proxy_target, write_proxy_target
    from codemix.recipes.report.study import load_sweep
    from codemix.recipes.report.target import for_target
    from codemix.recipes.report.write import write_report
    from codemix.recipes.sweep.proxy import PROXY_DIR, TARGET_DIR, read_choice

    choice = read_choice(directory) or {}
    target = target or choice.get("target")
    target_dir = choice.get("target_dir", TARGET_DIR)
    out_dir = Path(out) if out is not None else directory / "report"
    texts, files, target_analysis = [], [], None
    for phase in (choice.get("proxy", PROXY_DIR), target_dir):
        if not (directory / phase / "sweep.json").is_file():
            continue
        study = for_target(load_sweep(directory / phase, k=k), target)
        if not study.done:
            continue
        analysis = analyse(study, resamples=resamples, seed=seed, alpha=alpha, fit=fit, suggest_k=suggest)
        if phase == target_dir and target == choice.get("target"):  # the check reuses its bootstrap
            target_analysis = analysis
        written = write_report(study, analysis, out_dir / phase)
        texts.append(f"== {phase} phase ({directory / phase}) ==\n{written.text}")
        files += list(written.files)
    if (directory / target_dir / "sweep.json").is_file():
        checked = proxy_target(directory, resamples=resamples, seed=seed, k=k, analysis=target_analysis)
        text, more = write_proxy_target(checked, out_dir)
        texts.append(f"== proxy -> target ==\n{text}")
        files += more
    else:
        texts.append("== proxy -> target ==\nthe target phase has not started yet")
    return ReportResult(out_dir=out_dir, text="\n\n".join(texts), files=files)


def compare(a: str | os.PathLike[str], b: str | os.PathLike[str], *, k: int = 1, resamples: int = 10_000,
            seed: int = 0, alpha: float = 0.05) -> Comparison:
    """Is B better than A on the same benchmark? (`codemix compare`)

    Paired over problems: the difference in pass@k (or accuracy) with a paired bootstrap CI;
    with one sample per problem (greedy) the exact McNemar test on the problems only one side
    solves, otherwise the bootstrap p-value.

    Args:
        a: results.json (or its directory): the reference side.
        b: results.json (or its directory): compared with A.
        k: pass@k to compare (ignored for accuracy).
        resamples: Bootstrap resamples (at least 100).
        seed: Bootstrap seed (same seed, same interval).
        alpha: Significance level of the verdict.

    Returns:
        The difference, its interval, the test, p-value and verdict.
    """
    from codemix.recipes.report.data import load_results
    from codemix.recipes.report.stats import compare_runs

    if resamples < 100:
        raise CodemixError(f"--resamples must be at least 100, got {resamples}")
    ra, rb = load_results(Path(a), k), load_results(Path(b), k)
    if ra.benchmark != rb.benchmark:
        raise CodemixError(f"{ra.path} is {ra.benchmark}, {rb.path} is {rb.benchmark}: compare results of one benchmark")
    if ra.problems_hash and rb.problems_hash and ra.problems_hash != rb.problems_hash:
        raise CodemixError(f"{ra.path} and {rb.path} were scored on different problems (problems_hash "
                           f"{ra.problems_hash[:12]}... vs {rb.problems_hash[:12]}...): a paired comparison needs "
                           "the same problems")
    if ra.metric != rb.metric:
        raise CodemixError(f"{ra.path} reports {ra.metric}, {rb.path} {rb.metric}: compare like with like")
    for o in (ra, rb):
        if o.scores is None:
            raise CodemixError(f"{o.path}: no per_task counts; a paired comparison needs per-problem results")
    assert ra.scores is not None  # checked above
    c = compare_runs(ra.scores, rb.aligned(ra.task_ids), single_sample=ra.single_sample and rb.single_sample,
                     resamples=resamples, seed=seed)
    data = {"benchmark": ra.benchmark, "metric": ra.metric, "n_problems": c.n_problems, "a": c.a, "b": c.b,
            "delta": c.delta, "ci": list(c.ci), "level": c.level, "test": c.test, "p_value": c.p_value,
            "verdict": c.verdict(alpha), "alpha": alpha, "resamples": resamples, "seed": seed,
            "a_path": ra.path, "b_path": rb.path, "problems_hash": ra.problems_hash}
    if c.test == "mcnemar":
        data["b_only"], data["a_only"] = c.b_only, c.a_only
    return Comparison(data=data)


def diversity(target: str | os.PathLike[str], *, overrides: Sequence[str] = (), embedding: str | None = None,
              fallback: bool = True, sample: int | None = None, clusters: int | None = None,
              benchmarks: Sequence[str] | None = None, humaneval_path: str | None = None,
              mbpp_path: str | None = None, draw_map: bool = True, seed: int | None = None,
              out: str | os.PathLike[str] | None = None, domain: Literal["code", "general"] = "code",
              file_format: str = "auto") -> DiversityResult:
    """How diverse a mixture or a source is (`codemix diversity`): per source, per domain and
    overall, written to diversity.json with the 2-D map diversity_map.png.

    Settings come from the recipe's `mix.diversity` where there is one, then from the arguments.

    Args:
        target: A built mixture directory (results written beside it), a recipe file or bundled
            name (its mixture is built first when stale), or a data file (a mixture's
            data.jsonl/.parquet or any source file the `mix:` formats read).
        overrides: `--set` assignments (a recipe target only).
        embedding: tfidf, model2vec:NAME or sentence-transformers:NAME.
        fallback: Use tfidf when the embedding model cannot be loaded (else fail).
        sample: Rows per group for the Vendi score.
        clusters: k of the k-means clustering.
        benchmarks: Benchmarks to measure the distance to (default humaneval and mbpp; [] for none).
        humaneval_path: Local HumanEval file.
        mbpp_path: Local MBPP file.
        draw_map: Draw diversity_map.png.
        seed: Seed of the samples, k-means and SVD (default: the recipe's, else 0).
        out: Where to write (default: beside the mixture, or ./diversity/<file stem>/).
        domain: A data file that is a source: its domain.
        file_format: A data file that is a source: its format.

    Returns:
        diversity.json and the files written. A mixture measured with the same settings before
        is not measured again.
    """
    from pydantic import ValidationError

    from codemix.core.artifacts import atomic_write_json
    from codemix.mixing.config import DiversityConfig, MixConfig
    from codemix.mixing.diversity import measure

    if overrides and Path(target).is_dir():
        raise CodemixError("--set applies to a RECIPE target only")
    got = _diversity_target(os.fspath(target), list(overrides), domain, file_format)
    recipe, manifest = got["recipe"], got["manifest"]
    recorded = (manifest or {}).get("recipe") or {}
    mix = recipe.mix if recipe is not None else None
    if mix is None and recorded.get("mix"):
        try:  # a built mixture: the settings its recipe recorded (decontamination files, diversity)
            mix = MixConfig.model_validate(recorded["mix"])
        except ValueError:
            mix = None  # recorded by another codemix version: use the defaults
    settings = mix.diversity.model_dump() if mix is not None and mix.diversity is not None else {}
    given = {"embedding": embedding, "sample": sample, "clusters": clusters, "humaneval_path": humaneval_path,
             "mbpp_path": mbpp_path, "benchmarks": list(benchmarks) if benchmarks is not None else None}
    settings.update({key: v for key, v in given.items() if v is not None})
    settings.update({"fallback": settings.get("fallback", True) and fallback,
                     "map": settings.get("map", True) and draw_map, "enabled": True})
    try:
        cfg = DiversityConfig.model_validate(settings)
    except ValidationError as e:
        err = e.errors()[0]
        raise CodemixError(f"codemix diversity: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    seed = seed if seed is not None else (recipe.seed if recipe is not None else recorded.get("seed", 0))
    decontam = mix.decontaminate if mix is not None else None
    out_dir = Path(out) if out is not None else got["out"]
    content_hash = (manifest or {}).get("content_hash")
    key = measure.settings_key(cfg, seed, content_hash, decontam) if content_hash else None
    block = (manifest or {}).get("diversity")
    if not (key and block and block.get("key") == key and (out_dir / measure.JSON_NAME).is_file()):
        block = measure.measure(got["table"], cfg, seed=seed, decontam=decontam,
                                map_path=out_dir / measure.MAP_NAME, title=got["label"])
        block.update(key=key, content_hash=content_hash, target=os.fspath(target))
        atomic_write_json(out_dir / measure.JSON_NAME, block)
    files = [out_dir / measure.JSON_NAME] + ([out_dir / block["map"]] if block.get("map") else [])
    return DiversityResult(out_dir=out_dir, data=block, files=files)


def _diversity_target(target: str, overrides: list[str], domain: str, file_format: str) -> dict[str, Any]:
    """table, manifest (or None), recipe (or None), default output dir, label of what it is."""
    path = Path(target)
    if path.is_dir():
        table, manifest, data = _mixture_dir(path)
        return {"table": table, "manifest": manifest, "recipe": None, "out": path, "label": f"mixture {data}"}
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        return {"table": _data_file(path, domain, file_format), "manifest": None, "recipe": None,
                "out": Path("diversity") / path.name.split(".")[0], "label": f"file {path}"}
    from codemix.recipes.loader import load_recipe
    from codemix.recipes.pipeline import build_recipe_mixture

    recipe, recipe_path = load_recipe(target, overrides)
    if recipe.mix is None:
        raise CodemixError(f"{recipe_path}: the recipe has no mix section (no mixture to measure)")
    build_recipe_mixture(recipe)
    table, manifest, data = _mixture_dir(Path(recipe.output_dir) / "mix")
    return {"table": table, "manifest": manifest, "recipe": recipe, "out": Path(recipe.output_dir) / "mix",
            "label": f"recipe {recipe.name}: {data}"}


def _mixture_dir(path: Path) -> tuple[Any, dict | None, Path]:
    from codemix.core.artifacts import read_manifest
    from codemix.mixing.pipeline import DATA_FILES
    from codemix.mixing.writer import read_table

    manifest = read_manifest(path)
    names = [manifest["data_file"]] if manifest and manifest.get("data_file") else list(DATA_FILES.values())
    found = [path / n for n in names if (path / n).is_file()]
    if not found:
        raise CodemixError(f"{path}: no mixture here (no {' or '.join(names)}); run `codemix mix` first, or pass a file")
    return read_table(found[0]), manifest, found[0]


def _data_file(path: Path, domain: str, file_format: str) -> Any:
    """A mixture data file as is, or a source file normalised like a `mix:` source."""
    import re

    from codemix.mixing import formats, sources
    from codemix.mixing.config import SourceConfig

    name = re.sub(r"[^A-Za-z0-9_.-]", "-", path.name.split(".")[0]) or "file"
    try:
        src = SourceConfig(name=name, path=str(path), domain=domain, format=file_format)
    except ValueError as e:
        raise CodemixError(f"{path}: {e}") from None
    table, _ = sources.load(src, sources.resolve(src))
    if MIXTURE_COLUMNS <= set(table.column_names):
        if path.suffix in (".jsonl", ".parquet"):
            from codemix.mixing.writer import read_table

            return read_table(path)
        return table.select(list(formats.SCHEMA.names)).cast(formats.SCHEMA)
    return formats.normalise(table, src.format, {}, source=name, domain=domain, where=str(path)).table
