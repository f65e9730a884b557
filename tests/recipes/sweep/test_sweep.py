"""`codemix sweep`: grid expansion and names, validation up front, resume, --cells, failures,
locks held by other processes, two concurrent launchers, and the submitit (Slurm) path run
through submitit's local executor. Mixture-only cells keep these tests to seconds; the full
mix -> train -> eval cell (shared mixture, one reference evaluation) is in test_sweep_run.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from codemix.core.errors import CodemixError
from codemix.recipes.cli import main
from codemix.recipes.sweep.config import slurm_minutes
from codemix.recipes.sweep.launchers.local import gpu_slots
from codemix.recipes.sweep.launchers.slurm import executor_parameters
from codemix.recipes.sweep.runner import axis_labels, format_value, load_sweep
from helpers.mixing import alpaca_rows, write_jsonl

REPO_ROOT = Path(__file__).resolve().parents[3]


def _recipe(tmp_path: Path, sweep: dict, *, budget: int = 200, name: str = "sw", **mix) -> Path:
    code = write_jsonl(tmp_path / "code.jsonl", alpaca_rows(400, "code"))
    general = write_jsonl(tmp_path / "general.jsonl", alpaca_rows(400, "general"))
    data = {"name": name, "seed": 1, "output_dir": str(tmp_path / "out"),
            "mix": {"budget": budget, "general_fraction": 0.1,
                    "sources": [{"name": "code", "path": str(code), "domain": "code"},
                                {"name": "general", "path": str(general), "domain": "general"}],
                    "decontaminate": {"enabled": False}, **mix},
            "sweep": sweep}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _status(out: Path) -> dict[str, str]:
    return {c["name"]: c["status"] for c in json.loads((out / "sweep.json").read_text())["cells"]}


def _runs(cell_dir: Path) -> int:
    """How many times the cell's pipeline actually ran (each run appends one header to log.txt)."""
    log = cell_dir / "log.txt"
    return log.read_text().count("\n=== ") if log.exists() else 0


# ---------------------------------------------------------------- expansion and names

def test_grid_product_and_zip_in_declaration_order(tmp_path):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1], "seed": [1, 2]},
                              "zip": {"mix.budget": [100, 200], "mix.dedup": ["exact", "none"]}})
    sweep = load_sweep(str(path))
    names = [c.name for c in sweep.cells]
    assert len(names) == 2 * 2 * 2
    assert names[:3] == ["general_fraction=0,seed=1,budget=100,dedup=exact",
                         "general_fraction=0,seed=1,budget=200,dedup=none",
                         "general_fraction=0,seed=2,budget=100,dedup=exact"]
    # zip keys move together; the values really reach each cell's validated recipe
    for c in sweep.cells:
        assert (c.recipe.mix.budget, c.recipe.mix.dedup) in {(100, "exact"), (200, "none")}
        assert c.recipe.mix.general_fraction == c.values["mix.general_fraction"]
        assert c.recipe.seed == c.values["seed"]
        assert c.dir == tmp_path / "out" / "cells" / c.name
        assert c.recipe.sweep is None and c.recipe.output_dir == str(c.dir)
    assert sweep.axes == {"mix.general_fraction": [0, 0.1], "seed": [1, 2], "mix.budget": [100, 200],
                          "mix.dedup": ["exact", "none"]}
    assert [c.name for c in load_sweep(str(path)).cells] == names  # stable across loads


def test_zip_values_may_repeat_across_rows(tmp_path):
    # rules 100 with seeds 1 and 2: the value repeats, the rows do not
    sweep = load_sweep(str(_recipe(tmp_path, {"zip": {"mix.budget": [10, 10, 20], "seed": [1, 2, 1]}})))
    assert [c.name for c in sweep.cells] == ["budget=10,seed=1", "budget=10,seed=2", "budget=20,seed=1"]


def test_names_disambiguate_shared_last_components():
    labels = axis_labels(["mix.sources.0.weight", "mix.sources.1.weight", "train.learning_rate", "seed"])
    assert labels == {"mix.sources.0.weight": "sources.0.weight", "mix.sources.1.weight": "sources.1.weight",
                      "train.learning_rate": "learning_rate", "seed": "seed"}
    assert axis_labels(["train.lora.r", "eval.r"]) == {"train.lora.r": "lora.r", "eval.r": "eval.r"}
    assert [format_value(v) for v in (0.0, 0.05, 1e-5, 3, True, "a/b c", [1, 2])] == \
        ["0", "0.05", "1e-05", "3", "true", "a_b_c", "1_2"]


