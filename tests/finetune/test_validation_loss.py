"""Validation loss after training: per row with the training masking (checked against a forward
pass by hand), per domain in validation_loss.json and the manifest, and the stage skip/hash."""

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from codemix.core.artifacts import hash_json, read_manifest, record_outputs, write_manifest
from codemix.finetune.prompts import format_example
from codemix.finetune.trainer import inputs_hash
from helpers.finetune import pyfunc_rows, run_train, tiny_config, write_mixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _validation_rows():
    code = pyfunc_rows(6, seed=99, source="pyfuncs")
    general = [{"id": f"notes-{i}", "source": "notes", "domain": "general", "task": None,
                "prompt": [{"role": "user", "content": f"Say the number {i} twice."}],
                "completion": [{"role": "assistant", "content": f"{i} {i}"}]} for i in range(4)]
    # A prompt longer than max_length: no completion token left, so training would drop it too.
    long = {**general[0], "id": "notes-long", "prompt": [{"role": "user", "content": "word " * 400}]}
    return [{**r, "id": "val-" + r["id"]} for r in code + general + [long]]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    mix = write_mixture(tmp_path_factory.mktemp("mix"), pyfunc_rows(200, seed=0))
    rows = _validation_rows()
    (mix / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    manifest = read_manifest(mix)
    manifest["validation"] = {"file": "validation.jsonl", "content_hash": hash_json(rows)}
    manifest["outputs"] = record_outputs(mix, ["data.jsonl", "validation.jsonl"])
    write_manifest(mix, manifest)
    out = tmp_path_factory.mktemp("train") / "train"
    cfg = tiny_config(max_steps=8)
    trained, built = run_train(cfg, mix, out)
    assert built
    return cfg, mix, out, trained, rows


def test_json_and_manifest(run):
    cfg, mix, out, manifest, rows = run
    scores = json.loads((out / "validation_loss.json").read_text())
    assert set(scores["domains"]) == {"code", "general"}
    code, general = scores["domains"]["code"], scores["domains"]["general"]
    assert (code["rows"], code["dropped"], general["rows"], general["dropped"]) == (6, 0, 4, 1)
    assert set(scores["per_row"]) == {r["id"] for r in rows} - {"val-notes-long"}
    code_losses = [v for k, v in scores["per_row"].items() if k.startswith("val-pyfuncs")]
    assert code["mean"] == pytest.approx(sum(code_losses) / 6) and code["tokens"] > 6
    assert manifest["validation_loss"] == {"code": code["mean"], "general": general["mean"]}
    assert 0 < code["mean"] < 20 and "validation_loss.json" in manifest["files"]
    # what the report reads from it
    from codemix.recipes.report.data import validation_outcomes

    outcomes = validation_outcomes(out.parent)
    assert outcomes["loss:general"].task_ids == tuple(f"val-notes-{i}" for i in range(4))
    assert outcomes["loss:code"].value == code["mean"] and outcomes["loss:code"].lower_is_better


def test_row_loss_equals_a_forward_pass_by_hand(run):
    cfg, mix, out, manifest, rows = run
    scores = json.loads((out / "validation_loss.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    model = AutoModelForCausalLM.from_pretrained(out / "model").eval()
    for row in (rows[0], rows[7]):  # one per domain
        prompt_text, full_text = format_example(row["prompt"], row["completion"], manifest["prompt_format"], tokenizer,
                                                None)
        n = len(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
        ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
        assert tokenizer(full_text, add_special_tokens=False)["input_ids"][:n] == \
            tokenizer(prompt_text, add_special_tokens=False)["input_ids"]  # no merge at the boundary
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        # completion-only: the tokens after the prompt, each predicted from the one before
        expected = F.cross_entropy(logits[n - 1:-1], torch.tensor(ids[n:])).item()
        assert scores["per_row"][row["id"]] == pytest.approx(expected, abs=1e-4)


def test_finished_run_is_skipped_and_hash_covers_the_rows(run):
    cfg, mix, out, manifest, rows = run
    again, built = run_train(cfg, mix, out)
    assert not built and again["validation_loss"] == manifest["validation_loss"]
    content = manifest["mixture_hash"]
    # without validation rows the hash is what it was before they existed
    assert inputs_hash(cfg, 1, content) == hash_json({"train": cfg.model_dump(mode="json"), "seed": 1, "mixture": content})
    assert inputs_hash(cfg, 1, content, hash_json(rows)) == manifest["inputs_hash"] != inputs_hash(cfg, 1, content, "x")
