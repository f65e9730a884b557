"""codemix.finetune: train a causal LM on a mixture (lora | qlora | full) with trl, and read back
the checkpoint it writes. Heavy modules (torch, transformers, trl) load on first use."""

__all__ = ["build_tokenizer", "format_prompt", "load_model", "read_checkpoint", "train"]

_LAZY = {
    "train": "codemix.finetune.trainer",
    "read_checkpoint": "codemix.finetune.checkpoint",
    "load_model": "codemix.finetune.checkpoint",
    "format_prompt": "codemix.finetune.prompts",
    "build_tokenizer": "codemix.finetune.tokenizer",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
