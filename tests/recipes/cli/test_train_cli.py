"""`codemix train`: builds the mixture through the mixing stage, trains, skips when up to date;
multi-process launching (torchrun on CPU, accelerate on GPU) and the bundled accelerate configs."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codemix.recipes.cli import main
from codemix.recipes.loader import bundled_accelerate_configs
from codemix.recipes.pipeline import launch_command
from helpers.recipes import TWO_SOURCES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def recipe_text(out: Path) -> str:
    return f"""\
name: cli-train
seed: 11
output_dir: {out}
mix:
  budget: 120
  general_fraction: 0.1
{TWO_SOURCES}
  decontaminate: {{enabled: false}}
train:
  model:
    init: random
    arch: {{hidden_size: 64, layers: 1, heads: 4, max_position_embeddings: 512}}
    tokenizer: {{kind: bpe, vocab_size: 400}}
  method: full
  learning_rate: 0.003
  max_steps: 6
  per_device_batch_size: 4
  max_length: 256
  logging_steps: 2
  report_to: [none]
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    path = root / "recipe.yaml"
    path.write_text(recipe_text(root / "run"))
    return path, root / "run"


@pytest.fixture(scope="module")
def trained(recipe):
    path, out = recipe
    assert main(["train", str(path)]) == 0
    return path, out


def test_train_builds_the_mixture_then_trains(trained, capsys):
    path, out = trained
    mix = json.loads((out / "mix" / "manifest.json").read_text())
    m = json.loads((out / "train" / "manifest.json").read_text())
    assert m["mixture_hash"] == mix["content_hash"] and m["data"]["rows"] == mix["rows"] == 120
    assert m["steps"] == 6 and m["seed"] == 11 and m["recipe"]["name"] == "cli-train"


def test_second_run_is_up_to_date(trained, capsys):
    path, out = trained
    before = (out / "train" / "manifest.json").read_text()
    assert main(["train", str(path)]) == 0
    assert "train: up to date" in capsys.readouterr().out
    assert (out / "train" / "manifest.json").read_text() == before


def test_eval_settings_do_not_invalidate_training(trained, capsys):
    path, out = trained
    assert main(["train", str(path), "--set", "eval.n_samples=1"]) == 0
    assert "train: up to date" in capsys.readouterr().out


def test_python_dash_m_finetune_is_codemix_train(trained, capsys, monkeypatch):
    path, _ = trained
    monkeypatch.setattr(sys, "argv", ["finetune", str(path)])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("codemix.finetune", run_name="__main__")
    assert e.value.code == 0 and "train: up to date" in capsys.readouterr().out


def test_force_trains_again_and_prints_the_summary(trained, capsys):
    path, out = trained
    assert main(["train", str(path), "--force", "--set", "train.max_steps=2"]) == 0
    text = capsys.readouterr().out
    for label in ("final loss", "tokens/s", "steps", "2 (", "wall time"):
        assert label in text
    assert json.loads((out / "train" / "manifest.json").read_text())["steps"] == 2


def test_recipe_without_train_section(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\nseed: 1\nmix:\n  budget: 10\n  sources: [{name: a, path: 'builtin:pyfuncs', domain: code}]\n")
    assert main(["train", str(path)]) == 2
    assert "no train section" in capsys.readouterr().err


def test_unknown_accelerate_config(recipe, capsys):
    path, _ = recipe
    assert main(["train", str(path), "--accelerate-config", "zero9"]) == 2
    err = capsys.readouterr().err
    assert "zero9" in err and "ddp, fsdp, zero2, zero3" in err


def _launch(config_file=None, *, cuda, force=False):
    return launch_command("smoke", ["train.max_steps=5"], num_processes=2, config_file=config_file, cuda=cuda,
                          force=force)


def test_cpu_launch_uses_torchrun_with_gloo_and_one_thread_per_process(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cmd, env = _launch(cuda=False)
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc_per_node" in cmd
    assert cmd[-6:] == ["-m", "codemix", "train", "smoke", "--set", "train.max_steps=5"]
    assert env["ACCELERATE_USE_CPU"] == "1" and env["OMP_NUM_THREADS"] == str(max(1, os.cpu_count() // 2))


def test_gpu_launch_uses_accelerate_with_the_bundled_config():
    config = bundled_accelerate_configs()["zero3"]
    cmd, _ = _launch(config, cuda=True, force=True)
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--num_processes", "2"]
    assert cmd[cmd.index("--config_file") + 1] == str(config) and cmd[-1] == "--force"


def test_bundled_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file

    configs = bundled_accelerate_configs()
    assert set(configs) == {"ddp", "zero2", "zero3", "fsdp"}
    loaded = {name: load_config_from_file(str(p)) for name, p in configs.items()}
    assert loaded["ddp"].distributed_type.value == "MULTI_GPU"
    assert loaded["zero2"].deepspeed_config["zero_stage"] == 2
    assert loaded["zero3"].deepspeed_config["zero_stage"] == 3
    assert loaded["fsdp"].fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU (torchrun + gloo) path; GPUs launch through accelerate")
def test_two_cpu_processes_data_parallel(recipe, tmp_path):
    """The real thing: two gloo processes through torchrun (~40 s: two interpreters load torch)."""
    path, _ = recipe
    out = tmp_path / "ddp"
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "CODEMIX_NO_PROGRESS": "1"}
    proc = subprocess.run([sys.executable, "-m", "codemix", "train", str(path), "--num-processes", "2",
                           "--set", f"output_dir={out}"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / "train" / "manifest.json").read_text())
    assert m["topology"]["num_processes"] == 2 and m["topology"]["distributed_type"] == "MULTI_CPU"
    assert m["topology"]["global_batch_size"] == 8 and m["steps"] == 6
    assert m["epochs"] == pytest.approx(0.4)  # 6 steps x 2 processes x 4 rows of 120: the data was split
    assert sorted(p.name for p in (out / "train").iterdir()) == [".lock", "base", "loss.png", "manifest.json", "model"]
