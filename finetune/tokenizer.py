"""Tokenizers for randomly initialised models, built offline in well under a second.

Two kinds, both `PreTrainedTokenizerFast` over a byte-level BPE from the `tokenizers` library:

- `byte`: the 256 byte tokens and no merges (character-level tasks; every string round-trips);
- `bpe`: a byte-level BPE trained on the mixture's text (~0.2 s for a few thousand rows).

Both carry the same four special tokens, pad/eos set, and a ChatML chat template whose assistant
turns sit inside `{% generation %}` markers (so trl/transformers assistant masks work).
`ByT5Tokenizer` is deliberately not used: it is a slow tokenizer that appends `</s>` on every
call and strips whitespace, which breaks prompt/completion masking (with transformers 5.23 and
trl 1.16, trl's assistant masks fail on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from codemix.core.errors import CodemixError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

PAD, EOT, IM_START, IM_END = "<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, EOT, IM_START, IM_END]  # ids 0..3, in this order

# ChatML. The assistant's content and its <|im_end|> are inside the generation markers, so the
# end-of-turn token (our eos) is trained; the newline after it belongs to the template.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}{{- '\n' }}"
    "{%- else %}"
    "{{- message['content'] + '<|im_end|>' + '\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)

MIN_BPE_VOCAB = len(SPECIAL_TOKENS) + 256


def build_tokenizer(kind: Literal["byte", "bpe"], texts: Iterable[str] | None = None,
                    vocab_size: int = 1024, model_max_length: int = 1024,
                    split_digits: bool = False) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer with pad `<|pad|>`, eos `<|im_end|>` and a ChatML chat template.

    `texts` is required for `bpe` (the training corpus, e.g. every row's prompt and completion);
    `vocab_size` counts the specials and the 256 byte tokens. `split_digits` (bpe) keeps every
    digit a token of its own; recipes turn it on by default (train.model.tokenizer.split_digits)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()  # the 256 printable stand-ins for bytes
    if kind == "byte":
        vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
        for ch in sorted(byte_alphabet):
            vocab[ch] = len(vocab)
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    elif kind == "bpe":
        if texts is None:
            raise CodemixError("a bpe tokenizer is trained on text; no texts were given")
        if vocab_size < MIN_BPE_VOCAB:
            raise CodemixError(f"train.model.tokenizer.vocab_size: {vocab_size} is below {MIN_BPE_VOCAB} "
                               f"(256 byte tokens + {len(SPECIAL_TOKENS)} special tokens)")
        tok = Tokenizer(models.BPE())
    else:
        raise CodemixError(f"unknown tokenizer kind {kind!r}; expected byte or bpe")
    # No prefix space: a prompt and its completion concatenate exactly as typed. With
    # split_digits each digit is a token (as in Llama) so a number in the instruction is copied
    # digit by digit instead of as one of hundreds of merged number tokens, each seen a few
    # times: a 0.66M-parameter model trained on the 4000-row smoke mixture solved 72/114
    # held-out-parameter pyfuncs tasks with it, 19/114 without.
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if kind == "bpe" and split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    # Offsets are needed for assistant-token masks; trim_offsets=False keeps them exact.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    if kind == "bpe":
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                      initial_alphabet=byte_alphabet, show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)  # no-op for ids, but marks them special (never split)
    return wrap_tokenizer(tok, model_max_length)


def wrap_tokenizer(tok, model_max_length: int) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=IM_END, pad_token=PAD, unk_token=None, bos_token=None,
        model_max_length=model_max_length, padding_side="right", clean_up_tokenization_spaces=False,
    )
    fast.add_special_tokens({"additional_special_tokens": [EOT, IM_START]})
    fast.chat_template = CHATML_TEMPLATE
    return fast


def mixture_texts(rows: Iterable[dict]) -> Iterable[str]:
    """The text a BPE is trained on: every message of every row (the template's own words are
    covered by the byte alphabet and the special tokens)."""
    for row in rows:
        for message in list(row.get("prompt") or []) + list(row.get("completion") or []):
            content = message.get("content")
            if content:
                yield content
