"""Training from scratch on string-rewrite rows: one token per character, loss on the completion
only, and the GPT-2 architecture built from a recipe's arch section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from codemix.finetune.config import TrainConfig
from codemix.finetune.data import IGNORE_INDEX, tokenize_row
from codemix.finetune.modeling import random_config
from codemix.finetune.tokenizer import build_tokenizer
from codemix.mixing.builtin.markov import generate_columns
from codemix.mixing.config import MarkovConfig


def _cfg(**arch) -> TrainConfig:
    return TrainConfig.model_validate({
        "model": {"init": "random", "arch": {"arch": "gpt2", "hidden_size": 256, "layers": 6, "heads": 4,
                                             "max_position_embeddings": 256, **arch},
                  "tokenizer": {"kind": "byte"}},
        "method": "full", "prompt_format": "custom", "template": "{instruction}{response}", "max_length": 192})


def test_a_rewrite_row_is_one_token_per_character_with_loss_on_the_completion() -> None:
    tok = build_tokenizer("byte")
    cols = generate_columns(MarkovConfig(rules=20), 50, seed=0)
    for prompt, answer in zip(cols["instruction"], cols["response"], strict=True):
        ids, labels, merged = tokenize_row([{"role": "user", "content": prompt}],
                                           [{"role": "assistant", "content": answer}], tok, "custom",
                                           "{instruction}{response}")
        assert not merged
        assert len(ids) == len(prompt) + len(answer) + 1           # + eos
        assert labels[:len(prompt)] == [IGNORE_INDEX] * len(prompt)  # no loss on x>y|z=
        assert labels[len(prompt):] == ids[len(prompt):]
        assert tok.decode(ids[len(prompt):-1]) == answer and ids[-1] == tok.eos_token_id


def test_gpt2_at_the_paper_size() -> None:
    tok = build_tokenizer("byte")
    config = random_config(_cfg(), tok)
    assert config.model_type == "gpt2"
    assert (config.n_embd, config.n_layer, config.n_head, config.n_positions) == (256, 6, 4, 256)
    assert config.eos_token_id == tok.eos_token_id and config.resid_pdrop == 0.0
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    n = sum(p.numel() for p in model.parameters())
    assert 4.7e6 < n < 5.0e6  # 12 * 256^2 * 6 blocks + token and position embeddings


def test_gpt2_has_no_grouped_query_attention() -> None:
    # a recipe error: the config itself refuses it, so `codemix validate` names the key
    with pytest.raises(ValidationError, match="gpt2 has no grouped-query attention; drop kv_heads"):
        _cfg(kv_heads=2)
