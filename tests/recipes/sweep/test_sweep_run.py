"""A full sweep (mix -> train -> eval per cell) at test size: cells that differ only in `train`
share one mixture, the untrained base model is scored once as the reference row, and a second
`codemix sweep` finds everything done."""

import json
from pathlib import Path

import pytest

from codemix.recipes.cli import main
from helpers.recipes import recipe_text

pytestmark = pytest.mark.slow  # two tiny trainings + three evaluations: ~40 s on 2 cores

SWEEP = """
sweep:
  grid:
    train.learning_rate: [0.003, 0.001]
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "run"
    recipe = out.parent / "sweep.yaml"
    text = recipe_text(out).replace("max_steps: 12", "max_steps: 4")
    text = text.replace("tasks: [pyfuncs/0, pyfuncs/1, pyfuncs/2, HumanEval/0, HumanEval/1]", "tasks: [pyfuncs/0, pyfuncs/1]")
    text = text.replace("benchmarks: [pyfuncs, humaneval]\n  tasks", "benchmarks: [pyfuncs]\n  tasks")
    recipe.write_text(text + SWEEP)
    assert main(["sweep", str(recipe)]) == 0
    return out, recipe


def test_cells_share_one_mixture_and_one_reference(sweep_dir):
    out, _ = sweep_dir
    sweep = json.loads((out / "sweep.json").read_text())
    names = [c["name"] for c in sweep["cells"]]
    assert names == ["learning_rate=0.003", "learning_rate=0.001"]
    assert [c["status"] for c in sweep["cells"]] == ["done", "done"]
    assert sweep["baseline"] == names[0]
    assert sweep["reference"]["eval_dir"] == "reference/eval" and sweep["reference"]["status"] == "done"
    assert sweep["reference"]["model"] == str(out / "cells" / names[0] / "train" / "base")
    # one mixture, linked from both cells, built by the first and found up to date by the second
    mixes = list((out / "mixes").iterdir())
    assert len(mixes) == 1
    for name in names:
        assert (out / "cells" / name / "mix").resolve() == mixes[0].resolve()
    assert "[mix] built" in (out / "cells" / names[0] / "log.txt").read_text()
    assert "[mix] built" not in (out / "cells" / names[1] / "log.txt").read_text()
    content = json.loads((mixes[0] / "manifest.json").read_text())["content_hash"]
    trains = [json.loads((out / "cells" / n / "train/manifest.json").read_text()) for n in names]
    assert [t["mixture_hash"] for t in trains] == [content, content]
    assert trains[0]["inputs_hash"] != trains[1]["inputs_hash"]  # the learning rates differ
    # the base model is scored once, in reference/, not in every cell
    for name in names:
        cell = out / "cells" / name
        assert not (cell / "eval-base").exists()
        assert json.loads((cell / "summary.json").read_text())["base"] is None
        assert (cell / "eval/pyfuncs/results.json").is_file()
    ref = json.loads((out / "reference/eval/pyfuncs/results.json").read_text())
    assert ref["n_tasks"] == 2
    ref_manifest = json.loads((out / "reference/eval/pyfuncs/manifest.json").read_text())
    cell_manifest = json.loads((out / "cells" / names[0] / "eval/pyfuncs/manifest.json").read_text())
    assert ref_manifest["generation"]["prompt_style"] == cell_manifest["generation"]["prompt_style"] == "instruction"
    assert json.loads((out / "cells" / names[1] / "cell.json").read_text()) == {
        "sweep": "e2e", "name": names[1], "values": {"train.learning_rate": 0.001},
        "key": json.loads((out / "cells" / names[1] / "status.json").read_text())["key"],
        "mix": "../../" + "mixes/" + mixes[0].name, "depends_on": None, "train_launch": None, "role": "cell"}
    # the reference's summary names the model it scored what it is: the untrained base
    ref_summary = json.loads((out / "reference/summary.json").read_text())
    assert ref_summary["trained"] is None and set(ref_summary["base"]) == {"pyfuncs"}
    assert json.loads((out / "reference/cell.json").read_text())["role"] == "reference"


def test_second_sweep_skips_everything(sweep_dir, capsys):
    out, recipe = sweep_dir
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name not in ("sweep.json", ".lock")}
    assert main(["sweep", str(recipe)]) == 0
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name not in ("sweep.json", ".lock")}
    assert before == after
    assert capsys.readouterr().out.count(": done [") == 3  # two cells and the reference


def test_cell_recipe_runs_on_its_own(sweep_dir, capsys):
    out, _ = sweep_dir
    cell = out / "cells" / "learning_rate=0.001"
    assert main(["run", str(cell / "recipe.yaml")]) == 0
    printed = capsys.readouterr().out
    assert "[mix] up to date" in printed and "[train] up to date" in printed


def test_changing_the_base_recipe_reruns_the_cells(sweep_dir, capsys):
    out, recipe = sweep_dir
    assert main(["sweep", str(recipe), "--plan", "--set", "eval.max_new_tokens=12"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("pending  recipe changed since its last run") == 3
    assert main(["sweep", str(recipe), "--plan"]) == 0
    assert "3 done" in capsys.readouterr().out
    assert Path(out / "sweep.json").is_file()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="the CPU (torchrun + gloo) path")
def test_train_processes_runs_the_train_stage_in_n_processes(tmp_path, monkeypatch):
    """sweep.train_processes: 2 -> the cell trains through `codemix train --num-processes 2`."""
    out = tmp_path / "run"
    text = recipe_text(out).replace("max_steps: 12", "max_steps: 2")
    text = text[:text.index("eval:")]  # mix + train only
    recipe = tmp_path / "sweep.yaml"
    recipe.write_text(text + "sweep:\n  grid: {seed: [7]}\n  train_processes: 2\n")
    assert main(["sweep", str(recipe)]) == 0
    cell = out / "cells" / "seed=7"
    assert "[sweep] training in 2 processes" in (cell / "log.txt").read_text()
    manifest = json.loads((cell / "train/manifest.json").read_text())
    assert manifest["topology"]["num_processes"] == 2 and manifest["steps"] == 2
