"""`codemix report` on a sweep of an exact-match benchmark with groups (the markov benchmark's
held-out vs seen rules): each group becomes its own column (`markov:unseen`) with paired
statistics, groups stay out of the average, and an axis spanning decades (rules I = 10 ...
10,000) is plotted and fitted on a log scale. Cells are scored by the real scorer on real
markov problems; the "models" are hand-built answer files."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from codemix.eval.benchmarks import load_problems
from codemix.eval.scoring import score_samples
from codemix.mixing.config import MixConfig
from codemix.mixing.pipeline import build_mixture
from codemix.recipes.cli import main
from codemix.recipes.report.analysis import is_log_axis
from codemix.recipes.report.data import group_outcomes, headline, load_eval_dir

RULES = (10, 100, 1000, 10000)
UNSEEN_RATE = {10: 0.2, 100: 0.5, 1000: 0.8, 10000: 0.6}  # peaks at I = 1,000 on a log axis


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("groups")
    mix = MixConfig.model_validate({
        "sources": [{"name": "m", "path": "builtin:markov", "domain": "general", "count": 2000,
                     "markov": {"rules": 64, "heldout_rules": 100, "test_examples": 600}}],
        "decontaminate": {"enabled": False}, "dedup": "none"})
    build_mixture(mix, seed=5, out_dir=root / "mix", recipe={"mix": mix.model_dump(mode="json")}, recipe_hash="t")
    problems = load_problems("markov", str(root / "mix"))
    cells = []
    for rules in RULES:
        name = f"rules={rules}"
        bench_dir = root / "sweep" / "cells" / name / "eval" / "markov"
        bench_dir.mkdir(parents=True)
        (bench_dir / "problems.jsonl").write_text("".join(json.dumps(dataclasses.asdict(p)) + "\n" for p in problems))
        rng = np.random.default_rng(rules)
        # seen rules always right; held-out rules right at UNSEEN_RATE, else the input copied
        rows = [{"task_id": p.task_id,
                 "completion": p.reference if "seen" in p.groups or rng.random() < UNSEEN_RATE[rules]
                 else p.prompt[:-1].split("|")[1]} for p in problems]
        samples = bench_dir / "samples.jsonl"
        samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
        score_samples("markov", samples, problems_path=str(bench_dir / "problems.jsonl"), out_dir=bench_dir,
                      show_table=False)
        cells.append({"name": name, "values": {"mix.sources.0.markov.rules": rules}, "dir": f"cells/{name}",
                      "status": "done"})
    spec = {"name": "markov-groups", "recipe_hash": "f" * 64, "axes": {"mix.sources.0.markov.rules": list(RULES)},
            "cells": cells, "baseline": cells[0]["name"]}
    (root / "sweep" / "sweep.json").write_text(json.dumps(spec))
    return root / "sweep"


def test_scorer_names_each_groups_problems(sweep: Path) -> None:
    res = json.loads((sweep / "cells" / "rules=10" / "eval" / "markov" / "results.json").read_text())
    problems = [json.loads(line) for line in (sweep / "cells" / "rules=10" / "eval" / "markov" / "problems.jsonl").open()]
    for group, block in res["groups"].items():
        assert block["task_ids"] == [p["task_id"] for p in problems if group in p["groups"]]
        assert block["n_tasks"] == len(block["task_ids"])


def test_groups_become_outcomes_with_their_members_scores(sweep: Path, tmp_path: Path) -> None:
    eval_dir = sweep / "cells" / "rules=1000" / "eval"
    outcomes = load_eval_dir(eval_dir)
    assert set(outcomes) == {"markov", "markov:seen", "markov:unseen", "markov:noop", "markov:applied"}
    res = json.loads((eval_dir / "markov" / "results.json").read_text())
    unseen = outcomes["markov:unseen"]
    assert unseen.value == res["groups"]["unseen"]["accuracy"] and unseen.ci == tuple(res["groups"]["unseen"]["accuracy_ci"])
    assert unseen.scores.mean() == pytest.approx(unseen.value) and outcomes["markov:seen"].value == 1.0
    assert unseen.n_problems == res["groups"]["unseen"]["n_tasks"] == 300
    assert headline(list(outcomes)) == ["markov"]
    # results written before the scorer named the members: read from the problems file beside them
    for g in res["groups"].values():
        del g["task_ids"]
    old = group_outcomes(res, outcomes["markov"], eval_dir / "markov" / "problems.jsonl")
    assert old["markov:unseen"].task_ids == unseen.task_ids
    assert np.array_equal(old["markov:unseen"].scores, unseen.scores)
    assert group_outcomes(res, outcomes["markov"], tmp_path / "absent.jsonl") == {}


def test_log_axis_rule() -> None:
    assert is_log_axis([10, 100, 1000, 10000]) and is_log_axis([0.001, 0.1])
    assert not is_log_axis([0.0, 0.1, 0.2]) and not is_log_axis([1, 50]) and not is_log_axis(["a", "b"])
    assert not is_log_axis([1000])


def test_report_has_group_columns_a_log_axis_and_no_average_over_groups(sweep: Path, capsys) -> None:
    assert main(["report", str(sweep), "--resamples", "2000"]) == 0
    out = capsys.readouterr().out
    rows = {r["cell"]: r for r in _csv(sweep / "report" / "report.csv")}
    assert "average" not in next(iter(rows.values())) and "markov accuracy" in rows["rules=10"]  # one benchmark: its groups are not averaged
    for rules in RULES:
        res = json.loads((sweep / "cells" / f"rules={rules}" / "eval" / "markov" / "results.json").read_text())
        assert float(rows[f"rules={rules}"]["markov:unseen accuracy"]) == res["groups"]["unseen"]["accuracy"]
    cmp = {(r["config"], r["benchmark"]): r for r in _csv(sweep / "report" / "comparisons.csv")}
    assert cmp[("rules=1000", "markov:unseen")]["verdict"] == "better"      # 0.8 vs 0.2 on 300 problems
    assert cmp[("rules=1000", "markov:seen")]["verdict"] == "no detectable difference"  # 1.0 vs 1.0
    best = {r["benchmark"]: r for r in _csv(sweep / "report" / "best.csv")}
    # fitted in log10(I): the peak of 0.2 / 0.5 / 0.8 / 0.6 at log10 I = 1..4 is near I = 1,500
    assert 500 < float(best["markov:unseen"]["best"]) < 4000
    md = (sweep / "report" / "report.md").read_text()
    assert "fit is in log10(rules)" in md and "markov:unseen" in out
    assert (sweep / "report" / "report.png").stat().st_size > 10_000


def _markov_cell(root: Path, name: str, mix_seed: int, unseen_rate: float) -> dict:
    mix = MixConfig.model_validate({
        "sources": [{"name": "m", "path": "builtin:markov", "domain": "general", "count": 1000,
                     "markov": {"rules": 32, "heldout_rules": 50, "test_examples": 400}}],
        "decontaminate": {"enabled": False}, "dedup": "none"})
    mix_dir = root / "mixes" / name
    build_mixture(mix, seed=mix_seed, out_dir=mix_dir, recipe={"mix": mix.model_dump(mode="json")}, recipe_hash="t")
    bench_dir = root / "cells" / name / "eval" / "markov"
    bench_dir.mkdir(parents=True)
    rng = np.random.default_rng(mix_seed)
    rows = [{"task_id": p.task_id, "completion": p.reference if "seen" in p.groups or rng.random() < unseen_rate
             else "?"} for p in load_problems("markov", str(mix_dir))]
    (bench_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    score_samples("markov", bench_dir / "samples.jsonl", problems_path=str(mix_dir), out_dir=bench_dir,
                  show_table=False)
    return {"name": name, "values": {"run": name}, "dir": f"cells/{name}", "status": "done"}


def test_runs_scored_on_their_own_problems_are_compared_unpaired(tmp_path: Path, capsys) -> None:
    # seeds 1 and 2 draw other rules, so other problems: refusing would make markov sweeps unreportable
    cells = [_markov_cell(tmp_path, "a", 1, 0.2), _markov_cell(tmp_path, "b", 2, 0.8),
             _markov_cell(tmp_path, "c", 3, 0.2)]
    res = [json.loads((tmp_path / "cells" / c["name"] / "eval/markov/results.json").read_text()) for c in cells]
    assert len({r["problems_hash"] for r in res}) == 3 and all(r["problems_per_run"] for r in res)
    spec = {"name": "own-problems", "cells": cells, "baseline": "a"}
    (tmp_path / "sweep.json").write_text(json.dumps(spec))
    assert main(["report", str(tmp_path), "--resamples", "2000"]) == 0
    out = capsys.readouterr().out
    cmp = {(r["config"], r["benchmark"]): r for r in _csv(tmp_path / "report" / "comparisons.csv")}
    assert cmp[("b", "markov:unseen")]["test"] == "unpaired bootstrap"
    assert cmp[("b", "markov:unseen")]["verdict"] == "better"          # 0.8 vs 0.2 on 200 problems each
    assert cmp[("c", "markov:unseen")]["verdict"] == "no detectable difference"  # 0.2 vs 0.2
    assert float(cmp[("c", "markov:seen")]["delta"]) == 0.0
    assert "unpaired" in out and not (tmp_path / "report" / "problems.csv").exists()
    assert "Unpaired (markov, markov:unseen" in (tmp_path / "report" / "report.md").read_text()
    # a benchmark whose problems should be the same for every run still refuses to mix them
    for c in cells:
        path = tmp_path / "cells" / c["name"] / "eval/markov/results.json"
        r = json.loads(path.read_text())
        r["problems_per_run"] = False
        path.write_text(json.dumps(r))
    assert main(["report", str(tmp_path)]) == 2
    assert "cells were scored on different problems" in capsys.readouterr().err


def test_where_reports_one_slice_and_names_bad_keys(sweep: Path, capsys) -> None:
    assert main(["report", str(sweep), "--where", "rules=1000.0", "--where", "rules=1000", "--resamples", "500"]) == 0
    assert "markov-groups [rules=1000.0,rules=1000]" in capsys.readouterr().out
    rows = _csv(sweep / "report-rules=1000.0,rules=1000" / "report.csv")
    assert [r["cell"] for r in rows] == ["rules=1000"]
    for where, message in (("rulez=1", "'rulez' is not a swept key (swept: mix.sources.0.markov.rules); "
                                       "did you mean 'rules'?"),
                           ("rules=7", "no cell matches (values: rules in 10, 100, 1000, 10000)"),
                           ("rules", "expected KEY=VALUE")):
        assert main(["report", str(sweep), "--where", where]) == 2
        assert message in capsys.readouterr().err


def test_fit_none_plots_points_without_a_best_value(sweep: Path, tmp_path: Path) -> None:
    assert main(["report", str(sweep), "--fit", "none", "--resamples", "500", "--out", str(tmp_path / "r")]) == 0
    assert not (tmp_path / "r" / "best.csv").exists() and (tmp_path / "r" / "report.png").is_file()
    assert "No best-value fit along mix.sources.0.markov.rules (--fit none); the axis spans 100x" in \
        (tmp_path / "r" / "report.md").read_text()
    assert main(["report", str(sweep), "--fit", "cubicle"]) == 2


def test_markov_report_tabulates_and_plots_a_two_dimensional_grid(tmp_path: Path, capsys) -> None:
    from codemix.recipes.report import markov as markov_report

    cells = []
    for rules in (16, 64):
        for alpha in (1.0, 0.2):
            name = f"rules={rules},alpha={alpha}"
            cell = tmp_path / "cells" / name
            mix = MixConfig.model_validate({
                "sources": [{"name": "m", "path": "builtin:markov", "domain": "general", "count": 1000,
                             "markov": {"rules": rules, "frequency": "power_law", "alpha": alpha,
                                        "heldout_rules": 40, "test_examples": 200}}],
                "decontaminate": {"enabled": False}, "dedup": "none"})
            build_mixture(mix, seed=1, out_dir=cell / "mix", recipe={"mix": mix.model_dump(mode="json")},
                          recipe_hash="t")
            (cell / "train").mkdir()
            (cell / "train" / "manifest.json").write_text(json.dumps({"steps": 10, "train_s": 55.0, "wall_s": 60.0, "final_loss": 0.5}))
            bench = cell / "eval" / "markov"
            bench.mkdir(parents=True)
            rate = (0.3 if rules == 16 else 0.7) * (1.0 if alpha == 1.0 else 0.5)
            rng = np.random.default_rng(rules)
            rows = [{"task_id": p.task_id, "completion": p.reference if rng.random() < rate else "?"}
                    for p in load_problems("markov", str(cell / "mix"))]
            (bench / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            score_samples("markov", bench / "samples.jsonl", problems_path=str(cell / "mix"), out_dir=bench,
                          show_table=False)
            cells.append({"name": name, "dir": f"cells/{name}", "status": "done",
                          "values": {"mix.sources.0.markov.rules": rules, "mix.sources.0.markov.alpha": alpha}})
    (tmp_path / "sweep.json").write_text(json.dumps({"name": "grid", "cells": cells}))
    assert markov_report.main([str(tmp_path), "--x", "alpha", "--png", str(tmp_path / "grid.png")]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("| 16") or line.startswith("| 64")]
    assert len(lines) == 4
    data = json.loads((tmp_path / "markov-report.json").read_text())
    for row in data:
        res = json.loads((tmp_path / "cells" / row["cell"] / "eval/markov/results.json").read_text())
        assert row["unseen"] == res["groups"]["unseen"]["accuracy"] and row["I"] == row["rules"]
        manifest = json.loads((tmp_path / "cells" / row["cell"] / "mix/manifest.json").read_text())
        assert row["effective_rules"] == manifest["sources"][0]["markov"]["effective_rules"]
    skewed = {r["rules"]: r["effective_rules"] for r in data if r["alpha"] == 0.2}
    assert skewed[16] < 16 and skewed[64] < 64  # the power law concentrates rows on fewer rules
    assert (tmp_path / "grid.png").stat().st_size > 10_000
    assert markov_report.main([str(tmp_path), "--x", "beta"]) == 2
    assert "--x 'beta': not a swept key (swept: rules, alpha)" in capsys.readouterr().out


def test_a_pending_baseline_falls_back_to_a_finished_cell(sweep: Path, tmp_path: Path, capsys) -> None:
    import shutil

    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy, ignore=shutil.ignore_patterns("report*"))
    spec = json.loads((copy / "sweep.json").read_text())
    spec["cells"].insert(0, {"name": "rules=1", "values": {"mix.sources.0.markov.rules": 1}, "dir": "cells/rules=1",
                             "status": "pending"})
    spec["baseline"] = "rules=1"
    (copy / "sweep.json").write_text(json.dumps(spec))
    assert main(["report", str(copy), "--fit", "none", "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "baseline cell 'rules=1' has no results yet: comparing with 'rules=10'" in out
    cmp = {(r["config"], r["benchmark"]): r for r in _csv(copy / "report" / "comparisons.csv")}
    assert cmp[("rules=1000", "markov:unseen")]["verdict"] == "better"
