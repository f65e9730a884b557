"""Bad input: a clear CodemixError before any weights are loaded, and nothing written."""

import pytest
import torch
from pydantic import ValidationError

from codemix.core.errors import CodemixError
from codemix.finetune.config import TrainConfig
from helpers.finetune import pyfunc_rows, run_train, tiny_config, write_mixture


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    return write_mixture(tmp_path_factory.mktemp("mix"), pyfunc_rows(40))


def _fails(cfg, mixture, tmp_path, match):
    out = tmp_path / "train"
    with pytest.raises(CodemixError, match=match):
        run_train(cfg, mixture, out)
    # The stage lock is taken before the up-to-date check, so the directory may exist holding
    # only its (released, empty) lock file; nothing else may be written.
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert left in ([], [".lock"]), "a failed validation must not write anything"
    assert not left or (out / ".lock").stat().st_size == 0


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the errors a CPU-only machine gives")


@NO_CUDA
def test_qlora_without_cuda(mixture, tmp_path):
    cfg = tiny_config(method="qlora", model={"path": "org/some-model"})
    _fails(cfg, mixture, tmp_path, "qlora .* needs a CUDA GPU")


@NO_CUDA
def test_fp16_on_cpu(mixture, tmp_path):
    _fails(tiny_config(precision="fp16"), mixture, tmp_path, "fp16 needs a CUDA GPU")


def test_unknown_local_model_path(mixture, tmp_path):
    cfg = tiny_config(model={"path": str(tmp_path / "no-such-model")})
    _fails(cfg, mixture, tmp_path, "no such model directory")


def test_directory_that_is_not_a_model(mixture, tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = tiny_config(model={"path": str(tmp_path / "empty")})
    _fails(cfg, mixture, tmp_path, "has no config.json")


def test_hub_id_offline(mixture, tmp_path):
    import time

    cfg = tiny_config(model={"path": "codemix-test/does-not-exist"})
    started = time.monotonic()
    _fails(cfg, mixture, tmp_path, r"train.model.path 'codemix-test/does-not-exist' \(not a local directory\) needs "
                                   r"the Hugging Face Hub, which cannot be reached .*; set train.model.path to a local")
    assert time.monotonic() - started < 5  # at once, not after the libraries' retries


def test_empty_mixture(tmp_path):
    empty = write_mixture(tmp_path / "mix", [])
    _fails(tiny_config(), empty, tmp_path, "the mixture is empty")


def test_missing_mixture(tmp_path):
    _fails(tiny_config(), tmp_path / "nowhere", tmp_path, "no mixture here .* run `codemix mix` first")


def test_overlength_error_names_the_row(tmp_path):
    rows = pyfunc_rows(10)
    rows[7]["completion"][0]["content"] = "pass\n" * 100
    mix = write_mixture(tmp_path / "mix", rows)
    _fails(tiny_config(on_overlength="error", max_length=64), mix, tmp_path, "row pyfuncs-7 is .* tokens")


def test_target_modules_that_match_nothing_list_what_exists(mixture, tmp_path):
    cfg = tiny_config(method="lora", lora={"target_modules": ["q_proj", "c_attn"]})
    _fails(cfg, mixture, tmp_path, r"\['c_attn'\] match no layer.*k_proj.*q_proj")


def test_unknown_scheduler():
    with pytest.raises(ValidationError, match="cosinus"):  # a recipe error now: caught by `codemix validate`
        tiny_config(lr_scheduler="cosinus")


def test_arch_must_divide():
    # a recipe error: `codemix validate` catches it, before any mixture or tokenizer is built
    with pytest.raises(ValidationError, match="hidden_size 66 is not divisible by heads 4.*try heads: 3"):
        tiny_config(model={"init": "random", "arch": {"hidden_size": 66, "heads": 4}, "tokenizer": {"kind": "byte"}})


@pytest.mark.parametrize("section,message", [
    ({"lerning_rate": 1e-3}, "lerning_rate"),
    ({"method": "prefix"}, "method"),
    ({"prompt_format": "custom"}, "needs a template"),
    ({"merge": True}, "method full has no adapter"),
    ({"max_steps": 0}, "max_steps must be positive"),
    ({"model": {"init": "random", "arch": {"hidden_size": 64}}}, "tokenizer.kind"),
    ({"model": {"path": "x/y", "tokenizer": {"kind": "bpe"}}}, "keeps its own tokenizer"),
])
def test_recipe_mistakes_are_validation_errors(section, message):
    data = tiny_config().model_dump(mode="json")
    data.update(section)
    with pytest.raises(ValidationError, match=message):
        TrainConfig.model_validate(data)
