"""End to end: `codemix run` on a test-sized recipe (mix -> train -> eval with the base model as
reference), the run directory's exact file set, the manifests' hash links, and skipping."""

import json
import re
from pathlib import Path

import pytest

from codemix.core.artifacts import hash_json
from codemix.recipes.cli import main
from helpers.recipes import recipe_text

BENCH_FILES = {"inputs.json", "generation.json", "manifest.json", "prompts.jsonl", "results.json", "results.jsonl",
               "results.run.json", "samples.jsonl", "samples.raw.jsonl"}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    recipe = out.parent / "e2e.yaml"
    recipe.write_text(recipe_text(out))
    assert main(["run", str(recipe)]) == 0
    return out, recipe


def test_run_writes_every_stage_and_a_summary(run_dir):
    out, _ = run_dir
    files = _files(out)
    expected = {"mix/data.jsonl", "mix/manifest.json", "summary.json", "summary.png",
                "train/manifest.json", "train/loss.png"}
    expected |= {f"{d}/{b}/{f}" for d in ("eval", "eval-base") for b in ("pyfuncs", "humaneval") for f in BENCH_FILES}
    expected |= {f"{d}/pyfuncs/problems.jsonl" for d in ("eval", "eval-base")}  # generated problems are kept
    train_files = {f for f in files if f.startswith("train/")}
    assert expected - files == set(), f"missing: {sorted(expected - files)}"
    assert {f for f in files - train_files} == {f for f in expected if not f.startswith("train/")}, "unexpected files"
    # the checkpoint: a full model and the random starting weights, both with their tokenizer
    for sub in ("model", "base"):
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {f.split("/", 2)[2] for f in train_files if f.startswith(f"train/{sub}/")}
    assert not any(f.startswith("train/checkpoints/") for f in files), "intermediate checkpoints must be cleaned up"


def test_manifests_link_by_hash(run_dir):
    out, _ = run_dir
    mix = json.loads((out / "mix/manifest.json").read_text())
    train = json.loads((out / "train/manifest.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert train["mixture_hash"] == mix["content_hash"]
    assert train["recipe_hash"] == mix["recipe_hash"] == summary["recipe_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", mix["content_hash"])
    for bench in ("pyfuncs", "humaneval"):
        ev = json.loads((out / "eval" / bench / "manifest.json").read_text())
        assert ev["model"]["checkpoint_manifest_hash"] == hash_json(train)
        assert ev["recipe_hash"] == summary["recipe_hash"]
        results = json.loads((out / "eval" / bench / "results.json").read_text())
        assert ev["problems_hash"] == results["problems_hash"]
        assert results["n_tasks"] == (3 if bench == "pyfuncs" else 2)
        assert summary["trained"][bench]["pass_at_k"] == results["pass_at_k"]
        base = json.loads((out / "eval-base" / bench / "results.json").read_text())
        assert summary["base"][bench]["pass_at_k"] == base["pass_at_k"]
        base_manifest = json.loads((out / "eval-base" / bench / "manifest.json").read_text())
        assert base_manifest["generation"]["prompt_style"] == ev["generation"]["prompt_style"] == "instruction"
    assert summary["wall_s"] > 0


def test_second_run_skips_every_stage(run_dir, capsys):
    out, recipe = run_dir
    before = {f: (out / f).stat().st_mtime_ns for f in _files(out) if not f.startswith("summary")}
    assert main(["run", str(recipe)]) == 0
    printed = capsys.readouterr().out
    assert "[mix] up to date" in printed and "[train] up to date" in printed
    assert printed.count("up to date") >= 2 + 4  # mix, train, and 2 benchmarks x (model, base)
    after = {f: (out / f).stat().st_mtime_ns for f in _files(out) if not f.startswith("summary")}
    assert before == after


def test_changing_eval_settings_keeps_mixture_and_checkpoint(run_dir, capsys):
    out, recipe = run_dir
    train_manifest = (out / "train/manifest.json").read_text()
    assert main(["run", str(recipe), "--set", "eval.max_new_tokens=12", "--set", "eval.include_base=false"]) == 0
    printed = capsys.readouterr().out
    assert "[mix] up to date" in printed and "[train] up to date" in printed
    assert (out / "train/manifest.json").read_text() == train_manifest
    ev = json.loads((out / "eval/pyfuncs/manifest.json").read_text())
    assert ev["generation"]["max_new_tokens"] == 12
    assert json.loads((out / "summary.json").read_text())["base"] is None


def test_a_killed_eval_is_not_resumed_into_changed_inputs(run_dir, capsys):
    # A run killed mid-eval left samples behind; then the inputs changed (here: the length limit).
    # The leftover samples must be thrown away, not scored as if the new run had made them.
    out, recipe = run_dir
    bench = out / "eval" / "pyfuncs"
    (bench / "manifest.json").unlink()
    planted = {"task_id": "pyfuncs/0", "solution": "PLANTED = 1\n", "completion": "", "sample_index": 0}
    lines = (bench / "samples.jsonl").read_text().splitlines()
    (bench / "samples.jsonl").write_text("\n".join([json.dumps(planted), *lines[1:]]) + "\n")
    assert main(["run", str(recipe), "--set", "eval.include_base=false", "--set", "eval.max_new_tokens=10"]) == 0
    assert "PLANTED" not in (bench / "samples.jsonl").read_text()
    assert json.loads((bench / "inputs.json").read_text())["inputs"]["generation"]["max_new_tokens"] == 10


def test_report_and_compare_read_the_run(run_dir, capsys):
    # `codemix report` / `compare` on a real run: the CSV holds results.json's and the manifests' numbers
    from codemix.recipes.report.single import results_table

    out, _ = run_dir
    summary = json.loads((out / "summary.json").read_text())
    mix = summary["stages"]["mix"]
    assert mix["general_fraction"] == 0.25 and mix["domains"] == {"code": 180, "general": 60}
    table = results_table(summary["trained"], summary["trained"], composition=mix, train=summary["stages"]["train"])
    assert re.search(r"\ntrained\s+180/60\s", table) and re.search(r"\nbase\s+-\s", table)
    assert main(["compare", str(out / "eval-base/pyfuncs"), str(out / "eval/pyfuncs"), "--json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    res = json.loads((out / "eval/pyfuncs/results.json").read_text())
    assert cmp["b"] == res["pass_at_k"]["pass@1"] and cmp["n_problems"] == 3 and cmp["test"] == "mcnemar"
    assert main(["report", str(out), "--resamples", "500", "--out", str(out.parent / "report")]) == 0
    text = (out.parent / "report" / "report.csv").read_text().splitlines()
    header, trained = text[0].split(","), dict(zip(text[0].split(","), text[1].split(","), strict=True))
    assert "pyfuncs pass@1" in header and trained["cell"] == "run"
    assert float(trained["pyfuncs pass@1"]) == res["pass_at_k"]["pass@1"]
    assert float(trained["train loss"]) == json.loads((out / "train/manifest.json").read_text())["final_loss"]
