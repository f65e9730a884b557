"""`codemix compare` and `codemix report` on run and sweep directories written as the stages write
them (tests/report_helpers.py), and end to end on a real tiny `codemix run`."""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from codemix.recipes.cli import main
from codemix.recipes.report.stats import holm, problem_weights, rng_for
from helpers.report import curve, write_results, write_run, write_sweep


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _compare_json(capsys, *args) -> dict:
    assert main(["compare", *map(str, args), "--json", "--resamples", "2000"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    return write_sweep(tmp_path_factory.mktemp("sweep") / "ratios")


@pytest.fixture(scope="module")
def sweep_report(sweep):
    assert main(["report", str(sweep), "--reference", "paper-code-mix", "--suggest", "2", "--resamples", "4000"]) == 0
    return sweep / "report"


def test_compare_identical_results(tmp_path, capsys):
    per_task = {f"t/{i}": {"n": 1, "c": i % 3 == 0} for i in range(50)}
    write_results(tmp_path / "a", "humaneval", per_task, problems_hash="h")
    write_results(tmp_path / "b", "humaneval", per_task, problems_hash="h")
    r = _compare_json(capsys, tmp_path / "a/results.json", tmp_path / "b")
    assert {"benchmark", "n_problems", "a", "b", "delta", "ci", "test", "p_value", "verdict"} <= set(r)
    assert r["delta"] == 0 and r["ci"][0] <= 0 <= r["ci"][1] and r["p_value"] == 1.0
    assert (r["test"], r["verdict"], r["n_problems"], r["benchmark"]) == ("mcnemar", "no detectable difference", 50, "humaneval")
    assert r["a"] == json.loads((tmp_path / "a/results.json").read_text())["pass_at_k"]["pass@1"]


def test_compare_twenty_more_solved_is_better_with_scipys_p(tmp_path, capsys):
    a = {f"t/{i}": {"n": 1, "c": int(i < 60)} for i in range(164)}
    b = {t: {"n": 1, "c": int(i < 80)} for i, t in enumerate(a)}
    write_results(tmp_path / "a", "humaneval", a, problems_hash="h")
    write_results(tmp_path / "b", "humaneval", dict(reversed(b.items())), problems_hash="h")  # task order differs
    r = _compare_json(capsys, tmp_path / "a", tmp_path / "b")
    assert r["p_value"] == pytest.approx(binomtest(20, 20, 0.5).pvalue) and r["p_value"] < 0.001
    assert (r["b_only"], r["a_only"], r["verdict"]) == (20, 0, "better")
    assert r["delta"] == pytest.approx(20 / 164) and r["b"] - r["a"] == pytest.approx(r["delta"])
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "20 problems only B solves, 0 only A" in capsys.readouterr().out


def test_compare_refuses_different_problems(tmp_path, capsys):
    per_task = {f"t/{i}": {"n": 1, "c": 1} for i in range(10)}
    write_results(tmp_path / "a", "mbpp", per_task, problems_hash="aaaa" * 16)
    write_results(tmp_path / "b", "mbpp", per_task, problems_hash="bbbb" * 16)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("codemix: error: ") and "different problems" in err and "aaaaaaaaaaaa" in err
    assert "Traceback" not in err


def test_compare_accuracy_and_multi_sample_results(tmp_path, capsys):
    acc_a = {f"q/{i}": {"n": 1, "c": int(i % 2 == 0)} for i in range(80)}
    acc_b = {f"q/{i}": {"n": 1, "c": int(i % 2 == 0 or i % 5 == 1)} for i in range(80)}
    write_results(tmp_path / "a", "texttasks", acc_a, problems_hash="h", kind="exact_match")
    write_results(tmp_path / "b", "texttasks", acc_b, problems_hash="h", kind="exact_match")
    r = _compare_json(capsys, tmp_path / "a", tmp_path / "b")
    assert r["metric"] == "accuracy" and r["test"] == "mcnemar" and r["b_only"] == 8 and r["a_only"] == 0
    assert r["a"] == json.loads((tmp_path / "a/results.json").read_text())["accuracy"]
    many_a = {f"t/{i}": {"n": 10, "c": i % 4} for i in range(60)}
    many_b = {f"t/{i}": {"n": 10, "c": i % 4 + 2} for i in range(60)}
    write_results(tmp_path / "c", "mbpp", many_a, problems_hash="h")
    write_results(tmp_path / "d", "mbpp", many_b, problems_hash="h")
    r = _compare_json(capsys, tmp_path / "c", tmp_path / "d")
    assert r["test"] == "bootstrap" and r["delta"] == pytest.approx(0.2) and r["verdict"] == "better"
    assert r["ci"][0] > 0 and r["p_value"] < 0.001


def test_report_writes_every_file_and_the_csv_equals_results_json(sweep, sweep_report):
    assert {p.name for p in sweep_report.iterdir()} == {
        "report.md", "report.csv", "comparisons.csv", "best.csv", "curve.csv", "problems.csv", "report.png",
        "problems.png"}
    for png in ("report.png", "problems.png"):
        assert (sweep_report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {r["cell"]: r for r in _csv(sweep_report / "report.csv")}
    spec = json.loads((sweep / "sweep.json").read_text())
    for cell in spec["cells"]:
        row = rows[cell["name"]]
        assert float(row["mix.general_fraction"]) == cell["values"]["mix.general_fraction"]
        mix = json.loads((sweep / cell["dir"] / "mix/manifest.json").read_text())
        assert int(row["rows general"]) == mix["domains"]["general"] and int(row["rows source alpaca"]) == mix["domains"]["general"]
        values = []
        for bench in ("humaneval", "mbpp"):
            res = json.loads((sweep / cell["dir"] / "eval" / bench / "results.json").read_text())
            assert float(row[f"{bench} pass@1"]) == res["pass_at_k"]["pass@1"]  # exact, not rounded
            assert [float(row[f"{bench} ci_low"]), float(row[f"{bench} ci_high"])] == res["pass_at_k_ci"]["pass@1"]
            assert int(row[f"{bench} n_problems"]) == res["n_tasks"]
            values.append(res["pass_at_k"]["pass@1"])
        assert float(row["average"]) == pytest.approx(np.mean(values), abs=1e-15)
    base = json.loads((sweep / "base/eval/humaneval/results.json").read_text())
    assert float(rows["base"]["humaneval pass@1"]) == base["pass_at_k"]["pass@1"]


def test_report_comparisons_use_mcnemar_and_holm(sweep, sweep_report):
    rows = _csv(sweep_report / "comparisons.csv")
    baseline = json.loads((sweep / "sweep.json").read_text())["cells"][0]
    per_base = json.loads((sweep / baseline["dir"] / "eval/humaneval/results.json").read_text())["per_task"]
    he = [r for r in rows if r["benchmark"] == "humaneval" and r["verdict"] != "baseline"]
    assert len(he) == 5
    for r in he:
        cell = sweep / f"cells/{r['config']},seed=1"
        per = json.loads((cell / "eval/humaneval/results.json").read_text())["per_task"]
        b_only = sum(per[t]["c"] > per_base[t]["c"] for t in per)
        a_only = sum(per[t]["c"] < per_base[t]["c"] for t in per)
        assert r["test"] == "mcnemar" and r["only_this/only_baseline"] == f"{b_only}/{a_only}"
        assert float(r["p_value"]) == pytest.approx(binomtest(b_only, b_only + a_only, 0.5).pvalue)
        assert float(r["delta"]) == pytest.approx((b_only - a_only) / 164)
    assert [float(r["p_holm"]) for r in he] == pytest.approx(holm([float(r["p_value"]) for r in he]))
    avg = [r for r in rows if r["benchmark"] == "average" and r["verdict"] != "baseline"]
    assert len(avg) == 5 and all(r["test"] == "bootstrap" for r in avg)
    assert all(r["verdict"] in ("better", "worse", "no detectable difference") for r in he + avg)


def test_report_finds_the_best_ratio_and_suggests_points(sweep_report):
    best = {r["benchmark"]: r for r in _csv(sweep_report / "best.csv")}
    avg = best["average"]
    assert avg["fit"] == "quadratic" and avg["axis"] == "mix.general_fraction"
    assert float(avg["ci_low"]) <= 0.1 <= float(avg["ci_high"])  # the generator's maximum (report_helpers.curve)
    assert curve(0.1) == max(curve(x) for x in np.linspace(0, 0.25, 26))
    md = (sweep_report / "report.md").read_text()
    assert re.search(r"best general_fraction on average: [0-9.]+ \[[0-9.]+, [0-9.]+\]", md)
    assert "least-squares fit of the logit" in md and "next general_fraction values to run" in md
    assert "![report](report.png)" in md and "![problems](problems.png)" in md
    fitted = _csv(sweep_report / "curve.csv")
    assert len(fitted) == 401 * 3


def test_report_is_deterministic(sweep, sweep_report, tmp_path):
    assert main(["report", str(sweep), "--resamples", "4000", "--out", str(tmp_path / "again"), "--suggest", "2",
                 "--reference", "paper-code-mix"]) == 0
    for name in ("comparisons.csv", "best.csv", "report.csv"):
        assert (tmp_path / "again" / name).read_text() == (sweep_report / name).read_text()


def test_two_level_bootstrap_for_seeds(tmp_path):
    sweep = write_sweep(tmp_path / "seeds", fractions=(0.0, 0.1, 0.2), seeds=(1, 2, 3))
    assert main(["report", str(sweep), "--resamples", "2000"]) == 0
    rows = _csv(sweep / "report/comparisons.csv")
    r = next(r for r in rows if r["config"] == "general_fraction=0.1" and r["benchmark"] == "mbpp")
    assert r["seeds"] == "3" and r["test"] == "two-level bootstrap" and r["only_this/only_baseline"] == ""
    seeds = [json.loads((sweep / f"cells/general_fraction=0.1,seed={s}/eval/mbpp/results.json").read_text())
             for s in (1, 2, 3)]
    assert float(r["value"]) == pytest.approx(np.mean([s["pass_at_k"]["pass@1"] for s in seeds]))
    # the interval carries the seed noise: wider than a one-level bootstrap of the seed-averaged scores
    pooled = np.mean([[t["c"] for t in s["per_task"].values()] for s in seeds], axis=0)
    one_level = problem_weights(len(pooled), 2000, rng_for(0)) @ pooled
    lo, hi = np.percentile(one_level, [2.5, 97.5])
    assert float(r["ci_high"]) - float(r["ci_low"]) > 1.2 * (hi - lo)


def test_report_on_plain_run_dirs_reads_what_varied(tmp_path, capsys):
    runs = [write_run(tmp_path / f"run{i}", f, 1, kind="exact_match") for i, f in enumerate((0.0, 0.1, 0.3))]
    assert main(["report", *map(str, runs), "--out", str(tmp_path / "out"), "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "general_fraction" in out and "accuracy %" in out
    rows = {r["cell"]: r for r in _csv(tmp_path / "out/report.csv")}
    assert [float(rows[f"run{i}"]["mix.general_fraction"]) for i in range(3)] == [0.0, 0.1, 0.3]
    res = json.loads((runs[1] / "eval/mbpp/results.json").read_text())
    assert float(rows["run1"]["mbpp accuracy"]) == res["accuracy"]
    assert (tmp_path / "out/best.csv").is_file()


def test_report_refuses_mixed_problem_sets_and_unknown_baseline(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "s", fractions=(0.0, 0.1))
    assert main(["report", str(sweep), "--baseline", "nope"]) == 2
    assert "--baseline 'nope': no such cell" in capsys.readouterr().err
    res_path = sweep / "cells/general_fraction=0.1,seed=1/eval/mbpp/results.json"
    res = json.loads(res_path.read_text())
    res["problems_hash"] = "other"
    res_path.write_text(json.dumps(res))
    assert main(["report", str(sweep)]) == 2
    assert "mbpp: cells were scored on different problems" in capsys.readouterr().err


def test_report_lists_unfinished_cells_and_skips_the_fit_with_two_points(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "s", fractions=(0.0, 0.1))
    spec = json.loads((sweep / "sweep.json").read_text())
    spec["cells"].append({"name": "general_fraction=0.2,seed=1", "values": {"mix.general_fraction": 0.2, "seed": 1},
                          "dir": "cells/general_fraction=0.2,seed=1", "status": "failed"})
    (sweep / "sweep.json").write_text(json.dumps(spec))
    assert main(["report", str(sweep), "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "2 of 3 cells with results" in out and "failed" in out
    assert "needs at least 3 distinct axis values" in out  # two points: no best-value fit
    assert not (sweep / "report/best.csv").exists() and (sweep / "report/report.png").is_file()


def test_numeric_axis_accepts_zipped_keys_but_not_a_second_dimension():
    from codemix.recipes.report.analysis import Config, numeric_axis

    zipped = [Config(f"b={b}", {"mix.budget": b, "train.max_steps": b // 10}, []) for b in (1000, 2000, 4000)]
    assert numeric_axis(zipped, None)[0] is None and "choose one with --axis" in numeric_axis(zipped, None)[1]
    assert numeric_axis(zipped, "budget") == ("mix.budget", None)
    grid = [Config(f"{a},{b}", {"mix.general_fraction": a, "train.learning_rate": b}, [])
            for a in (0.0, 0.1, 0.2) for b in (1e-5, 2e-5)]
    axis, why = numeric_axis(grid, "general_fraction")
    assert axis is None and "train.learning_rate" in why
    words = [Config(f"p={p}", {"train.prompt_format": p}, []) for p in ("alpaca", "plain")]
    assert numeric_axis(words, None) == (None, "best value: train.prompt_format is not numeric")


def test_configurations_keep_the_sweeps_cell_names():
    from codemix.recipes.report.data import Cell

    assert Cell("general_fraction=0,seed=2", {"mix.general_fraction": 0.0, "seed": 2}).config == "general_fraction=0"
    assert Cell("general_fraction=0", {"mix.general_fraction": 0.0}).config == "general_fraction=0"
    assert Cell("run7", {"mix.general_fraction": 0.0, "seed": 2}).config == "general_fraction=0.0"
    assert Cell("seed=3", {"seed": 3}).config == "all"


def test_flat_scores_have_no_best_value(tmp_path, capsys):
    sweep = write_sweep(tmp_path / "flat", fractions=(0.0, 0.1, 0.2))
    for res_path in sweep.glob("cells/*/eval/*/results.json"):
        res = json.loads(res_path.read_text())
        write_results(res_path.parent, res["benchmark"], {t: {"n": 1, "c": 0} for t in res["per_task"]},
                      problems_hash=res["problems_hash"])
    assert main(["report", str(sweep), "--resamples", "500"]) == 0
    out = capsys.readouterr().out
    assert "best value on average: every configuration scores 0.0%; no maximum" in out
    assert "best general_fraction" not in out and not (sweep / "report/best.csv").exists()
