"""Prompt formats and completion-only labels: training and generation see identical prompt tokens."""

import datasets
import pytest

from codemix.core.errors import CodemixError
from codemix.finetune.data import IGNORE_INDEX, tokenize_mixture, tokenize_row
from codemix.finetune.prompts import encode_prompt, format_prompt, resolve_prompt_format
from codemix.finetune.tokenizer import build_tokenizer, mixture_texts
from helpers.finetune import llama_style_tokenizer, pyfunc_rows

CUSTOM = "Task: {instruction}\nCode:\n{response}"
FORMATS = [("chat_template", None), ("alpaca", None), ("magicoder", None), ("plain", None), ("custom", CUSTOM)]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer("bpe", mixture_texts(pyfunc_rows(300)), vocab_size=400)


def test_named_templates_spelled_out(tok):
    assert format_prompt("Sort xs.", "alpaca", tok) == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nSort xs.\n\n### Response:\n")
    assert format_prompt("Sort xs.", "magicoder", tok) == (
        "You are an exceptionally intelligent coding assistant that consistently delivers accurate and reliable "
        "responses to user instructions.\n\n@@ Instruction\nSort xs.\n\n@@ Response\n")
    assert format_prompt("Sort xs.", "plain", tok) == "Sort xs.\n"


def test_system_message_replaces_the_preamble_and_turns_repeat(tok):
    msgs = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "A"},
            {"role": "assistant", "content": "a"}, {"role": "user", "content": "B"}]
    assert format_prompt(msgs, "magicoder", tok) == (
        "You write Python.\n\n@@ Instruction\nA\n\n@@ Response\na\n\n@@ Instruction\nB\n\n@@ Response\n")


def test_custom_template_keeps_braces_in_the_instruction(tok):
    text = format_prompt("Return {'a': 1} as dict.", "custom", tok, CUSTOM)
    assert text == "Task: Return {'a': 1} as dict.\nCode:\n"
    with pytest.raises(CodemixError, match="no \\{instruction\\}"):
        format_prompt("x", "custom", tok, "Q: {question}")
    with pytest.raises(CodemixError, match="must come last"):
        format_prompt("x", "custom", tok, "{response} then {instruction}")


def test_chat_template_prompt_is_the_generation_prompt(tok):
    assert format_prompt("Hi", "chat_template", tok) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_auto_picks_the_chat_template_when_there_is_one(tok):
    assert resolve_prompt_format("auto", tok) == "chat_template"
    plain = llama_style_tokenizer()
    assert resolve_prompt_format("auto", plain) == "alpaca"
    with pytest.raises(CodemixError, match="no chat template"):
        resolve_prompt_format("chat_template", plain)


def test_a_tokenizer_that_adds_bos_keeps_it_in_instruction_prompts():
    plain = llama_style_tokenizer()
    ids = encode_prompt("Add 1.", "alpaca", plain)
    assert ids[0] == plain.bos_token_id and ids.count(plain.bos_token_id) == 1
    assert ids == plain(format_prompt("Add 1.", "alpaca", plain).removeprefix("<s>"))["input_ids"]


@pytest.mark.parametrize("fmt,template", FORMATS)
def test_labels_are_ignored_exactly_on_the_prompt_tokens(tok, fmt, template):
    row = pyfunc_rows(1, seed=5)[0]
    ids, labels, merged = tokenize_row(row["prompt"], row["completion"], tok, fmt, template)
    prompt_ids = encode_prompt(row["prompt"], fmt, tok, template)
    n = len(prompt_ids)
    assert not merged and ids[:n] == prompt_ids
    assert labels[:n] == [IGNORE_INDEX] * n
    assert labels[n:] == ids[n:] and IGNORE_INDEX not in labels[n:]
    completion = tok.decode(ids[n:])
    assert completion.startswith(row["completion"][0]["content"])
    assert completion.rstrip("\n").endswith(tok.eos_token)  # the model learns to stop


def test_labels_with_a_bos_adding_tokenizer():
    plain = llama_style_tokenizer()
    row = pyfunc_rows(1, seed=6)[0]
    ids, labels, _ = tokenize_row(row["prompt"], row["completion"], plain, "magicoder")
    n = len(encode_prompt(row["prompt"], "magicoder", plain))
    assert ids[0] == plain.bos_token_id and labels[:n] == [IGNORE_INDEX] * n and labels[n] == ids[n]
    assert ids[-1] == plain.eos_token_id and labels[-1] == plain.eos_token_id


def test_overlength_rows_are_truncated_and_counted_or_rejected(tok):
    rows = pyfunc_rows(5, seed=1)
    rows[2]["completion"][0]["content"] = "x = 1\n" * 200
    rows[3]["prompt"][0]["content"] = "long prompt " * 200  # the prompt alone fills max_length
    ds = datasets.Dataset.from_list(rows)
    result = tokenize_mixture(ds, tok, "chat_template", None, max_length=64, on_overlength="truncate")
    assert (result.truncated, result.dropped, len(result.dataset)) == (2, 1, 4)
    assert max(len(x) for x in result.dataset["input_ids"]) == 64
    assert result.examples == ["pyfuncs-2", "pyfuncs-3"]
    with pytest.raises(CodemixError, match=r"row pyfuncs-2 is \d+ tokens, longer than train.max_length=64"):
        tokenize_mixture(ds, tok, "chat_template", None, max_length=64, on_overlength="error")


def test_empty_completion_names_the_row(tok):
    rows = pyfunc_rows(3)
    rows[1]["completion"] = []
    with pytest.raises(CodemixError, match="row pyfuncs-1: empty prompt or completion"):
        tokenize_mixture(datasets.Dataset.from_list(rows), tok, "alpaca", None, 128, "truncate")
