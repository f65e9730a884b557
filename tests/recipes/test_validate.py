"""`codemix validate` catches everything knowable before running: benchmark and
scheduler names, enum-like values with the closest valid one, duplicate YAML keys, local paths
that do not exist, prompts longer than the model's context; and `--set` takes list indices and
comma lists and, when wrong, names the override rather than the file."""

import time

import pytest
import yaml

from codemix.core.errors import CodemixError
from codemix.recipes.cli import main
from codemix.recipes.loader import load_recipe
from codemix.recipes.preflight import preflight

SOURCES = [{"name": "code", "path": "builtin:pyfuncs", "domain": "code"},
           {"name": "general", "path": "builtin:texttasks", "domain": "general"}]


def _recipe(tmp_path, **sections):
    body = {"name": "v", "seed": 1, "output_dir": str(tmp_path / "run"),
            "mix": {"budget": 100, "general_fraction": 0.1, "sources": SOURCES, "decontaminate": {"enabled": False}},
            **sections}
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_unknown_benchmark_fails_validate(tmp_path, capsys):
    path = _recipe(tmp_path, eval={"model": "some/model", "benchmarks": ["mbpp", "humaneva"]})
    err = _error(capsys, ["validate", str(path)])
    assert "eval.benchmarks: unknown benchmark 'humaneva' (did you mean 'humaneval'?)" in err
    assert err.startswith(f"codemix: error: {path}")


def test_unknown_scheduler_suggests_the_closest(tmp_path, capsys):
    path = _recipe(tmp_path, train={"model": {"init": "random", "arch": {}, "tokenizer": {"kind": "byte"}},
                                       "lr_scheduler": "cosinee"})
    err = _error(capsys, ["validate", str(path)])
    assert "train.lr_scheduler: 'cosinee' is not one of" in err and "(did you mean 'cosine'?)" in err


def test_scheduler_names_are_the_ones_transformers_accepts():
    from transformers.trainer_utils import SchedulerType

    from codemix.finetune.config import LR_SCHEDULERS

    assert set(LR_SCHEDULERS) == {s.value for s in SchedulerType}


@pytest.mark.parametrize("key, value, suggestion", [
    ("dedup", "exakt", "exact"), ("on_shortage", "upsampel", "upsample"), ("output_format", "parquett", "parquet")])
def test_enum_values_suggest_the_closest(tmp_path, key, value, suggestion):
    path = _recipe(tmp_path)
    with pytest.raises(CodemixError, match=rf"mix.{key}: '{value}' is not one of .*\(did you mean '{suggestion}'\?\)"):
        load_recipe(str(path), [f"mix.{key}={value}"])


def test_duplicate_yaml_key_names_file_line_and_key(tmp_path, capsys):
    path = tmp_path / "dup.yaml"
    path.write_text("name: d\nseed: 1\nmix:\n  budget: 10\n  sources:\n    - {name: a, path: builtin:pyfuncs, domain: code}\n"
                    "  sources:\n    - {name: b, path: builtin:pyfuncs, domain: code}\n")
    err = _error(capsys, ["validate", str(path)])
    assert err == f"codemix: error: {path}:7: duplicate key 'sources' (first given on line 5); give each key once"


def test_missing_local_source_path_fails_but_hub_ids_pass(tmp_path, capsys):
    bad = [{**SOURCES[0], "path": str(tmp_path / "nothere.jsonl")}, SOURCES[1]]
    path = _recipe(tmp_path)
    body = yaml.safe_load(path.read_text())
    body["mix"]["sources"] = bad
    path.write_text(yaml.safe_dump(body))
    err = _error(capsys, ["validate", str(path)])
    assert err.startswith(f"codemix: error: {path}: mix.sources[0].path: ") and "no such file or directory" in err
    # A Hub id is not a path: allowed (not fetched by validate).
    body["mix"]["sources"][0]["path"] = "ise-uiuc/Magicoder-OSS-Instruct-75K"
    path.write_text(yaml.safe_dump(body))
    assert main(["validate", str(path)]) == 0


def test_missing_local_model_and_problems_fail(tmp_path, capsys):
    path = _recipe(tmp_path, eval={"model": "./models/nothere", "benchmarks": ["humaneval"]})
    assert "eval.model: ./models/nothere: no such directory" in _error(capsys, ["validate", str(path)])
    path = _recipe(tmp_path, eval={"model": "owner/name", "benchmarks": ["mbpp"],
                                   "problems": {"mbpp": str(tmp_path / "mbpp.jsonl")}})
    # validate (often run on a laptop for a cluster) warns about a missing problems file ...
    assert main(["validate", str(path)]) == 0
    assert "eval.problems.mbpp:" in capsys.readouterr().err
    # ... and `codemix run`, where it must exist, stops before the first stage.
    assert "eval.problems.mbpp:" in _error(capsys, ["run", str(path)])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value, hint", [(10, "(did you mean 0.1?)"), (12.5, "(did you mean 0.125?)"),
                                         (1.5, None), (250, None)])
def test_fraction_suggestion_only_when_it_looks_like_a_percentage(tmp_path, value, hint):
    path = _recipe(tmp_path)
    with pytest.raises(CodemixError) as e:
        load_recipe(str(path), [f"mix.general_fraction={value}"])
    msg = str(e.value)
    assert "is a fraction in [0, 1]" in msg
    if hint:
        assert hint in msg
    else:
        assert "did you mean" not in msg  # 1.5 -> 0.015 would be a guess, not a correction


