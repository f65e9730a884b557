"""The generation backend interface: what `codemix eval` needs from an inference engine.

A backend loads a model (a `codemix.finetune.checkpoint.ModelRef`: a codemix checkpoint, a model
directory or a Hub id, with an optional adapter) and turns token-id requests into generations,
reporting each finished batch. Everything else (prompts, stop sequences, seeds, resume, the
sample files) is shared in `codemix.eval.generation.run`, so the backends give the same files.

Backends: `hf` (transformers, any device) and `vllm` (GPU). Adding one (an OpenAI-compatible
server, say) is one module that subclasses `Backend`, calls `register_backend`, and one line in
BACKEND_MODULES.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from codemix.core.errors import CodemixError

# name -> module that registers it; imported only when that backend is asked for (vllm is heavy).
BACKEND_MODULES: dict[str, str] = {"hf": "codemix.eval.generation.hf", "vllm": "codemix.eval.generation.vllm"}
_REGISTERED: dict[str, type[Backend]] = {}


@dataclass(frozen=True)
class Generation:
    text: str      # the new text, cut at the first stop sequence
    raw: str       # the new text as generated (up to end-of-sequence or the token limit)
    finish: str    # "stop" (a stop sequence), "eos" (end-of-sequence token) or "length"
    n_tokens: int  # tokens generated (up to and including the end-of-sequence token)


@dataclass(frozen=True)
class Request:
    prompt_ids: list[int]
    seed: int                  # per-row sampling seed (unused when greedy)
    max_new_tokens: int        # this row's limit (the context length may lower it below the setting)
    stops: tuple[str, ...] = ()  # stop sequences of this row (they depend on the prompt's shape)


OnBatch = Callable[[list[int], list[Generation]], None]


class Backend(ABC):
    """After `load`, `tokenizer`, `eos_ids` (token ids that end a sample) and `max_context` (the
    model's context length, or None) are set."""
    name: ClassVar[str]
    tokenizer: Any
    eos_ids: list[int]
    max_context: int | None

    @classmethod
    def check_available(cls) -> None:
        """Raise a CodemixError naming what is missing (a package, a GPU) before anything loads;
        the default backend needs nothing beyond codemix's own dependencies."""
        return None

    @abstractmethod
    def load(self, model_ref: Any, *, seed: int) -> None:
        """Load the model and tokenizer of a resolved `codemix.finetune.checkpoint.ModelRef`."""

    @abstractmethod
    def generate(self, requests: Sequence[Request], *, batch_size: int, temperature: float, top_p: float,
                 on_batch: OnBatch) -> int:
        """Generate every request; call `on_batch(indices into requests, generations)` as batches
        finish (that is what makes a killed run resumable). Returns the batch size used last."""


def register_backend(cls: type[Backend]) -> type[Backend]:
    _REGISTERED[cls.name] = cls
    return cls


def backend_names() -> tuple[str, ...]:
    return tuple(BACKEND_MODULES)


def get_backend(name: str) -> type[Backend]:
    if name not in BACKEND_MODULES:
        raise CodemixError(f"eval.backend: {name!r}; expected one of {', '.join(BACKEND_MODULES)}")
    if name not in _REGISTERED:
        importlib.import_module(BACKEND_MODULES[name])
    return _REGISTERED[name]
