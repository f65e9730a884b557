"""The generation backend interface: what `codemix eval` needs from an inference engine.

A backend loads a model (a `codemix.finetune.checkpoint.ModelRef`: a codemix checkpoint, a model
directory or a Hub id, with an optional adapter) and turns token-id requests into generations,
reporting each finished batch. Everything else (prompts, stop sequences, seeds, resume, the
sample files) is shared in `codemix.eval.generation.run`, so the backends give the same files.

Backends: `hf` (transformers, any device), `vllm` (GPU) and `openai` (any OpenAI-compatible
server: vLLM's, SGLang's, TGI's, a hosted API). Adding one is one module that subclasses
`Backend`, calls `register_backend`, and one line in BACKEND_MODULES. A backend whose model is
not on this machine (a server) overrides `resolve` and `choose_prompt_style`; one with settings
of its own reads them from `options` (the eval config's keys for it, set by `configure`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from codemix.core.errors import CodemixError

# name -> module that registers it; imported only when that backend is asked for (vllm is heavy).
BACKEND_MODULES: dict[str, str] = {"hf": "codemix.eval.generation.hf", "vllm": "codemix.eval.generation.vllm",
                                   "openai": "codemix.eval.generation.openai"}
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
    prompt: str = ""           # the prompt as text (prompt_ids encode it): what a server is sent
    # The instruction, when the prompt is the chat template applied to it as one user turn: a
    # chat endpoint is sent this turn and applies the template itself.
    instruction: str | None = None


OnBatch = Callable[[list[int], list[Generation]], None]


class Backend(ABC):
    """After `load`, `tokenizer`, `eos_ids` (token ids that end a sample) and `max_context` (the
    model's context length, or None) are set."""
    name: ClassVar[str]
    tokenizer: Any
    eos_ids: list[int]
    max_context: int | None
    options: Mapping[str, Any] = MappingProxyType({})

    def configure(self, options: Mapping[str, Any]) -> None:
        """Settings of this backend (the eval config's keys for it), before `load`."""
        self.options = dict(options)

    @classmethod
    def resolve(cls, model_ref: str, adapter: str | None) -> Any:
        """Classify the model reference (a `ModelRef`) without loading anything: a local
        checkpoint, a model directory or a Hub id for backends that load the weights here."""
        from codemix.finetune.checkpoint import resolve_model

        return resolve_model(model_ref, adapter)

    def choose_prompt_style(self, prompt_style: str, model_ref: Any) -> tuple[str, str]:
        """(completion | instruction, why), after `load`."""
        from codemix.eval.generation.prompts import choose_prompt_style

        return choose_prompt_style(prompt_style, model_ref)

    def usage(self) -> dict[str, Any] | None:
        """What generation cost beyond the run's own counts (requests, retries, latency), or None."""
        return None

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