def test_shared_mixture_only_where_the_mix_inputs_agree(tmp_path):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1], "mix.dedup": ["exact", "none"]}})
    cells = load_sweep(str(path)).cells
    assert len({c.mix_dir for c in cells}) == 4  # every cell's mix section differs
    path = _recipe(tmp_path, {"grid": {"seed": [1, 2], "mix.sources.0.path": ["a/b.jsonl", "a_b.jsonl"]}})
    with pytest.raises(CodemixError, match="both get the name"):
        load_sweep(str(path))


# ---------------------------------------------------------------- validation up front

@pytest.mark.parametrize("sweep, pattern", [
    ({"grid": {"mix.budgett": [1, 2]}},
     r"\(sweep cell budgett=1\): unknown key 'mix.budgett' \(did you mean 'budget'\?\)"),
    ({"grid": {"mix.general_fraction": [0.1, 1.5]}},
     r"\(sweep cell general_fraction=1.5\): mix.general_fraction: .*\[0, 1\]"),
    ({"grid": {"mix.on_shortage": ["error", "pad"]}},
     r"\(sweep cell on_shortage=pad\): mix.on_shortage: .*'error', 'upsample' or 'shrink'"),
    ({"grid": {"seed": [1]}, "zip": {"mix.budget": [10, 20], "mix.output_format": ["jsonl", "csv"]}},
     r"\(sweep cell seed=1,budget=20,output_format=csv\): mix.output_format: .*'jsonl' or 'parquet'"),
    ({"zip": {"mix.budget": [1, 2], "seed": [1]}}, r"sweep: zip lists must have equal lengths"),
    ({"grid": {"seed": []}}, r"grid.seed: empty list"),
    ({"grid": {"seed": [1, 1]}}, r"grid.seed: repeated values"),
    ({"zip": {"mix.budget": [10, 10], "seed": [1, 1]}}, r"zip: repeated rows"),
    ({"grid": {"output_dir": ["a", "b"]}}, r"grid.output_dir: the sweep sets this itself"),
    ({"grid": {}}, r"needs at least one key"),
    ({"grid": {"seed": [1]}, "paralel": 2}, r"unknown key 'sweep.paralel' \(did you mean 'parallel'\?\)"),
    ({"grid": {"seed": [1]}, "slurm": {"time": "forever"}}, r"sweep.slurm.time: .*Slurm's format"),
])
def test_bad_sweeps_fail_before_anything_runs(tmp_path, capsys, sweep, pattern):
    path = _recipe(tmp_path, sweep)
    with pytest.raises(CodemixError, match=pattern):
        load_sweep(str(path))
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"codemix: error: {path}")
    assert not (tmp_path / "out").exists()


def test_plan_writes_nothing_and_lists_pending(tmp_path, capsys):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1]}})
    assert main(["sweep", str(path), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "general_fraction=0  " in out and "general_fraction=0.1  pending" in out and "2 pending" in out
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- running, resume, subsets, failures

def test_resume_skips_finished_cells_and_cells_subsets(tmp_path, capsys):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1, 0.2]}})
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--cells", "general_fraction=0,general_fraction=0.2"]) == 0
    assert _status(out) == {"general_fraction=0": "done", "general_fraction=0.1": "pending", "general_fraction=0.2": "done"}
    first = (out / "cells/general_fraction=0/mix/data.jsonl").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["sweep", str(path)]) == 0
    assert set(_status(out).values()) == {"done"}
    assert [_runs(out / "cells" / n) for n in _status(out)] == [1, 1, 1]  # the finished two were skipped
    assert (out / "cells/general_fraction=0/mix/data.jsonl").stat().st_mtime_ns == first
    # each cell is a plain recipe run: its own mixture with the swept fraction
    mix = json.loads((out / "cells/general_fraction=0.2/mix/manifest.json").read_text())
    assert mix["rows"] == 200 and json.loads((out / "cells/general_fraction=0.2/cell.json").read_text())["values"] == {
        "mix.general_fraction": 0.2}
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["baseline"] == "general_fraction=0" and sweep["reference"] is None
    assert sweep["cells"][1] == {"name": "general_fraction=0.1", "values": {"mix.general_fraction": 0.1},
                                 "dir": "cells/general_fraction=0.1", "status": "done",
                                 "detail": sweep["cells"][1]["detail"]}
    with pytest.raises(CodemixError, match=r"no cell named 'general_fraction=0.3'.*did you mean 'general_fraction=0.2'"):
        main(["sweep", str(path), "--cells", "general_fraction=0.3", "--debug"])


