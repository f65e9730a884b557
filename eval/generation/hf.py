"""The Hugging Face transformers backend: batched generation with left padding and a KV cache.

Two details make batched output equal to one-prompt-at-a-time output:
- left padding with an attention mask: `generate` derives position ids from the mask
  (cumsum - 1), so a padded row sees the same positions as the row alone (checked by the test
  on a tiny Llama: token-identical greedy output for batch 8 vs batch 1);
- sampling draws from one `torch.Generator` per row, seeded from (seed, task, sample index),
  inside a logits processor; `generate` itself runs greedy over the one token left. A sample
  therefore does not depend on which other rows share its batch, and a resumed run reproduces
  exactly the samples the killed run would have written.
Rows stop independently: a stopping criterion returns one flag per row (transformers keeps
finished rows padded while the others go on).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from codemix.core.errors import CodemixError
from codemix.eval.generation.backend import Backend, Generation, Request, register_backend
from codemix.eval.generation.extract import find_stop, truncate_at_stop

if TYPE_CHECKING:
    import torch


def _make_row_sampler(seeds: Sequence[int], temperature: float, top_p: float, device):
    """A logits processor that samples each row with its own generator and leaves only the
    drawn token (everything else -inf), so the greedy step of `generate` picks it."""
    import torch
    from transformers import LogitsProcessor

    class RowSampler(LogitsProcessor):
        def __init__(self) -> None:
            self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            probs = torch.softmax(scores.float() / temperature, dim=-1)
            if top_p < 1.0:
                # Nucleus: keep the smallest set of most likely tokens whose mass reaches top_p
                # (the most likely token always stays).
                sorted_probs, order = probs.sort(dim=-1, descending=True)
                outside = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= top_p
                sorted_probs = sorted_probs.masked_fill(outside, 0.0)
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
            chosen = torch.stack([torch.multinomial(probs[r], 1, generator=g)[0]
                                  for r, g in enumerate(self.generators)])
            out = torch.full_like(scores, float("-inf"))
            out[torch.arange(scores.shape[0], device=scores.device), chosen] = 0.0
            return out

    return RowSampler()


def _make_stop_criterion(tokenizer, prompt_len: int, stops: Sequence[Sequence[str]]):
    """Stops a row once its new text contains one of its stop sequences (`stops[row]`). Only
    the last few tokens are decoded per step (a stop that just appeared ends in them; every
    token is at least one character), and a hit is confirmed on the row's full new text."""
    import torch
    from transformers import StoppingCriteria

    windows = [max((len(s) for s in row), default=0) + 4 for row in stops]

    class StopOnText(StoppingCriteria):
        def __init__(self) -> None:
            self.done: torch.Tensor | None = None
            self.lengths: dict[int, int] = {}  # row -> new tokens when it stopped (later ones are padding)

        def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
            if self.done is None:
                self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            new = input_ids[:, prompt_len:]
            for r in range(new.shape[0]):
                if self.done[r] or not stops[r]:
                    continue
                tail = tokenizer.decode(new[r, -windows[r]:], skip_special_tokens=True)
                if any(s in tail for s in stops[r]) and find_stop(
                        tokenizer.decode(new[r], skip_special_tokens=True), stops[r]) is not None:
                    self.done[r] = True
                    self.lengths[r] = new.shape[1]
            return self.done.clone()

    return StopOnText()


def _generation_config(max_new_tokens: int, eos_ids: list[int], pad_id: int):
    from transformers import GenerationConfig

    # Explicit neutral values: `generate` fills unset (None) fields from the model's own
    # generation_config (a repetition penalty or top_k from the Hub would change the decoding).
    return GenerationConfig(
        max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
        eos_token_id=eos_ids, pad_token_id=pad_id, repetition_penalty=1.0, no_repeat_ngram_size=0,
        min_new_tokens=0, length_penalty=1.0, temperature=1.0, top_p=1.0,
        renormalize_logits=False,
    )


