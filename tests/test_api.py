"""The Python API, driven as a notebook would: load a recipe, mix, train a few steps, evaluate,
run, report, score samples and compare them; every result is the typed object holding the JSON
file its command wrote. Plus what the package promises around it: `import codemix` loads no
heavy library, every command has its function, and `codemix --version` is `codemix.__version__`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import codemix
from codemix.recipes.cli import COMMANDS, main
from helpers.recipes import TINY_TRAIN, TWO_SOURCES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HEAVY = ("torch", "transformers", "datasets", "peft", "trl", "accelerate", "pyarrow", "matplotlib", "numpy",
         "pydantic", "yaml")
# The API function of each command (`codemix eval` is `codemix.evaluate`: `eval` is a builtin).
FUNCTIONS = {**{c: c for c in COMMANDS}, "eval": "evaluate"}
PYFUNCS_TASKS = ["pyfuncs/0", "pyfuncs/1", "pyfuncs/2"]


def recipe_text(out: Path) -> str:
    return f"""
name: api
seed: 3
output_dir: {out}
mix:
  budget: 96
  general_fraction: 0.25
{TWO_SOURCES}
  decontaminate: {{enabled: false}}
{TINY_TRAIN}
  logging_steps: 2
  report_to: [none]
eval:
  benchmarks: [pyfuncs]
  tasks: [{", ".join(PYFUNCS_TASKS)}]
  max_new_tokens: 8
  batch_size: 8
  workers: 1
