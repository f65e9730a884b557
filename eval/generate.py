"""Generate benchmark samples from a model: the generation half of evaluation.

`generate(problems, model_ref=..., ...)` loads a model (a `codemix train` checkpoint, or any model
directory / Hub id with an optional adapter), builds one prompt per problem, generates
`n_samples` per problem with the Hugging Face or vLLM backend and writes, in `out_dir`:
prompts.jsonl, samples.jsonl (EvalPlus-compatible), samples.raw.jsonl and generation.json (see
eval/generate_store.py). Samples are appended as they are produced; a killed run resumes.
`generate_samples(model, tokenizer, problems, ...)` does the same with an already-loaded model.

Prompt styles:
- completion: the benchmark prompt as is; the output is cut at the standard stop sequences
  (function-level for a prompt that ends inside the function, program-level for one that does
  not, see eval/extract.py) and the program is prompt + completion. Default for plain models.
- instruction: the problem's instruction in the checkpoint's prompt format (the chat template
  for a plain model that has one, else alpaca); the code is extracted from the response and
  sanitised. Default for codemix checkpoints.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.extract import END_OF_TURN_TEXTS, completion_stops, extract_code
from eval.generate_hf import Generation, Request
from eval.generate_models import load_hf_model, resolve_model
from eval.generate_store import SampleStore
from mixing.errors import CodemixError
from mixing.progress import progress

PROMPT_STYLES = ("auto", "completion", "instruction")
BACKENDS = ("hf", "vllm")


# ---------------------------------------------------------------- settings and inputs

def check_settings(*, prompt_style: str, n_samples: int, temperature: float, top_p: float,
                   max_new_tokens: int, batch_size: int, backend: str) -> None:
    if prompt_style not in PROMPT_STYLES:
        raise CodemixError(f"eval.prompt_style: {prompt_style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    if backend not in BACKENDS:
        raise CodemixError(f"eval.backend: {backend!r}; expected hf or vllm")
    if n_samples < 1:
        raise CodemixError(f"eval.n_samples: must be at least 1, got {n_samples}")
    if temperature < 0:
        raise CodemixError(f"eval.temperature: must be >= 0, got {temperature}")
    if temperature == 0 and n_samples > 1:
        raise CodemixError(f"eval.temperature: 0 is greedy decoding, which gives one sample per task; "
                           f"n_samples must be 1, got {n_samples} (or set a temperature such as 0.8)")
    if not 0 < top_p <= 1:
        raise CodemixError(f"eval.top_p: must be in (0, 1], got {top_p}")
    if max_new_tokens < 1:
        raise CodemixError(f"eval.max_new_tokens: must be at least 1, got {max_new_tokens}")
    if batch_size < 1:
        raise CodemixError(f"eval.batch_size: must be at least 1, got {batch_size}")


def _field(problem: Any, name: str) -> Any:
    return problem[name] if isinstance(problem, dict) else getattr(problem, name, None)


def select_problems(problems: Sequence[Any], tasks: Sequence[str] | None) -> list[Any]:
    ids = [str(_field(p, "task_id")) for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(t for t in ids if ids.count(t) > 1)
        raise CodemixError(f"problems: task_id {dup} appears more than once")
    if not tasks:
        return list(problems)
    unknown = [t for t in tasks if t not in set(ids)]
    if unknown:
        raise CodemixError(f"eval.tasks: unknown task id(s) {', '.join(unknown[:5])}"
                           f"{' ...' if len(unknown) > 5 else ''} (known: {', '.join(ids[:3])}, ...)")
    wanted = set(tasks)
    return [p for p in problems if str(_field(p, "task_id")) in wanted]


def sample_seed(seed: int, task_id: str, index: int) -> int:
    """The sampling seed of one (task, sample): independent of batching and of resumption."""
    digest = hashlib.sha256(f"{seed}\x00{task_id}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# ---------------------------------------------------------------- prompts

@dataclass(frozen=True)
class PromptSpec:
    style: str                 # completion | instruction
    prompt_format: str | None  # instruction style: chat_template | alpaca | magicoder | plain | custom
    template: str | None = None


def build_prompt(problem: Any, spec: PromptSpec, tokenizer) -> str:
    task_id = _field(problem, "task_id")
    if spec.style == "completion":
        text = _field(problem, "prompt")
        if not text:
            raise CodemixError(f"problem {task_id}: no completion-style prompt; use prompt_style: instruction")
        return text
    from finetune.prompts import format_prompt

    instruction = _field(problem, "instruction")
    if not instruction:
        raise CodemixError(f"problem {task_id}: no instruction text; use prompt_style: completion")
    return format_prompt(instruction, spec.prompt_format, tokenizer, spec.template)


def encode_prompt_text(text: str, spec: PromptSpec, tokenizer) -> list[int]:
    """Completion prompts get the tokenizer's own special tokens (a Llama base model's BOS);
    instruction prompts already carry them in the text (finetune.prompts' contract)."""
    ids = tokenizer(text, add_special_tokens=spec.style == "completion")["input_ids"]
    eos = tokenizer.eos_token_id
    appended_eos = ids and eos is not None and ids[-1] == eos and not text.endswith(tokenizer.eos_token)
    if spec.style == "completion" and appended_eos:
        ids = ids[:-1]  # a tokenizer that appends EOS would tell the model the prompt is finished
    return ids


def _turn_markers(spec: PromptSpec, tokenizer) -> list[str]:
    """Text that opens a new turn in this prompt format (`### Instruction:`, `@@ Response`, ...):
    an instruction-tuned model that goes on past its answer writes one next."""
    from finetune.prompts import format_prompt

    sentinel = "\x00CODEMIX-INSTRUCTION\x00"
    text = format_prompt(sentinel, spec.prompt_format, tokenizer, spec.template)
    head, _, tail = text.partition(sentinel)
    markers = []
    for part in (head, tail):
        lines = [ln.strip() for ln in part.split("\n") if ln.strip()]
        if lines:
            markers.append(lines[-1])
    return [m for m in dict.fromkeys(markers) if m != (tokenizer.bos_token or None)]


def stop_sequences(spec: PromptSpec, tokenizer, problem: Any = None) -> tuple[str, ...]:
    """Where a sample ends: for completion style it depends on the problem's prompt (see
    eval.extract.completion_stops); for instruction style, at the next turn of the format."""
    if spec.style == "completion":
        if problem is None:
            raise ValueError("completion-style stop sequences depend on the problem")
        return completion_stops(_field(problem, "prompt"), _field(problem, "entry_point")) + END_OF_TURN_TEXTS
    return tuple("\n" + m for m in _turn_markers(spec, tokenizer)) + END_OF_TURN_TEXTS


def end_of_sequence_ids(tokenizer, *configs) -> list[int]:
    """Token ids that end a sample: the model's and tokenizer's EOS, plus end-of-turn tokens the
    tokenizer knows as special tokens (a chat model ends its answer with `<|im_end|>` or
    `<|eot_id|>` even when its config names another EOS)."""
    ids: list[int] = []
    for cfg in configs:
        value = getattr(cfg, "eos_token_id", None)
        ids.extend(value if isinstance(value, (list, tuple)) else [value])
    ids.append(tokenizer.eos_token_id)
    special = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
    ids.extend(tokenizer.convert_tokens_to_ids(t) for t in END_OF_TURN_TEXTS if t in special)
    return [int(i) for i in dict.fromkeys(ids) if i is not None]


def context_length(*configs) -> int | None:
    for cfg in configs:
        for name in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = getattr(cfg, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


# ---------------------------------------------------------------- the run

@dataclass(frozen=True)
class Row:
    task_id: str
    index: int
    request: Request


class _Recorder:
    """Turns generations into sample rows, appends them and keeps the counts."""

    def __init__(self, store: SampleStore, spec: PromptSpec, problems: dict[str, Any]) -> None:
        self.store, self.spec, self.problems = store, spec, problems
        self.generated = self.tokens = 0
        self.finish: dict[str, int] = {}
        self.extraction: dict[str, int] = {}

    def record(self, rows: Sequence[Row], gens: Sequence[Generation]) -> None:
        samples, raws = [], []
        for row, gen in zip(rows, gens, strict=True):
            problem = self.problems[row.task_id]
            raw = {"task_id": row.task_id, "sample_index": row.index, "raw": gen.raw, "finish": gen.finish,
                   "n_tokens": gen.n_tokens}
            if self.spec.style == "completion":
                solution = _field(problem, "prompt") + gen.text
            else:
                ex = extract_code(gen.text, _field(problem, "entry_point"), _field(problem, "prompt"))
                solution = ex.code
                raw["extraction"] = ex.source
                raw["parsed"] = ex.parsed
                self.extraction[ex.source] = self.extraction.get(ex.source, 0) + 1
            samples.append({"task_id": row.task_id, "solution": solution, "completion": gen.text,
                            "sample_index": row.index})
            raws.append(raw)
            self.finish[gen.finish] = self.finish.get(gen.finish, 0) + 1
            self.tokens += gen.n_tokens
        self.store.append(samples, raws)
        self.generated += len(rows)


def _plan(prompts: dict[str, str], problems: dict[str, Any], spec: PromptSpec, tokenizer, *, n_samples: int,
          seed: int, max_new_tokens: int, max_context: int | None, done: set) -> list[Row]:
    rows = []
    shared_stops = stop_sequences(spec, tokenizer) if spec.style == "instruction" else None
    for task_id, text in prompts.items():
        todo = [i for i in range(n_samples) if (task_id, i) not in done]
        if not todo:
            continue
        ids = encode_prompt_text(text, spec, tokenizer)
        budget = max_new_tokens if max_context is None else min(max_new_tokens, max_context - len(ids))
        if budget < 1:
            raise CodemixError(f"problem {task_id}: the prompt has {len(ids)} tokens, the model's context is "
                               f"{max_context}; no room to generate (use a model with a longer context)")
        stops = shared_stops or stop_sequences(spec, tokenizer, problems[task_id])
        rows.extend(Row(task_id, i, Request(ids, sample_seed(seed, task_id, i), budget, stops)) for i in todo)
    return rows


def run_generation(problems: Sequence[Any], *, tokenizer, spec: PromptSpec, out_dir: str | Path,
                   settings: dict[str, Any], n_samples: int, seed: int, max_new_tokens: int,
                   max_context: int | None, batch_size: int, tasks: Sequence[str] | None,
                   backend_run) -> dict[str, Any]:
    """Shared by both backends: prompts, resume, progress, files, summary. `backend_run(rows,
    batch_size, on_batch)` generates the rows, calling `on_batch(rows, generations)` as batches
    finish, and returns the batch size it ended with."""
    selected = select_problems(problems, tasks)
    by_id = {str(_field(p, "task_id")): p for p in selected}
    prompts = {task_id: build_prompt(p, spec, tokenizer) for task_id, p in by_id.items()}
    store = SampleStore(out_dir)
    done = store.open(settings, prompts)
    done_here = {k for k in done if k[0] in by_id and k[1] < n_samples}
    rows = _plan(prompts, by_id, spec, tokenizer, n_samples=n_samples, seed=seed, max_new_tokens=max_new_tokens,
                 max_context=max_context, done=done)
    recorder = _Recorder(store, spec, by_id)
    bar = progress(None, desc=f"generate ({spec.style})", total=len(rows), unit="sample")
    started = time.perf_counter()

    def on_batch(batch_rows: Sequence[Row], gens: Sequence[Generation]) -> None:
        recorder.record(batch_rows, gens)
        bar.update(len(batch_rows))

    try:
        final_batch = backend_run(rows, batch_size, on_batch) if rows else batch_size
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    summary = {
        "tasks": len(by_id), "n_samples": n_samples, "samples": len(done_here) + recorder.generated,
        "generated": recorder.generated, "resumed": len(done_here),
        "seconds": round(seconds, 3),
        "samples_per_s": round(recorder.generated / seconds, 3) if recorder.generated and seconds > 0 else None,
        "tokens_per_s": round(recorder.tokens / seconds, 1) if recorder.tokens and seconds > 0 else None,
        "finish": recorder.finish, "batch_size": final_batch,
        "prompt_style": spec.style, "prompt_format": spec.prompt_format, "settings": settings,
    }
    if spec.style == "instruction":
        summary["extraction"] = recorder.extraction
    store.finalize(list(by_id), summary)
    return summary


def generate_samples(model, tokenizer, problems: Sequence[Any], *, out_dir: str | Path,
                     prompt_style: str = "completion", prompt_format: str | None = None,
                     template: str | None = None, n_samples: int = 1, temperature: float = 0.0,
                     top_p: float = 0.95, max_new_tokens: int = 512, seed: int = 0, batch_size: int = 8,
                     tasks: Sequence[str] | None = None, model_label: str | None = None) -> dict[str, Any]:
    """Generation with an already-loaded transformers (model, tokenizer), HF backend.
    `prompt_style` is completion or instruction (for instruction, `prompt_format` defaults to
    the tokenizer's chat template, else alpaca)."""
    from eval.generate_hf import generate_all

    check_settings(prompt_style=prompt_style, n_samples=n_samples, temperature=temperature, top_p=top_p,
                   max_new_tokens=max_new_tokens, batch_size=batch_size, backend="hf")
    spec = resolve_spec(prompt_style if prompt_style != "auto" else "completion", prompt_format, template, tokenizer)
    model.eval()
    eos_ids = end_of_sequence_ids(tokenizer, getattr(model, "generation_config", None), model.config)
    settings = {"model": model_label or getattr(model, "name_or_path", None) or type(model).__name__,
                "backend": "hf", "prompt_style": spec.style, "prompt_format": spec.prompt_format,
                "template": spec.template, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "seed": seed}

    def backend_run(rows, size, on_batch):
        return generate_all(model, tokenizer, [r.request for r in rows], batch_size=size, eos_ids=eos_ids,
                            temperature=temperature, top_p=top_p,
                            on_batch=lambda idx, gens: on_batch([rows[i] for i in idx], gens))

    return run_generation(problems, tokenizer=tokenizer, spec=spec, out_dir=out_dir, settings=settings,
                          n_samples=n_samples, seed=seed, max_new_tokens=max_new_tokens,
                          max_context=context_length(model.config), batch_size=batch_size, tasks=tasks,
                          backend_run=backend_run)


def resolve_spec(style: str, prompt_format: str | None, template: str | None, tokenizer) -> PromptSpec:
    if style == "completion":
        return PromptSpec("completion", None, None)
    from finetune.prompts import resolve_prompt_format

    fmt = resolve_prompt_format(prompt_format or "auto", tokenizer, template)
    return PromptSpec("instruction", fmt, template if fmt == "custom" else None)


def generate(problems: list, *, model_ref: str, adapter: str | None = None, out_dir: str | Path,
             prompt_style: str = "auto", n_samples: int = 1, temperature: float = 0.0, top_p: float = 0.95,
             max_new_tokens: int = 512, seed: int = 0, batch_size: int = 16, backend: str = "hf",
             tasks: list[str] | None = None) -> dict[str, Any]:
    """Generate samples for `problems` with the model `model_ref` (+ `adapter`) into `out_dir`;
    returns the summary (counts, samples/s, prompt style, settings)."""
    check_settings(prompt_style=prompt_style, n_samples=n_samples, temperature=temperature, top_p=top_p,
                   max_new_tokens=max_new_tokens, batch_size=batch_size, backend=backend)
    if backend == "vllm":
        from eval.generate_vllm import check_vllm_available

        check_vllm_available()
    source = resolve_model(model_ref, adapter)
    style = prompt_style
    if style == "auto":
        style = "instruction" if source.checkpoint is not None else "completion"
    ckpt = source.checkpoint or {}
    prompt_format, template = ckpt.get("prompt_format"), ckpt.get("template")  # None for plain models
    label = str(Path(model_ref).resolve()) if Path(model_ref).exists() else model_ref
    label += f" + {Path(adapter).resolve()}" if adapter else ""
    if backend == "vllm":
        from eval.generate_vllm import generate_vllm

        return generate_vllm(problems, source=source, out_dir=out_dir, style=style, prompt_format=prompt_format,
                             template=template, n_samples=n_samples, temperature=temperature, top_p=top_p,
                             max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, tasks=tasks,
                             model_label=label)
    model, tokenizer = load_hf_model(source)
    summary = generate_samples(model, tokenizer, problems, out_dir=out_dir, prompt_style=style,
                               prompt_format=prompt_format, template=template, n_samples=n_samples,
                               temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                               batch_size=batch_size, tasks=tasks, model_label=label)
    return summary
