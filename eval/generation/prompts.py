"""Prompts for generation: the text a model is given for a problem, how it is tokenised, where
a sample ends.

Prompt styles:
- completion: the benchmark prompt as is; the output is cut at the problem's own stop sequences
  when it declares them (`Problem.stop`, e.g. an exact-match task that ends its answer with
  "."), else at the standard code stop sequences (function-level for a prompt that ends inside
  the function, program-level for one that does not, see eval/generation/extract.py).
- instruction: the problem's instruction in the checkpoint's prompt format (the chat template
  for a plain model that has one, else alpaca); the code is extracted from the response.
`auto` picks one by what the model is (choose_prompt_style), and every run says which and why:
the same weights scored 0% with completion prompts and 100% with the instructions they were
trained on, and a style chosen in silence reads as a broken model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.errors import CodemixError
from codemix.core.progress import shown
from codemix.eval.generation.extract import END_OF_TURN_TEXTS, completion_stops

if TYPE_CHECKING:
    from codemix.finetune.checkpoint import ModelRef


def problem_field(problem: Any, name: str) -> Any:
    return problem[name] if isinstance(problem, dict) else getattr(problem, name, None)


@dataclass(frozen=True)
class PromptSpec:
    style: str                 # completion | instruction
    prompt_format: str | None  # instruction style: chat_template | alpaca | magicoder | plain | custom
    template: str | None = None


def build_prompt(problem: Any, spec: PromptSpec, tokenizer) -> str:
    task_id = problem_field(problem, "task_id")
    if spec.style == "completion":
        text = problem_field(problem, "prompt")
        if not text:
            raise CodemixError(f"problem {task_id}: no completion-style prompt; use prompt_style: instruction")
        return text
    from codemix.finetune.prompts import format_prompt

    instruction = problem_field(problem, "instruction")
    if not instruction:
        raise CodemixError(f"problem {task_id}: no instruction text; use prompt_style: completion")
    return format_prompt(instruction, spec.prompt_format, tokenizer, spec.template)


def encode_prompt_text(text: str, spec: PromptSpec, tokenizer) -> list[int]:
    """Completion prompts get the tokenizer's own special tokens (a Llama base model's BOS);
    instruction prompts already carry them in the text (codemix.finetune.prompts' contract)."""
    ids = tokenizer(text, add_special_tokens=spec.style == "completion")["input_ids"]
    eos = tokenizer.eos_token_id
    appended_eos = ids and eos is not None and ids[-1] == eos and not text.endswith(tokenizer.eos_token)
    if spec.style == "completion" and appended_eos:
        ids = ids[:-1]  # a tokenizer that appends EOS would tell the model the prompt is finished
    return ids


def _turn_markers(spec: PromptSpec, tokenizer) -> list[str]:
    """Text that opens a new turn in this prompt format (`### Instruction:`, `@@ Response`, ...):
    an instruction-tuned model that goes on past its answer writes one next."""
    from codemix.finetune.prompts import format_prompt

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
    codemix.eval.generation.extract.completion_stops); for instruction style, at the next turn of the format."""
    if spec.style == "completion":
        if problem is None:
            raise ValueError("completion-style stop sequences depend on the problem")
        own = tuple(problem_field(problem, "stop") or ())
        if own:
            return own + END_OF_TURN_TEXTS
        return completion_stops(problem_field(problem, "prompt"), problem_field(problem, "entry_point")) + END_OF_TURN_TEXTS
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


def resolve_spec(style: str, prompt_format: str | None, template: str | None, tokenizer) -> PromptSpec:
    if style == "completion":
        return PromptSpec("completion", None, None)
    from codemix.finetune.prompts import resolve_prompt_format

    fmt = resolve_prompt_format(prompt_format or "auto", tokenizer, template)
    return PromptSpec("instruction", fmt, template if fmt == "custom" else None)


def choose_prompt_style(prompt_style: str, source: ModelRef) -> tuple[str, str]:
    """(completion | instruction, why). `auto` follows what the model is: a codemix checkpoint was
    trained on instructions in its prompt format, so it gets them; anything else is taken for a
    base model and gets the benchmark's code prompt to complete."""
    note = f"{source.note}; " if source.note else ""
    if prompt_style != "auto":
        return prompt_style, f"{note}as asked (prompt_style: {prompt_style})"
    ref = shown(source.ref) if Path(source.ref).exists() else source.ref
    if source.checkpoint is not None:
        what = "it is" if source.note else f"{ref} is"
        return "instruction", (f"{note}{what} a codemix checkpoint, trained on instructions in this format "
                               "(prompt_style auto)")
    what = "a plain model folder" if source.note else f"{ref} is not a codemix checkpoint"
    return "completion", (f"{note}{what}, so it is taken for a base model (prompt_style auto); "
                          "pass --prompt-style instruction (eval.prompt_style) for an instruction-tuned model")


def prompt_line(spec: PromptSpec, reason: str) -> str:
    """The console line naming the prompts a run uses and why."""
    fmt = f", {spec.prompt_format} format" if spec.style == "instruction" else ""
    return f"prompts: {spec.style}{fmt}: {reason}"
