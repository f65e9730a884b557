"""What a scored model is called and how it was prompted, said where a user reads it: a codemix
checkpoint is `trained` however it is named (run directory, train directory, its model/ folder),
its model/ folder is scored as the checkpoint (instruction prompts in its format, not completion
prompts that scored the same weights 0% instead of 100%), and the console and results.json say
which prompt style was used and why, and that `--limit` scored a subset."""

from __future__ import annotations

import json

import pytest

from codemix.core.artifacts import write_manifest
from codemix.eval.generation import generate
from codemix.finetune.checkpoint import is_trained_model
from codemix.recipes.cli import main
from helpers.generation import humaneval_problems, tiny_llama


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished full fine-tune as `codemix run` lays it out: <run>/train/{model,base,manifest.json}."""
    from codemix.finetune.tokenizer import build_tokenizer

    run = tmp_path_factory.mktemp("runs") / "smoke"
    train = run / "train"
    tokenizer = build_tokenizer("byte")
    for folder in ("model", "base"):
        tiny_llama(tokenizer).save_pretrained(train / folder)
        tokenizer.save_pretrained(train / folder)
    write_manifest(train, {"stage": "train", "method": "full", "is_adapter": False, "prompt_format": "alpaca",
                           "template": None, "base_model": {"kind": "random", "id": None, "revision": None}})
    return run


def test_every_spelling_of_a_checkpoint_is_a_trained_model(run_dir, tmp_path):
    train = run_dir / "train"
    for ref in (run_dir, train, train / "model"):
        assert is_trained_model(str(ref)), ref
    assert not is_trained_model(str(train / "base"))  # the untrained start
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text("{}")
    assert not is_trained_model(str(plain)) and is_trained_model(str(plain), adapter="some/adapter")


def test_the_model_folder_is_prompted_as_its_checkpoint_and_says_why(run_dir, tmp_path, capsys):
    problems = humaneval_problems()[:2]
    common = dict(max_new_tokens=4, batch_size=2)
    via_folder = generate(problems, model_ref=str(run_dir / "train" / "model"), out_dir=tmp_path / "a", **common)
    err = capsys.readouterr().err
    assert (via_folder["prompt_style"], via_folder["prompt_format"]) == ("instruction", "alpaca")
    assert "model/ folder of the codemix checkpoint" in via_folder["prompt_reason"]
    assert "[generate] prompts: instruction, alpaca format: " in err and str(run_dir / "train") in err
    # the prompts are exactly those the run directory gets
    via_run = generate(problems, model_ref=str(run_dir), out_dir=tmp_path / "b", **common)
    assert "is a codemix checkpoint" in via_run["prompt_reason"]
    assert (tmp_path / "a" / "prompts.jsonl").read_text() == (tmp_path / "b" / "prompts.jsonl").read_text()
    generation = json.loads((tmp_path / "a" / "generation.json").read_text())
    assert generation["summary"]["prompt_reason"] == via_folder["prompt_reason"]
    # base/ is a plain model: completion prompts, and the way to change that
    base = generate(problems, model_ref=str(run_dir / "train" / "base"), out_dir=tmp_path / "c", **common)
    assert base["prompt_style"] == "completion"
    assert "untrained starting model" in base["prompt_reason"] and "--prompt-style instruction" in base["prompt_reason"]
    explicit = generate(problems, model_ref=str(run_dir), out_dir=tmp_path / "d", prompt_style="completion", **common)
    assert explicit["prompt_style"] == "completion" and "as asked" in explicit["prompt_reason"]


def test_codemix_eval_of_a_run_directory_calls_it_trained_and_names_the_subset(run_dir, tmp_path, capsys,
                                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["eval", str(run_dir), "--benchmark", "humaneval", "--limit", "2", "--max-new-tokens", "4",
            "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "[eval] humaneval: scoring" in stdout and "on 2 tasks of 164 (--limit)" in stdout
    assert "humaneval pass@1 % (n=2 of 164, --limit)" in stdout
    assert "\ntrained " in stdout and "\nbase " not in stdout
    results = json.loads((out / "humaneval" / "results.json").read_text())
    assert results["subset"] == {"of": 164, "by": "--limit"}
    assert results["prompt"]["style"] == "instruction" and results["prompt"]["format"] == "alpaca"
    assert "is a codemix checkpoint" in results["prompt"]["reason"]
    manifest = json.loads((out / "humaneval" / "manifest.json").read_text())
    assert manifest["model"]["checkpoint_manifest_hash"]  # the run directory is identified by its checkpoint
    assert manifest["outputs"]["results.json"]["sha256"]  # recorded after the prompt and subset were added
    assert main(argv) == 0 and "up to date" in capsys.readouterr().out


def test_an_eval_only_recipe_calls_its_model_model_not_trained(tmp_path, capsys, monkeypatch):
    """`codemix run` of a recipe without a train stage scores a model it did not train."""
    from helpers.generation import save_tiny_byte_llama

    monkeypatch.chdir(tmp_path)
    save_tiny_byte_llama(tmp_path / "plain")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: eval-only
seed: 1
output_dir: {tmp_path / "out"}
eval:
  model: {tmp_path / "plain"}
  benchmarks: [humaneval]
  limit: 2
  max_new_tokens: 4
  workers: 1
""")
    assert main(["run", str(recipe)]) == 0
    stdout = capsys.readouterr().out
    assert "\nmodel " in stdout and "\ntrained " not in stdout
