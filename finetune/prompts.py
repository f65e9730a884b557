"""Prompt formats: how a row's messages become the text the model is trained on, and how a new
instruction becomes the generation prompt — one code path for both, so evaluation formats
prompts exactly as training did.

Formats:
- `chat_template`: the tokenizer's own chat template (`add_generation_prompt=True` for the prompt);
- `alpaca`:    the Stanford Alpaca preamble + `### Instruction:` / `### Response:`;
- `magicoder`: the Magicoder system line + `@@ Instruction` / `@@ Response`;
- `plain`:     the instruction, a newline, then the response;
- `custom`:    a recipe string with `{instruction}`, optionally `{system}` and `{response}`
               (the prompt is everything before `{response}`).

Contract with the tokenizer: the prompt string is tokenized with `add_special_tokens=False`
(`encode_prompt` does it). Instruction templates therefore start with the tokenizer's BOS text
when that tokenizer would add a BOS by itself, so a Llama-style model still sees its BOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codemix.core.errors import CodemixError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class InstructionTemplate:
    preamble: str      # used when the prompt has no system message
    instruction: str   # one user turn; contains {instruction}
    response: str      # header that opens an assistant turn


TEMPLATES: dict[str, InstructionTemplate] = {
    "alpaca": InstructionTemplate(
        preamble="Below is an instruction that describes a task. Write a response that appropriately "
                 "completes the request.\n\n",
        instruction="### Instruction:\n{instruction}\n\n",
        response="### Response:\n",
    ),
    "magicoder": InstructionTemplate(
        preamble="You are an exceptionally intelligent coding assistant that consistently delivers accurate "
                 "and reliable responses to user instructions.\n\n",
        instruction="@@ Instruction\n{instruction}\n\n",
        response="@@ Response\n",
    ),
    "plain": InstructionTemplate(preamble="", instruction="{instruction}\n", response=""),
}

# Separates an earlier assistant answer from the next instruction in multi-turn rows.
TURN_SEPARATOR = "\n\n"


def resolve_prompt_format(prompt_format: str, tokenizer: PreTrainedTokenizerBase,
                          template: str | None = None) -> str:
    """`auto` -> `chat_template` when the tokenizer has one, else `alpaca`; checks the others."""
    if prompt_format == "auto":
        return "chat_template" if getattr(tokenizer, "chat_template", None) else "alpaca"
    if prompt_format == "chat_template" and not getattr(tokenizer, "chat_template", None):
        raise CodemixError("train.prompt_format: chat_template, but the tokenizer has no chat template; "
                           "use auto, alpaca, magicoder, plain or custom")
    if prompt_format == "custom":
        check_custom_template(template)
    elif prompt_format not in TEMPLATES and prompt_format != "chat_template":
        raise CodemixError(f"train.prompt_format: unknown format {prompt_format!r}; expected auto, chat_template, "
                           f"{', '.join(TEMPLATES)} or custom")
    return prompt_format


def check_custom_template(template: str | None) -> None:
    if not template:
        raise CodemixError("train.template: prompt_format custom needs a template string with {instruction}")
    if "{instruction}" not in template:
        raise CodemixError(f"train.template: {template!r} has no {{instruction}} placeholder")
    if "{response}" in template and not template.rstrip().endswith("{response}"):
        raise CodemixError("train.template: {response} must come last (the prompt is the text before it)")


def _messages(messages_or_instruction: str | Messages) -> Messages:
    if isinstance(messages_or_instruction, str):
        return [{"role": "user", "content": messages_or_instruction}]
    return [{"role": m["role"], "content": m["content"]} for m in messages_or_instruction]


def _bos_prefix(tokenizer: PreTrainedTokenizerBase) -> str:
    """The BOS text when the tokenizer adds a BOS on its own (Llama, Mistral), else ''."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return ""
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    return tokenizer.bos_token if with_special and with_special[0] == bos_id else ""


def format_prompt(messages_or_instruction: str | Messages, prompt_format: str,
                  tokenizer: PreTrainedTokenizerBase, template: str | None = None) -> str:
    """The generation prompt for an instruction (str) or a conversation ending in a user turn,
    exactly as training rendered the prompt part of each row."""
    messages = _messages(messages_or_instruction)
    if not messages or messages[-1]["role"] != "user":
        raise CodemixError("a prompt must end with a user message")
    if prompt_format == "chat_template":
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if prompt_format == "custom":
        return _bos_prefix(tokenizer) + _custom_prompt(messages, template)
    if prompt_format not in TEMPLATES:
        raise CodemixError(f"unknown prompt format {prompt_format!r}")
    spec = TEMPLATES[prompt_format]
    system = "".join(m["content"] + "\n\n" for m in messages if m["role"] == "system")
    parts = [_bos_prefix(tokenizer), system or spec.preamble]
    for m in messages:
        if m["role"] == "user":
            parts.append(spec.instruction.replace("{instruction}", m["content"]))
        elif m["role"] == "assistant":
            parts.append(spec.response + m["content"] + TURN_SEPARATOR)
    parts.append(spec.response)
    return "".join(parts)


def _custom_prompt(messages: Messages, template: str | None) -> str:
    check_custom_template(template)
    if any(m["role"] == "assistant" for m in messages):
        raise CodemixError("a custom template renders one instruction; this row has several turns "
                           "(use chat_template or a named template for multi-turn data)")
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    instruction = "\n\n".join(m["content"] for m in messages if m["role"] == "user")
    prompt = template.split("{response}")[0]
    # replace(), not format(): code in an instruction is full of braces.
    return prompt.replace("{system}", system).replace("{instruction}", instruction)


def format_example(prompt: Messages, completion: Messages, prompt_format: str,
                   tokenizer: PreTrainedTokenizerBase, template: str | None = None) -> tuple[str, str]:
    """(prompt text, full text) of a training row; the completion is full[len(prompt):] when the
    template renders the prompt as a prefix, which every format here does."""
    prompt_text = format_prompt(prompt, prompt_format, tokenizer, template)
    answer = "".join(m["content"] for m in completion)
    if prompt_format == "chat_template":
        full = tokenizer.apply_chat_template(_messages(prompt) + _messages(completion), tokenize=False)
    else:
        # The eos text ends the completion so the model learns to stop.
        full = prompt_text + answer + (tokenizer.eos_token or "")
    return prompt_text, full


def encode_prompt(messages_or_instruction: str | Messages, prompt_format: str,
                  tokenizer: PreTrainedTokenizerBase, template: str | None = None) -> list[int]:
    """Token ids of the generation prompt, exactly the ids training put before each completion."""
    text = format_prompt(messages_or_instruction, prompt_format, tokenizer, template)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def template_text(prompt_format: str, template: str | None = None) -> Any:
    """What the manifest records about the format (the instruction template spelled out)."""
    if prompt_format == "custom":
        return template
    if prompt_format in TEMPLATES:
        spec = TEMPLATES[prompt_format]
        return spec.preamble + spec.instruction + spec.response + "{response}"
    return None
