"""The vLLM backend (GPU only): same prompts, seeds, stops and output files as the HF backend.

vLLM schedules its own batches (continuous batching over up to 256 sequences at a time), so
requests are handed over in chunks; each chunk's samples are appended when it finishes, which
keeps resume after a kill working. A LoRA adapter (a `codemix train` LoRA checkpoint or
`--adapter`) is served through vLLM's LoRA support on top of the unmerged base model.
Each (task, sample) request carries its own seed, as in the HF backend, so a resumed run
reproduces the samples of an uninterrupted one. Greedy outputs of the two backends agree as far
as their kernels' numerics do (bf16 on a GPU: not token for token on every problem).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from eval.extract import truncate_at_stop
from eval.generate import (
    check_settings,
    context_length,
    end_of_sequence_ids,
    resolve_spec,
    run_generation,
)
from eval.generate_hf import Generation
from eval.generate_models import ModelSource
from mixing.errors import CodemixError

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


def vllm_model_paths(source: ModelSource) -> dict[str, Any]:
    """Base model, revision, tokenizer and (unmerged) adapter for vLLM."""
    if source.checkpoint is None:
        return {"model": source.ref, "revision": None, "tokenizer": source.ref, "adapter": source.adapter}
    from finetune.checkpoint import checkpoint_paths

    return checkpoint_paths(source.ref, source.checkpoint)


def _lora_rank(adapter: str) -> int:
    config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    r = int(config.get("r", 16))
    for allowed in LORA_RANKS:
        if allowed >= r:
            return allowed
    raise CodemixError(f"{adapter}: LoRA rank {r} is above what vLLM serves ({LORA_RANKS[-1]}); use backend: hf")


def generate_vllm(problems, *, source: ModelSource, out_dir, style: str, prompt_format: str | None,
                  template: str | None, n_samples: int, temperature: float, top_p: float, max_new_tokens: int,
                  seed: int, batch_size: int, tasks, model_label: str) -> dict[str, Any]:
    check_settings(prompt_style=style, n_samples=n_samples, temperature=temperature, top_p=top_p,
                   max_new_tokens=max_new_tokens, batch_size=batch_size, backend="vllm")
    check_vllm_available()
    from transformers import AutoConfig, AutoTokenizer
    from vllm import LLM, SamplingParams

    paths = vllm_model_paths(source)
    try:
        tokenizer = AutoTokenizer.from_pretrained(paths["tokenizer"])
        config = AutoConfig.from_pretrained(paths["model"], revision=paths["revision"])
    except OSError as e:
        raise CodemixError(f"could not load {paths['model']}: {str(e).splitlines()[0] if str(e) else e!r}") from None
    spec = resolve_spec(style, prompt_format, template, tokenizer)
    eos_ids = end_of_sequence_ids(tokenizer, config)
    adapter = paths["adapter"]

    def start_engine(rows):
        """Started only when there is something to generate (a finished run resumes for free), with
        a context no longer than the longest request needs (less KV-cache memory reserved)."""
        longest = max(len(r.request.prompt_ids) + r.request.max_new_tokens for r in rows)
        try:
            llm = LLM(model=paths["model"], revision=paths["revision"], tokenizer=paths["tokenizer"], seed=seed,
                      dtype="auto", max_model_len=longest, enable_lora=adapter is not None,
                      **({"max_lora_rank": _lora_rank(adapter), "max_loras": 1} if adapter else {}))
        except Exception as e:  # engine start-up: memory, unsupported architecture, adapter shape
            raise CodemixError(f"vLLM could not load {paths['model']}{' with adapter ' + adapter if adapter else ''}: "
                               f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}; try backend: hf") from e
        lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("codemix-adapter", 1, str(Path(adapter).resolve()))
        return llm, lora

    settings = {"model": model_label, "backend": "vllm", "prompt_style": spec.style,
                "prompt_format": spec.prompt_format, "template": spec.template, "temperature": temperature,
                "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed}
    greedy = temperature == 0

    def backend_run(rows, size, on_batch):
        llm, lora = start_engine(rows)
        for start in range(0, len(rows), max(CHUNK, size)):
            chunk = rows[start: start + max(CHUNK, size)]
            params = [SamplingParams(
                n=1, temperature=temperature, top_p=1.0 if greedy else top_p, seed=None if greedy else r.request.seed,
                max_tokens=r.request.max_new_tokens, stop=list(r.request.stops), stop_token_ids=eos_ids,
                include_stop_str_in_output=True, skip_special_tokens=True) for r in chunk]
            outputs = llm.generate([{"prompt_token_ids": r.request.prompt_ids} for r in chunk], params,
                                   lora_request=lora, use_tqdm=False)
            on_batch(chunk, [_to_generation(o.outputs[0], r.request.stops) for o, r in zip(outputs, chunk, strict=True)])
        return size

    return run_generation(problems, tokenizer=tokenizer, spec=spec, out_dir=out_dir, settings=settings,
                          n_samples=n_samples, seed=seed, max_new_tokens=max_new_tokens,
                          max_context=context_length(config), batch_size=batch_size, tasks=tasks,
                          backend_run=backend_run)


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