def test_set_takes_list_indices_and_comma_lists(tmp_path):
    path = _recipe(tmp_path, eval={"model": "some/model"})
    recipe, _ = load_recipe(str(path), ["mix.sources[1].weight=2", "mix.sources[0].path=builtin:texttasks",
                                        "eval.benchmarks=humaneval,mbpp", "eval.k=1", "mix.sources.1.split=test"])
    assert recipe.mix.sources[1].weight == 2 and recipe.mix.sources[0].path == "builtin:texttasks"
    assert recipe.mix.sources[1].split == "test"
    assert recipe.eval.benchmarks == ["humaneval", "mbpp"] and recipe.eval.k == [1]
    recipe, _ = load_recipe(str(path), ["eval.benchmarks=[pyfuncs]"])
    assert recipe.eval.benchmarks == ["pyfuncs"]
    # A field that takes a list or one value is split only at commas.
    recipe, _ = load_recipe("ratio-demo", ["train.lora.target_modules=all-linear", "train.report_to=none"])
    assert recipe.train.lora.target_modules == "all-linear" and recipe.train.report_to == ["none"]
    recipe, _ = load_recipe("ratio-demo", ["train.lora.target_modules=q_proj,v_proj"])
    assert recipe.train.lora.target_modules == ["q_proj", "v_proj"]


def test_set_errors_name_the_override(tmp_path, capsys):
    path = _recipe(tmp_path, eval={"model": "some/model"})
    err = _error(capsys, ["validate", str(path), "--set", "mix.sources[0].fromat=alpaca"])
    assert err == ("codemix: error: --set mix.sources[0].fromat=alpaca: unknown key 'mix.sources[0].fromat' "
                   "(did you mean 'format'?)")
    err = _error(capsys, ["validate", str(path), "--set", "mix.sources[5].path=x"])
    assert "mix.sources[5] is not an item of mix.sources (a list of 2" in err
    err = _error(capsys, ["validate", str(path), "--set", "eval.benchmarks=humaneval,mbbp"])
    assert err.startswith("codemix: error: --set eval.benchmarks=humaneval,mbbp: eval.benchmarks: unknown benchmark 'mbbp'")
    err = _error(capsys, ["validate", str(path), "--set", f"mix.sources[0].path={tmp_path}/no.jsonl"])
    assert err.startswith(f"codemix: error: --set mix.sources[0].path={tmp_path}/no.jsonl: mix.sources[0].path")
    # A value from the file is still blamed on the file.
    err = _error(capsys, ["validate", str(path), "--set", "mix.budget=5", "--set", "mix.general_fraction=3"])
    assert err.startswith("codemix: error: --set mix.general_fraction=3: mix.general_fraction")


def test_prompts_longer_than_a_random_model_context_warn(tmp_path, capsys):
    train = {"model": {"init": "random", "arch": {"max_position_embeddings": 300}, "tokenizer": {"kind": "byte"}},
             "method": "full"}
    path = _recipe(tmp_path, train=train, eval={"benchmarks": ["humaneval"]})
    recipe, _ = load_recipe(str(path))
    warnings = preflight(recipe, path)
    assert len(warnings) == 1
    assert "of 164 humaneval prompts (instruction style) do not fit the context of the random-init model (300 positions)" \
        in warnings[0] and "prompt_too_long" in warnings[0]
    assert main(["validate", str(path)]) == 0  # a warning, not an error: those prompts score as failures
    assert "warning: eval:" in capsys.readouterr().err
    recipe, _ = load_recipe(str(path), ["train.model.arch.max_position_embeddings=4096"])
    assert preflight(recipe, path) == []


def test_prompt_lengths_checked_for_a_local_model_dir(tmp_path):
    from codemix.finetune.tokenizer import build_tokenizer

    model = tmp_path / "model"
    build_tokenizer("byte").save_pretrained(model)
    (model / "config.json").write_text('{"model_type": "llama", "max_position_embeddings": 200}')
    path = _recipe(tmp_path, eval={"model": str(model), "benchmarks": ["humaneval"]})
    recipe, _ = load_recipe(str(path))
    (warning,) = preflight(recipe, path)
    assert "humaneval prompts (completion style) do not fit the context of" in warning and "up to" not in warning


def test_hub_models_are_not_fetched_by_validate(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = _recipe(tmp_path, eval={"model": "owner/some-model", "benchmarks": ["humaneval"]})
    recipe, _ = load_recipe(str(path))
    started = time.monotonic()
    (warning,) = preflight(recipe, path)  # no prompt-length check: the tokenizer is on the Hub
    assert warning.startswith("eval.model 'owner/some-model' needs the Hugging Face Hub")
    assert time.monotonic() - started < 5


def test_run_stops_before_any_stage_when_the_hub_is_needed_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    train = {"model": {"init": "random", "arch": {}, "tokenizer": {"kind": "byte"}}, "method": "full"}
    path = _recipe(tmp_path, train=train, eval={"benchmarks": ["pyfuncs", "mbpp"]})
    started = time.monotonic()
    err = _error(capsys, ["run", str(path)])
    assert time.monotonic() - started < 10
    assert err == (f"codemix: error: {path}: eval.benchmarks: mbpp (google-research-datasets/mbpp) needs the Hugging "
                   "Face Hub, which cannot be reached (HF_HUB_OFFLINE=1 is set); set eval.problems.mbpp to a local "
                   "mbpp.jsonl (the full release)")
    assert not (tmp_path / "run").exists()  # not after mixing and training: before anything
    assert main(["validate", str(path)]) == 0  # validate (maybe on a laptop for a cluster) warns
    assert "warning: eval.benchmarks: mbpp" in capsys.readouterr().err


def test_a_benchmark_without_default_source_needs_its_problems(tmp_path, capsys):
    path = _recipe(tmp_path, eval={"model": "owner/name", "benchmarks": ["humaneval+"]})
    err = _error(capsys, ["validate", str(path)])
    assert "eval.benchmarks: humaneval+ has no default source; set eval.problems.humaneval+ to" in err