"""


def test_import_codemix_loads_no_heavy_library():
    # The API's names resolve on first use; the sandbox workers and `codemix --help` import this
    # package too. Touching a function (not calling it) must stay cheap as well.
    code = ("import sys, json, codemix; codemix.run; codemix.score; codemix.MixResult; "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_every_command_has_its_api_function():
    for command, function in FUNCTIONS.items():
        assert callable(getattr(codemix, function)), command
        assert getattr(codemix, function).__doc__, f"codemix.{function} has no docstring"
    assert set(codemix.__all__) <= set(dir(codemix))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        codemix.nothing  # noqa: B018


def test_version_flag_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"codemix {codemix.__version__}"


def test_user_errors_are_codemix_errors(tmp_path):
    with pytest.raises(codemix.CodemixError, match="no recipe file or bundled recipe named 'no-such'"):
        codemix.load_recipe("no-such")
    recipe = codemix.load_recipe("smoke")
    with pytest.raises(codemix.CodemixError, match="overrides apply to a recipe file"):
        codemix.mix(recipe, overrides=["mix.budget=10"])
    with pytest.raises(codemix.CodemixError, match="--samples: .* does not exist"):
        codemix.score(tmp_path / "none.jsonl", "humaneval")


def test_validate_returns_the_recipe_and_its_stages():
    (result,) = codemix.validate(["smoke"], overrides=["train.max_steps=3"])
    assert isinstance(result.recipe, codemix.Recipe) and result.recipe.train.max_steps == 3
    assert result.stages == ["mix", "train", "eval"] and result.cells is None
    assert result.path == result.recipe.source and result.path.name == "smoke.yaml"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """The notebook: one recipe through mix -> train -> evaluate -> run (~10 s on 2 cores)."""
    root = tmp_path_factory.mktemp("api")
    path = root / "api.yaml"
    path.write_text(recipe_text(root / "run"))
    recipe = codemix.load_recipe(path, overrides=["train.max_steps=4"])
    mixed = codemix.mix(recipe)
    again = codemix.mix(recipe)
    trained = codemix.train(recipe)
    scored = codemix.evaluate(trained.out_dir, benchmarks=["pyfuncs"], tasks=PYFUNCS_TASKS, max_new_tokens=8,
                              workers=1, out=root / "evals")
    run = codemix.run(recipe)
    return {"root": root, "path": path, "recipe": recipe, "mixed": mixed, "again": again, "trained": trained,
            "scored": scored, "run": run}


def test_load_recipe_applies_overrides_and_records_its_file(experiment):
    recipe = experiment["recipe"]
    assert isinstance(recipe, codemix.Recipe)
    assert recipe.train.max_steps == 4 and recipe.source == experiment["path"]


def test_mix_returns_the_manifest_it_wrote(experiment):
    mixed, again = experiment["mixed"], experiment["again"]
    assert isinstance(mixed, codemix.MixResult) and mixed.built and not again.built
    assert mixed.rows == 96 and again.content_hash == mixed.content_hash
    assert mixed.data == json.loads((mixed.out_dir / "manifest.json").read_text())


def test_train_returns_the_checkpoint_and_its_manifest(experiment):
    trained, mixed = experiment["trained"], experiment["mixed"]
    assert isinstance(trained, codemix.TrainResult) and trained.built and trained.main_process
    assert trained.steps == 4 and trained.final_loss > 0
    assert trained.data == json.loads((trained.out_dir / "manifest.json").read_text())
    assert trained.data["mixture_hash"] == mixed.content_hash


def test_evaluate_scores_the_checkpoint(experiment):
    scored = experiment["scored"]
    assert isinstance(scored, codemix.EvalResult) and list(scored.benchmarks) == ["pyfuncs"]
    pyfuncs = scored["pyfuncs"]
    assert pyfuncs.data == json.loads(pyfuncs.results_path.read_text())
    assert pyfuncs.results_path == experiment["root"] / "evals" / "pyfuncs" / "results.json"
    assert set(pyfuncs.pass_at_k) == {1} and 0 <= pyfuncs.pass_at_k[1] <= 1
    assert pyfuncs.data["n_tasks"] == 3


def test_run_reuses_the_stages_and_writes_the_summary(experiment, capsys):
    run, trained = experiment["run"], experiment["trained"]
    assert isinstance(run, codemix.RunResult)
    assert run.data == json.loads((run.out_dir / "summary.json").read_text())
    assert run.data["stages"]["train"]["final_loss"] == trained.final_loss  # trained once, not twice
    assert set(run.trained) == {"pyfuncs"} and run.base is None


def test_report_over_the_run(experiment):
    result = codemix.report([experiment["run"].out_dir], out=experiment["root"] / "report", resamples=200)
    assert isinstance(result, codemix.ReportResult) and "pyfuncs" in result.text
    assert (result.out_dir / "report.md").is_file() and all(f.is_file() for f in result.files)


def _samples(path: Path, problems: dict, tasks: list[str], broken: set[str]) -> Path:
    rows = [{"task_id": t, "completion": "    return None\n" if t in broken else problems[t].canonical_solution}
            for t in tasks]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_then_compare(tmp_path, humaneval_problems):
    tasks = ["HumanEval/0", "HumanEval/2", "HumanEval/4"]
    right = codemix.score(_samples(tmp_path / "right.jsonl", humaneval_problems, tasks, set()), "humaneval",
                          tasks=tasks, workers=1)
    wrong = codemix.score(_samples(tmp_path / "wrong.jsonl", humaneval_problems, tasks, {"HumanEval/2"}),
                          "humaneval", tasks=tasks, workers=1)
    assert isinstance(right, codemix.ScoreResult) and right.metric == "pass@k"
    assert right.pass_at_k == {1: 1.0} and wrong.pass_at_k[1] == pytest.approx(2 / 3)
    assert right.out_dir == tmp_path / "right.score" and right.data == json.loads(right.results_path.read_text())
    comparison = codemix.compare(right.out_dir, wrong.out_dir, resamples=200)
    assert isinstance(comparison, codemix.Comparison)
    assert comparison.delta == pytest.approx(-1 / 3) and comparison.data["test"] == "mcnemar"
    assert comparison.data["a_only"] == 1 and comparison.data["b_only"] == 0
    assert comparison.verdict == "no detectable difference"  # one problem of three: p = 1
    assert "B - A" in comparison.text()