def generate_batch(model, tokenizer, requests: Sequence[Request], *, eos_ids: Sequence[int], temperature: float,
                   top_p: float) -> list[Generation]:
    """One batch through `model.generate`; one Generation per request, in order."""
    import torch

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    longest = max(len(r.prompt_ids) for r in requests)
    input_ids = torch.full((len(requests), longest), pad_id, dtype=torch.long)
    attention = torch.zeros((len(requests), longest), dtype=torch.long)
    for i, r in enumerate(requests):
        input_ids[i, longest - len(r.prompt_ids):] = torch.tensor(r.prompt_ids, dtype=torch.long)
        attention[i, longest - len(r.prompt_ids):] = 1
    steps = max(r.max_new_tokens for r in requests)
    processors = []
    if temperature > 0:
        processors.append(_make_row_sampler([r.seed for r in requests], temperature, top_p, device))
    stops = [r.stops for r in requests]
    criteria = [_make_stop_criterion(tokenizer, longest, stops)] if any(stops) else []
    from transformers import LogitsProcessorList, StoppingCriteriaList

    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids.to(device), attention_mask=attention.to(device),
            generation_config=_generation_config(steps, list(eos_ids), pad_id),
            logits_processor=LogitsProcessorList(processors), stopping_criteria=StoppingCriteriaList(criteria),
        )
    new_tokens = out[:, longest:].tolist()
    stopped_at = criteria[0].lengths if criteria else {}
    eos = set(eos_ids)
    results = []
    for row, (r, ids) in enumerate(zip(requests, new_tokens, strict=True)):
        ids = ids[: min(r.max_new_tokens, stopped_at.get(row, len(ids)))]
        end = next((i for i, t in enumerate(ids) if t in eos), None)
        hit_eos = end is not None
        if hit_eos:
            ids = ids[: end + 1]
        raw = tokenizer.decode(ids, skip_special_tokens=True)
        text, stop = truncate_at_stop(raw, r.stops)
        finish = "stop" if stop is not None else "eos" if hit_eos else "length"
        results.append(Generation(text=text, raw=raw, finish=finish, n_tokens=len(ids)))
    return results


def _is_out_of_memory(err: BaseException) -> bool:
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    msg = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def generate_all(model, tokenizer, requests: Sequence[Request], *, batch_size: int, eos_ids: Sequence[int],
                 temperature: float, top_p: float, on_batch: Callable[[list[int], list[Generation]], None]) -> int:
    """Generate every request in batches of `batch_size`, longest prompts first (least padding,
    and an out-of-memory shows up in the first batch). On out-of-memory the batch size halves
    and the same batch is retried. `on_batch(indices, generations)` receives each finished
    batch (indices into `requests`). Returns the batch size that was used last."""
    import torch

    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].prompt_ids))
    start = 0
    while start < len(order):
        indices = order[start: start + batch_size]
        try:
            gens = generate_batch(model, tokenizer, [requests[i] for i in indices], eos_ids=eos_ids,
                                  temperature=temperature, top_p=top_p)
        except (torch.OutOfMemoryError, RuntimeError) as err:
            if not _is_out_of_memory(err):
                raise
            if batch_size == 1:
                raise CodemixError(
                    f"out of memory generating one sample (prompt of {len(requests[indices[0]].prompt_ids)} "
                    f"tokens, up to {requests[indices[0]].max_new_tokens} new); lower max_new_tokens or use a "
                    "smaller model / a GPU with more memory") from None
            batch_size = max(1, batch_size // 2)
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            print(f"generate: out of memory; batch_size lowered to {batch_size}", file=sys.stderr, flush=True)
            continue
        on_batch(indices, gens)
        start += len(indices)
    return batch_size


class HFBackend(Backend):
    """transformers `generate` on one device (GPU when there is one), batched as above."""
    name = "hf"

    def __init__(self, model=None, tokenizer=None) -> None:
        self.model, self.tokenizer = model, tokenizer
        if model is not None:
            self._configure()

    def load(self, model_ref, *, seed: int) -> None:
        from codemix.finetune.checkpoint import load_for_inference

        self.model, self.tokenizer = load_for_inference(model_ref)
        self._configure()

    def _configure(self) -> None:
        from codemix.eval.generation.prompts import context_length, end_of_sequence_ids

        self.model.eval()
        self.eos_ids = end_of_sequence_ids(self.tokenizer, getattr(self.model, "generation_config", None),
                                           self.model.config)
        self.max_context = context_length(self.model.config)

    def generate(self, requests, *, batch_size, temperature, top_p, on_batch) -> int:
        return generate_all(self.model, self.tokenizer, requests, batch_size=batch_size, eos_ids=self.eos_ids,
                            temperature=temperature, top_p=top_p, on_batch=on_batch)


register_backend(HFBackend)
