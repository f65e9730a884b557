"""Training end to end on tiny random-init models (CPU, seconds each): full fine-tuning, LoRA on
top of it, checkpoint layout, save/load fidelity, skipping, determinism and resume."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from codemix.finetune.checkpoint import base_model_ref, checkpoint_paths, load_model, read_checkpoint
from codemix.finetune.prompts import encode_prompt
from helpers.finetune import (
    interrupt_after_save,
    llama_style_tokenizer,
    pyfunc_rows,
    run_train,
    tiny_config,
    write_mixture,
)

CONTRACT_KEYS = {"recipe_hash", "mixture_hash", "base_model", "method", "prompt_format", "losses", "final_loss",
                 "tokens", "wall_s"}
TOKENIZER_FILES = {"chat_template.jinja", "tokenizer.json", "tokenizer_config.json"}
MODEL_FILES = {"config.json", "generation_config.json", "model.safetensors"} | TOKENIZER_FILES
ADAPTER_FILES = {"README.md", "adapter_config.json", "adapter_model.safetensors"} | TOKENIZER_FILES

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class CaptureLogits(TrainerCallback):
    """Logits of the in-memory model when training ends, to compare with what gets saved."""

    def __init__(self, input_ids):
        self.input_ids, self.logits, self.base_weights = input_ids, None, None

    def on_train_end(self, args, state, control, model=None, **kwargs):
        model.eval()
        with torch.no_grad():
            self.logits = model(input_ids=self.input_ids).logits.clone()


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    return write_mixture(tmp_path_factory.mktemp("mix"), pyfunc_rows(400, seed=0))


@pytest.fixture(scope="module")
def full_run(mixture, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "train"
    cfg = tiny_config(max_steps=40, logging_steps=5, report_to=["tensorboard"])
    manifest, built = run_train(cfg, mixture, out)
    assert built
    return cfg, out, manifest


@pytest.fixture(scope="module")
def lora_run(full_run, tmp_path_factory):
    """LoRA on top of the fully trained tiny model (addressed as a local pretrained path) that
    teaches it a new style: every solution now starts with a `# solution` line."""
    _, full_out, _ = full_run
    rows = pyfunc_rows(400, seed=0)
    for row in rows:
        row["completion"][0]["content"] = "# solution\n" + row["completion"][0]["content"]
    mixture = write_mixture(tmp_path_factory.mktemp("mix-style"), rows)
    out = tmp_path_factory.mktemp("lora") / "train"
    cfg = tiny_config(model={"path": str(full_out)}, method="lora", max_steps=50, logging_steps=5,
                      learning_rate=1e-2, lora={"r": 8, "alpha": 16, "dropout": 0.0}, merge=True,
                      report_to=["tensorboard"])
    probe = torch.tensor([encode_prompt("Write a function f3(x) that adds 4 to x.", "chat_template",
                                        AutoTokenizer.from_pretrained(full_out / "model"))])
    capture = CaptureLogits(probe)
    manifest, _ = run_train(cfg, mixture, out, seed=2, callbacks=[capture])
    return out, manifest, capture


def test_full_fine_tuning_learns(full_run):
    _, _, m = full_run
    losses = [p["loss"] for p in m["losses"]]
    assert m["steps"] == 40 and m["losses"][-1]["step"] == 40
    assert losses[-1] < 0.5 * losses[0], losses
    assert m["final_loss"] == losses[-1]


def test_manifest_records_the_contract(full_run, mixture):
    cfg, out, m = full_run
    assert CONTRACT_KEYS <= set(m)
    assert m["mixture_hash"] == json.loads((mixture / "manifest.json").read_text())["content_hash"]
    assert m["recipe_hash"] == "test-recipe" and m["recipe"]["train"] == cfg.model_dump(mode="json")
    assert m["base_model"]["kind"] == "random" and m["base_model"]["arch"]["hidden_size"] == 64
    assert (m["method"], m["is_adapter"], m["prompt_format"]) == ("full", False, "chat_template")
    assert m["precision"] == ("fp32" if not torch.cuda.is_available() else m["precision"])
    assert m["tokens"] > 0 and m["tokens_per_s"] > 0 and m["wall_s"] >= m["train_s"] > 0
    assert m["topology"]["num_processes"] == 1 and m["package_versions"]["trl"]
    assert m["data"]["rows"] == 400 and m["data"]["truncated_rows"] == 0


def test_full_checkpoint_holds_exactly_the_documented_files(full_run):
    _, out, m = full_run
    top = {p.name for p in out.iterdir()}
    assert top == {"manifest.json", "model", "base", "loss.png", "logs", ".lock"}
    for sub in ("model", "base"):
        assert {p.name for p in (out / sub).iterdir()} == MODEL_FILES
    assert all(p.name.startswith("events.out.tfevents") for p in (out / "logs").iterdir())
    assert m["files"] == sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
                                and p.name not in ("manifest.json", ".lock"))
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finished_run_is_up_to_date(full_run, mixture):
    cfg, out, m = full_run
    again, built = run_train(cfg, mixture, out)
    assert not built and again == m
    # the seed is an input: a different one trains again (checked without training: hash differs)
    from codemix.finetune.trainer import inputs_hash

    assert inputs_hash(cfg, 1, m["mixture_hash"]) == m["inputs_hash"] != inputs_hash(cfg, 2, m["mixture_hash"])


def test_full_checkpoint_loads(full_run):
    _, out, m = full_run
    info = read_checkpoint(out)
    assert info["is_adapter"] is False and info["tokenizer_dir"] == str((out / "model").resolve())
    assert base_model_ref(out) == str((out / "base").resolve())
    assert checkpoint_paths(out)["adapter"] is None
    model, tok = load_model(out)
    assert not model.training and tok.pad_token == "<|pad|>"
    assert read_checkpoint(out.parent)["dir"] == info["dir"]  # the experiment's output_dir works too


def test_lora_trains_only_the_adapter(lora_run, full_run):
    out, m, _ = lora_run
    _, full_out, _ = full_run
    losses = [p["loss"] for p in m["losses"]]
    assert losses[-1] < losses[0] - 0.5, losses  # measured 3.3 -> 2.1
    assert m["is_adapter"] and m["base_model"]["kind"] == "local"
    assert m["base_model"]["id"] == str((full_out / "model").resolve())
    assert 0 < m["trainable_parameters"] < m["parameters"] / 2
    base = AutoModelForCausalLM.from_pretrained(full_out / "model")
    model, _ = load_model(out)
    merged_base = model.get_base_model()
    for name, weight in base.state_dict().items():
        assert torch.equal(merged_base.state_dict()[name.replace(".weight", ".base_layer.weight")]
                           if name.replace(".weight", ".base_layer.weight") in merged_base.state_dict()
                           else merged_base.state_dict()[name], weight), f"base weight {name} changed"
    lora_b = [w for n, w in model.state_dict().items() if "lora_B" in n]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # peft initialises B to zero


def test_lora_save_load_and_merge_give_the_same_logits(lora_run):
    out, _, capture = lora_run
    model, _ = load_model(out)
    with torch.no_grad():
        loaded = model(input_ids=capture.input_ids).logits
        merged = AutoModelForCausalLM.from_pretrained(out / "merged")(input_ids=capture.input_ids).logits
        folded = load_model(out, merge=True)[0](input_ids=capture.input_ids).logits
    assert torch.equal(loaded, capture.logits)
    # merging adds B@A into W once: float32 rounding differs from the two-branch sum by ~1e-6
    torch.testing.assert_close(merged, capture.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(folded, capture.logits, atol=1e-4, rtol=1e-4)


def test_lora_checkpoint_holds_exactly_the_documented_files(lora_run):
    out, m, _ = lora_run
    assert {p.name for p in out.iterdir()} == {"manifest.json", "adapter", "merged", "loss.png", "logs", ".lock"}
    assert {p.name for p in (out / "adapter").iterdir()} == ADAPTER_FILES
    assert {p.name for p in (out / "merged").iterdir()} == MODEL_FILES
    paths = checkpoint_paths(out)
    assert paths["adapter"] == str((out / "adapter").resolve()) and paths["model"] == m["base_model"]["id"]


def test_same_seed_same_losses(mixture, tmp_path):
    cfg = tiny_config(max_steps=12, method="lora", lora={"dropout": 0.1})  # dropout draws from the RNG too
    a, _ = run_train(cfg, mixture, tmp_path / "a", seed=7)
    b, _ = run_train(cfg, mixture, tmp_path / "b", seed=7)
    assert len(a["losses"]) == 12
    if torch.cuda.is_available():  # GPU kernels may reorder sums; CPU ones do not
        assert [p["loss"] for p in a["losses"]] == pytest.approx([p["loss"] for p in b["losses"]], abs=1e-3)
    else:
        assert [p["loss"] for p in a["losses"]] == [p["loss"] for p in b["losses"]]


def test_resume_after_interrupt_reaches_the_same_loss(mixture, tmp_path):
    cfg = tiny_config(max_steps=20, save_steps=5)
    straight, _ = run_train(cfg, mixture, tmp_path / "straight", seed=3)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg, mixture, out, seed=3, callbacks=[interrupt_after_save(10)])
    assert not (out / "manifest.json").exists() and (out / "checkpoints" / "checkpoint-10").is_dir()
    resumed, built = run_train(cfg, mixture, out, seed=3)
    assert built and resumed["resumed_from_step"] == 10 and resumed["steps"] == 20
    # Model, optimizer, scheduler, RNG and data order are restored from the checkpoint and CPU
    # kernels are deterministic, so the continuation repeats the uninterrupted run bit for bit
    # (measured: difference 0.0 for full and for LoRA with dropout). Tolerance zero; on GPUs,
    # non-deterministic kernels would need ~1e-3.
    assert [p["step"] for p in resumed["losses"]] == list(range(1, 21))
    tolerance = 1e-3 if torch.cuda.is_available() else 0.0
    for a, b in zip(straight["losses"], resumed["losses"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=tolerance), (a, b)
    assert resumed["tokens"] == straight["tokens"]
    assert not (out / "checkpoints").exists()


def test_changed_inputs_restart_instead_of_resuming(mixture, tmp_path):
    out = tmp_path / "t"
    with pytest.raises(KeyboardInterrupt):
        run_train(tiny_config(max_steps=10, save_steps=5), mixture, out, callbacks=[interrupt_after_save(5)])
    m, _ = run_train(tiny_config(max_steps=10, save_steps=5, learning_rate=1e-3), mixture, out)
    assert m["resumed_from_step"] is None and m["steps"] == 10


def test_tokenizer_without_pad_token_trains(tmp_path, mixture):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = llama_style_tokenizer()
    assert tok.pad_token is None
    base = tmp_path / "base-model"
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, bos_token_id=0, eos_token_id=1)
    LlamaForCausalLM(cfg).save_pretrained(base)
    tok.save_pretrained(base)
    # byte tokens + the alpaca preamble: ~200 tokens a row
    m, _ = run_train(tiny_config(model={"path": str(base)}, max_steps=3, max_length=320), mixture,
                     tmp_path / "train")
    assert m["prompt_format"] == "alpaca" and m["base_model"]["kind"] == "local"
    saved = AutoTokenizer.from_pretrained(tmp_path / "train" / "model")
    assert saved.pad_token == saved.eos_token == "</s>"


@pytest.mark.gpu
def test_qlora_on_gpu(tmp_path, mixture, full_run):
    _, full_out, _ = full_run
    m, _ = run_train(tiny_config(model={"path": str(full_out)}, method="qlora", max_steps=5, merge=True),
                     mixture, tmp_path / "train")
    assert m["precision"] in ("bf16", "fp16") and m["is_adapter"] and m["final_loss"] == m["final_loss"]
    model, _ = load_model(tmp_path / "train", device="cuda")
    assert next(model.parameters()).is_cuda


@pytest.mark.gpu
def test_bf16_auto_on_gpu(tmp_path, mixture):
    if not torch.cuda.is_bf16_supported():
        pytest.skip("GPU without bf16")
    m, _ = run_train(tiny_config(max_steps=5), mixture, tmp_path / "train")
    assert m["precision"] == "bf16" and m["topology"]["device"].startswith("cuda")
    losses = [p["loss"] for p in m["losses"]]
    assert all(loss == loss for loss in losses) and losses[-1] < losses[0]
