"""Offline tokenizers for random-init models: byte and mixture-trained BPE."""

import pytest

from codemix.core.errors import CodemixError
from codemix.finetune.tokenizer import IM_END, PAD, SPECIAL_TOKENS, build_tokenizer, mixture_texts
from helpers.finetune import pyfunc_rows

SAMPLES = ["def f(x):\n    return  x+1  # tabs\tand spaces ", "héllo wörld — 中文 🙂", "", "\n\n  \n"]
CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Add 2 to x."},
                {"role": "assistant", "content": "def f(x):\n    return x + 2\n"}]


@pytest.fixture(scope="module")
def bpe():
    return build_tokenizer("bpe", mixture_texts(pyfunc_rows(300)), vocab_size=400)


@pytest.fixture(scope="module")
def byte():
    return build_tokenizer("byte")


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_round_trip_is_exact_and_adds_nothing(kind, bpe, byte):
    tok = {"byte": byte, "bpe": bpe}[kind]
    for text in SAMPLES:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        assert tok(text, add_special_tokens=False)["input_ids"] == ids  # no BOS/EOS appended


def test_special_tokens_pad_and_eos(byte, bpe):
    for tok in (byte, bpe):
        assert tok.pad_token == PAD and tok.eos_token == IM_END
        assert tok.pad_token_id != tok.eos_token_id
        assert tok.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3]
        assert tok.bos_token is None
        # special tokens in text are single tokens, never split into bytes
        assert tok("<|im_start|>user<|im_end|>", add_special_tokens=False)["input_ids"][0] == 2
    assert len(byte) == 260


def test_bpe_learns_the_mixture(bpe, byte):
    assert 260 < len(bpe) <= 400
    text = "def f12(x):\n    return x + 7\n"
    assert len(bpe(text)["input_ids"]) < len(byte(text)["input_ids"]) / 2


def test_split_digits_gives_one_token_per_digit():
    texts = [f"return x + {n}" for n in range(1000)] * 3
    split = build_tokenizer("bpe", texts, 400, split_digits=True)
    merged = build_tokenizer("bpe", texts, 400, split_digits=False)
    assert [split.decode([i]) for i in split("x + 907")["input_ids"]][-3:] == ["9", "0", "7"]
    assert len(merged("x + 907")["input_ids"]) < len(split("x + 907")["input_ids"])
    assert split.decode(split("a1b22c333 4.5e-6")["input_ids"]) == "a1b22c333 4.5e-6"


def test_bpe_is_deterministic():
    texts = list(mixture_texts(pyfunc_rows(200, seed=3)))
    a, b = build_tokenizer("bpe", texts, 350), build_tokenizer("bpe", texts, 350)
    assert a.get_vocab() == b.get_vocab()


def test_bpe_vocab_floor():
    with pytest.raises(CodemixError, match="vocab_size: 100 is below 260"):
        build_tokenizer("bpe", ["abc"], vocab_size=100)


def test_chat_template_marks_the_assistant_turn_and_its_end(bpe):
    text = bpe.apply_chat_template(CONVERSATION, tokenize=False)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nAdd 2 to x.<|im_end|>\n"
                    "<|im_start|>assistant\ndef f(x):\n    return x + 2\n<|im_end|>\n")
    out = bpe.apply_chat_template(CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert bpe.decode(masked) == "def f(x):\n    return x + 2\n<|im_end|>"  # eos is trained
    prompt = bpe.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert text.startswith(prompt) and prompt.endswith("<|im_start|>assistant\n")


def test_save_and_load_keep_everything(bpe, tmp_path):
    from transformers import AutoTokenizer

    bpe.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again.chat_template == bpe.chat_template
    assert (again.pad_token, again.eos_token) == (bpe.pad_token, bpe.eos_token)
    for text in SAMPLES:
        assert again(text)["input_ids"] == bpe(text)["input_ids"]