def test_failed_cell_is_reported_and_the_others_go_on(tmp_path, capsys):
    path = _recipe(tmp_path, {"grid": {"mix.budget": [50, 5000, 80]}})  # 5000 > 800 rows: shortage
    out = tmp_path / "out"
    assert main(["sweep", str(path)]) == 1
    assert _status(out) == {"budget=50": "done", "budget=5000": "failed", "budget=80": "done"}
    status = json.loads((out / "cells/budget=5000/status.json").read_text())
    assert "general" in status["error"] or "code" in status["error"]
    assert "Traceback" in (out / "cells/budget=5000/error.txt").read_text()
    printed = capsys.readouterr().out
    assert "[sweep] budget=5000: failed (" in printed and "1 failed" in printed
    # --fail-fast: nothing after the failure starts
    for d in ("budget=50", "budget=80"):
        (out / "cells" / d / "status.json").unlink()
    assert main(["sweep", str(path), "--fail-fast"]) == 1
    assert _status(out) == {"budget=50": "done", "budget=5000": "failed", "budget=80": "pending"}


_HOLD = textwrap.dedent("""
    import sys, time
    from codemix.core.locks import locked
    with locked(sys.argv[1], what="another launcher"):
        print("held", flush=True)
        time.sleep(600)
""")


def test_a_cell_held_by_another_process_is_left_alone(tmp_path, capsys):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1]}})
    out = tmp_path / "out"
    held = out / "cells" / "general_fraction=0.1"
    held.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(held)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert main(["sweep", str(path), "--plan"]) == 0
        assert f"general_fraction=0.1  running  pid {proc.pid}" in capsys.readouterr().out
        assert main(["sweep", str(path)]) == 0
        assert "general_fraction=0.1: running (held by another launcher)" in capsys.readouterr().out
        assert _status(out) == {"general_fraction=0": "done", "general_fraction=0.1": "running"}
        assert _runs(held) == 0
    finally:
        proc.kill()
        proc.wait()
    assert main(["sweep", str(path)]) == 0  # the holder died: its lock went with it
    assert _status(out) == {"general_fraction=0": "done", "general_fraction=0.1": "done"}


