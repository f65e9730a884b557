"""Tiny generation fixtures: HumanEval problems and a random-init Llama sized for CPU tests."""

import torch


def humaneval_problems() -> list:
    from codemix.eval.benchmarks import load_problems

    return load_problems("humaneval")


def tiny_llama(tokenizer, max_positions: int = 1024):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=256, max_position_embeddings=max_positions,
                         tie_word_embeddings=True, initializer_range=0.2, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_tiny_byte_llama(directory, max_positions: int = 512) -> None:
    """A 1-layer, 32-wide random Llama with the byte tokenizer, saved as a plain model folder
    (what `codemix eval MODEL` takes for an untrained base model)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from codemix.finetune.tokenizer import build_tokenizer

    tok = build_tokenizer("byte")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=max_positions,
                                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
