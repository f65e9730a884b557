"""The vLLM backend (GPU only): same prompts, seeds, stops and output files as the HF backend.

vLLM schedules its own batches (continuous batching over up to 256 sequences at a time), so
requests are handed over in chunks; each chunk's samples are appended when it finishes, which
keeps resume after a kill working. A LoRA adapter (a `codemix train` LoRA checkpoint or
`--adapter`) is served through vLLM's LoRA support on top of the unmerged base model.
Each (task, sample) request carries its own seed, as in the HF backend, so a resumed run
reproduces the samples of an uninterrupted one. Larger models: `tensor_parallel_size`,
`gpu_memory_utilization` and `max_model_len` (the eval config's keys) go to the engine as given. Greedy outputs of the two backends agree as far
as their kernels' numerics do (bf16 on a GPU: not token for token on every problem).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.errors import CodemixError
from codemix.eval.generation.backend import Backend, Generation, Request, register_backend
from codemix.eval.generation.extract import truncate_at_stop

if TYPE_CHECKING:
    from codemix.finetune.checkpoint import ModelRef

# Requests per llm.generate call: enough for vLLM to keep a GPU busy (its default max_num_seqs
# is 256) while samples still reach the disk every few seconds.
CHUNK = 512
LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


def check_vllm_available() -> None:
    """A clear error before anything is loaded: vLLM missing, or no CUDA GPU."""
    if importlib.util.find_spec("vllm") is None:
        raise CodemixError("backend: vllm needs the vllm package, which is not installed "
                           "(pip install 'codemix[gpu]' on a CUDA machine); use backend: hf")
    import torch

    if not torch.cuda.is_available():
        raise CodemixError("backend: vllm needs a CUDA GPU and none is visible; use backend: hf")


def vllm_model_paths(source: ModelRef) -> dict[str, Any]:
    """Base model, revision, tokenizer and (unmerged) adapter for vLLM."""
    if source.checkpoint is None:
        return {"model": source.ref, "revision": None, "tokenizer": source.ref, "adapter": source.adapter}
    from codemix.finetune.checkpoint import checkpoint_paths

    return checkpoint_paths(source.ref, source.checkpoint)


def _lora_rank(adapter: str) -> int:
    config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    r = int(config.get("r", 16))
    for allowed in LORA_RANKS:
        if allowed >= r:
            return allowed
    raise CodemixError(f"{adapter}: LoRA rank {r} is above what vLLM serves ({LORA_RANKS[-1]}); use backend: hf")


def engine_arguments(paths: dict[str, Any], *, seed: int, longest: int, options: dict[str, Any] | None = None,
                     lora_rank: int | None = None) -> dict[str, Any]:
    """The keyword arguments of `vllm.LLM`: the model's paths, a context of `longest` tokens
    (what the longest request needs, so less KV cache is reserved) unless `max_model_len` is
    set, and the eval config's engine settings where given (vLLM's defaults otherwise)."""
    options = options or {}
    args: dict[str, Any] = {"model": paths["model"], "revision": paths["revision"], "tokenizer": paths["tokenizer"],
                            "seed": seed, "dtype": "auto", "max_model_len": options.get("max_model_len") or longest,
                            "enable_lora": paths["adapter"] is not None}
    for key in ("tensor_parallel_size", "gpu_memory_utilization"):
        if options.get(key) is not None:
            args[key] = options[key]
    if lora_rank is not None:
        args.update(max_lora_rank=lora_rank, max_loras=1)
    return args


class VLLMBackend(Backend):
    """vLLM on the visible GPUs; the engine starts only when there is something to generate (a
    finished run resumes for free), with a context no longer than the longest request needs
    (less KV-cache memory reserved)."""
    name = "vllm"

    @classmethod
    def check_available(cls) -> None:
        check_vllm_available()

    def load(self, model_ref: ModelRef, *, seed: int) -> None:
        from transformers import AutoConfig, AutoTokenizer

        from codemix.eval.generation.prompts import context_length, end_of_sequence_ids

        self.paths = vllm_model_paths(model_ref)
        self.seed = seed
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.paths["tokenizer"])
            config = AutoConfig.from_pretrained(self.paths["model"], revision=self.paths["revision"])
        except OSError as e:
            raise CodemixError(f"could not load {self.paths['model']}: {str(e).splitlines()[0] if str(e) else e!r}") from None
        self.eos_ids = end_of_sequence_ids(self.tokenizer, config)
        self.max_context = context_length(config)
        limit = self.options.get("max_model_len")
        if limit is not None:  # what does not fit is recorded as prompt_too_long, not sent
            self.max_context = min(limit, self.max_context) if self.max_context else limit

    def _start_engine(self, requests: Sequence[Request]):
        from vllm import LLM

        paths, adapter = self.paths, self.paths["adapter"]
        longest = max(len(r.prompt_ids) + r.max_new_tokens for r in requests)
        args = engine_arguments(paths, seed=self.seed, longest=longest, options=dict(self.options),
                                lora_rank=_lora_rank(adapter) if adapter else None)
        try:
            llm = LLM(**args)
        except Exception as e:  # engine start-up: memory, unsupported architecture, adapter shape
            raise CodemixError(f"vLLM could not load {paths['model']}{' with adapter ' + adapter if adapter else ''}: "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; try backend: hf") from e
        lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("codemix-adapter", 1, str(Path(adapter).resolve()))
        return llm, lora

    def generate(self, requests, *, batch_size, temperature, top_p, on_batch) -> int:
        from vllm import SamplingParams

        llm, lora = self._start_engine(requests)
        greedy = temperature == 0
        step = max(CHUNK, batch_size)
        for start in range(0, len(requests), step):
            indices = list(range(start, min(len(requests), start + step)))
            params = [SamplingParams(
                n=1, temperature=temperature, top_p=1.0 if greedy else top_p,
                seed=None if greedy else requests[i].seed, max_tokens=requests[i].max_new_tokens,
                stop=list(requests[i].stops), stop_token_ids=self.eos_ids, include_stop_str_in_output=True,
                skip_special_tokens=True) for i in indices]
            outputs = llm.generate([{"prompt_token_ids": requests[i].prompt_ids} for i in indices], params,
                                   lora_request=lora, use_tqdm=False)
            on_batch(indices, [_to_generation(o.outputs[0], requests[i].stops)
                               for o, i in zip(outputs, indices, strict=True)])
        return batch_size


def _to_generation(out, stops) -> Generation:
    raw = out.text  # stop strings are included (include_stop_str_in_output) so raw matches HF's
    text, stop = truncate_at_stop(raw, stops)
    if stop is not None or isinstance(out.stop_reason, str):
        finish = "stop"
    elif out.finish_reason == "length":
        finish = "length"
    else:
        finish = "eos"
    return Generation(text=text, raw=raw, finish=finish, n_tokens=len(out.token_ids))


register_backend(VLLMBackend)