def test_two_concurrent_launchers_run_every_cell_exactly_once(tmp_path):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1, 0.2], "seed": [1, 2]}}, budget=300)
    env = {**os.environ, "CODEMIX_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "codemix", "sweep", str(path)]
    launchers = [subprocess.Popen(cmd + extra, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for extra in ([], ["--parallel", "2"])]
    outputs = [p.communicate(timeout=300)[0] for p in launchers]
    assert [p.returncode for p in launchers] == [0, 0], outputs
    out = tmp_path / "out"
    cells = sorted(p for p in (out / "cells").iterdir())
    assert len(cells) == 6
    assert {c.name: _runs(c) for c in cells} == {c.name: 1 for c in cells}
    assert set(_status(out).values()) == {"done"}
    assert all("[sweep] " in o and ": done" in o for o in outputs)
    assert len(list((out / "mixes").iterdir())) == 6  # one per (fraction, seed)


# ---------------------------------------------------------------- launchers' settings

def test_gpu_groups_per_cell():
    assert gpu_slots(["0", "1", "2", "3"], 2, None) == [["0", "1"], ["2", "3"]]
    assert gpu_slots(["0", "1", "2"], 1, 2) == [["0"], ["1"]]
    assert gpu_slots([], 1, None) == [] and gpu_slots(["0"], 0, None) == []
    with pytest.raises(CodemixError, match="only 1 GPU"):
        gpu_slots(["0"], 2, None)
    with pytest.raises(CodemixError, match="needs 6 GPUs; 4 visible"):
        gpu_slots(["0", "1", "2", "3"], 2, 3)


def test_slurm_settings_from_recipe_and_flags(tmp_path):
    from codemix.recipes.sweep.launchers import LaunchOptions

    assert [slurm_minutes(t) for t in ("90", "1:30", "02:00:00", "1-00:00:00", "2-12", "00:00:30")] == \
        [90, 2, 120, 1440, 3600, 1]
    path = _recipe(tmp_path, {"grid": {"seed": [1]},
                              "slurm": {"partition": "gpu", "time": "4:00:00", "gpus_per_node": 2, "account": "lab",
                                        "setup": ["module load cuda"], "additional": {"exclusive": True}}})
    sweep = load_sweep(str(path))
    params = executor_parameters(sweep, LaunchOptions(gpus_per_cell=4, slurm={"time": "30", "additional": {"constraint": "h100"}}))
    assert params["slurm_partition"] == "gpu" and params["timeout_min"] == 30 and params["gpus_per_node"] == 4
    assert params["slurm_account"] == "lab" and params["slurm_setup"] == ["module load cuda"]
    assert params["slurm_additional_parameters"] == {"exclusive": True, "constraint": "h100"}
    # a mixture-only recipe runs on CPUs: the open resources get the CPU defaults
    assert params["slurm_mem"] == "8G" and params["cpus_per_task"] == 4 and "slurm_qos" not in params
    assert params["slurm_signal_delay_s"] == 90


def test_slurm_launcher_through_submitits_local_executor(tmp_path, monkeypatch, capsys):
    path = _recipe(tmp_path, {"grid": {"mix.general_fraction": [0, 0.1], "mix.budget": [60, 5000]}})
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--launcher", "slurm", "--cluster", "local", "--gpus-per-cell", "0"]) == 1
    assert _status(out) == {"general_fraction=0,budget=60": "done", "general_fraction=0,budget=5000": "failed",
                            "general_fraction=0.1,budget=60": "done", "general_fraction=0.1,budget=5000": "failed"}
    printed = capsys.readouterr().out
    assert "[sweep] submitted 4 cell(s) as job " in printed
    cell = out / "cells" / "general_fraction=0.1,budget=60"
    logs = sorted(p.name for p in cell.glob("slurm-*"))
    assert len(logs) == 2 and logs[0].endswith(".err") and logs[1].endswith(".out")
    assert (cell / logs[1]).resolve().is_file() and (cell / logs[1]).resolve().is_relative_to(out / "slurm")
    assert json.loads((cell / "mix/manifest.json").read_text())["rows"] == 60
    # a second submission skips the finished cells (each job finds its cell done)
    assert main(["sweep", str(path), "--launcher", "slurm", "--cluster", "local", "--gpus-per-cell", "0",
                 "--cells", "general_fraction=0,budget=60"]) == 0
    assert _runs(out / "cells" / "general_fraction=0,budget=60") == 1


def test_reference_is_shared_only_when_model_and_eval_settings_are_common(tmp_path):
    from helpers.recipes import recipe_text

    base = yaml.safe_load(recipe_text(tmp_path / "out"))

    def load(sweep: dict, **train_model):
        data = {**base, "sweep": sweep}
        if train_model:
            data["train"] = {**base["train"], "model": train_model}
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump(data))
        return load_sweep(str(path))

    sweep = load({"grid": {"mix.general_fraction": [0, 0.2]}})
    assert [c.recipe.eval.include_base for c in sweep.cells] == [False, False]
    ref = sweep.reference
    assert ref.depends_on == sweep.cells[0].name and sweep.reference_eval_dir == "reference/eval"
    assert ref.recipe.eval.model == str(sweep.cells[0].dir / "train" / "base") and ref.recipe.train is None
    assert ref.recipe.eval.prompt_style == "instruction" and ref.recipe.eval.tasks == base["eval"]["tasks"]
    assert ref.upstream_key == sweep.cells[0].key  # retraining the baseline invalidates the reference

    pretrained = load({"grid": {"mix.general_fraction": [0, 0.2]}}, path="org/some-model")
    assert pretrained.reference.depends_on is None and pretrained.reference.recipe.eval.model == "org/some-model"

    per_cell = load({"grid": {"eval.max_new_tokens": [8, 16]}})  # eval settings differ: each cell its own base
    assert per_cell.reference is None and [c.recipe.eval.include_base for c in per_cell.cells] == [True, True]
    assert per_cell.reference_eval_dir == "cells/max_new_tokens=8/eval-base"

    off = load({"grid": {"seed": [1, 2]}, "include_base": False})
    assert off.reference is None and off.reference_eval_dir is None
    assert [c.recipe.eval.include_base for c in off.cells] == [False, False]
