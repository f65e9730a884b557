"""From raw model output to a runnable program: stop sequences, code extraction, sanitising.

Two prompt styles need two treatments:
- completion style (base models): the model continues the benchmark prompt (signature +
  docstring). The continuation is cut at the first standard stop sequence (the next top-level
  `def`, `class`, `if`, `print`, comment, ...) and the program is prompt + completion.
- instruction style (chat / instruction-tuned models): the response is prose and code. The code
  is taken from a fenced block (or, without fences, from the first line that starts code), then
  sanitised: only imports, functions, classes and the constants they use are kept, so example
  calls, prints, asserts and `if __name__ == "__main__":` blocks in the answer cannot run (or
  fail) at test time.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass

# The Codex paper's stop set ("\nclass", "\ndef", "\n#", "\nif", "\nprint") plus "\n@" (a
# decorator starts the next top-level definition), "\nassert " (test code) and "\n```" (a base
# model that closes a markdown block). The trailing space / parenthesis keeps `default = ...`,
# `ifs = ...` or `printer = ...` at column 0 from stopping generation.
COMPLETION_STOPS: tuple[str, ...] = (
    "\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\n@", "\nassert ", "\n```",
)

# A completion prompt without the function's signature (MBPP's: a docstring with the task and a
# test) is continued by a whole program, helpers and imports included, so only what starts test
# or script code ends it (the stop set of bigcode-evaluation-harness for MBPP, less its
# model-specific markers).
PROGRAM_STOPS: tuple[str, ...] = ("\nif ", "\nprint(", "\nassert ", "\n```", '\n"""')

# Text forms of end-of-turn markers, for models whose tokenizer does not treat them as special
# tokens (decoding drops special tokens, and their ids stop generation as end-of-sequence).
END_OF_TURN_TEXTS: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<|end|>")

_PYTHON_LANGS = {"", "python", "py", "python3", "py3", "pycon"}
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.S | re.M)
# A line that starts Python code at column 0 (prose rarely starts like this).
_CODE_START = re.compile(r"^(?:async\s+def\s|def\s|class\s|import\s|from\s+[\w.]+\s+import\s|@\w)")


def completion_stops(prompt: str, entry_point: str | None) -> tuple[str, ...]:
    """Stops for a completion-style prompt: the function-level set when the prompt ends inside
    the function to complete (HumanEval), the program-level set when the model writes the whole
    program (MBPP)."""
    if entry_point and _defines(prompt, entry_point):
        return COMPLETION_STOPS
    return PROGRAM_STOPS


def find_stop(text: str, stops: Iterable[str]) -> tuple[int, str] | None:
    """Position and text of the earliest stop sequence in `text`, or None."""
    best: tuple[int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        i = text.find(stop)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, stop)
    return best


def truncate_at_stop(text: str, stops: Iterable[str]) -> tuple[str, str | None]:
    """`text` up to (not including) the earliest stop sequence, and which stop it was."""
    hit = find_stop(text, stops)
    if hit is None:
        return text, None
    return text[: hit[0]], hit[1]


# ---------------------------------------------------------------- extraction

@dataclass(frozen=True)
class Extraction:
    code: str    # the sanitised program ("" when the response has no code)
    source: str  # "fence": from a fenced block; "text": from unfenced code; "none": no code found
    parsed: bool  # whether `code` is valid Python syntax (unparseable code is kept as is: it fails honestly)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: source with null bytes
        return False
    return True


def _defines(code: str, name: str | None) -> bool:
    return bool(name) and re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]


def _code_segments(text: str) -> list[str]:
    """Unfenced code: from each line that starts code at column 0, the longest run of lines that
    parses, cut only where a column-0 line begins (prose after the code starts at column 0; an
    indented line belongs to the block above). Prose between two functions is skipped."""
    lines = text.split("\n")
    segments: list[str] = []
    i = 0
    while i < len(lines):
        if not _CODE_START.match(lines[i]):
            i += 1
            continue
        ends = [j for j in range(i + 1, len(lines)) if lines[j][:1] not in ("", " ", "\t")] + [len(lines)]
        for end in sorted(ends, reverse=True):
            chunk = "\n".join(lines[i:end]).rstrip()
            if _parses(chunk):
                segments.append(chunk)
                i = end
                break
        else:  # nothing from here parses (e.g. cut off mid-statement): keep the rest as is
            segments.append("\n".join(lines[i:]).rstrip())
            break
    return segments


def _node_names_defined(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def sanitize(code: str, entry_point: str | None = None) -> str:
    """Keep imports, and the functions, classes and module-level constants the entry point
    needs (all of them when there is no entry point or it is not defined here); drop every other
    top-level statement (example calls, prints, asserts, `if __name__ == ...` blocks). Source
    text of kept statements is copied verbatim (comments and formatting survive). Code that does
    not parse is returned unchanged."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    definitions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    constants = [n for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))]
    defined_functions = {n.name for n in definitions}
    # An assignment that calls a function defined here (`result = solve(3)`) is test code, not a
    # constant: running it at import time can raise before any test runs.
    constants = [n for n in constants if not any(
        isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in defined_functions
        for c in ast.walk(n))]
    candidates = definitions + constants
    if entry_point and entry_point in defined_functions:
        keep: set[int] = set()
        wanted = {entry_point}
        while True:  # transitive closure of the names the entry point uses
            added = [n for n in candidates if id(n) not in keep and _node_names_defined(n) & wanted]
            if not added:
                break
            for n in added:
                keep.add(id(n))
                wanted |= _names_used(n)
        kept = [n for n in candidates if id(n) in keep]
    else:
        kept = candidates
    kept_ids = {id(n) for n in kept}
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    lines = code.split("\n")
    parts = []
    for node in tree.body:
        if id(node) not in kept_ids and node not in imports:
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        parts.append("\n".join(lines[start - 1: node.end_lineno]))
    return "\n\n".join(p.rstrip() for p in parts) + ("\n" if parts else "")


def _prompt_imports(prompt: str | None) -> list[str]:
    """Top-level import lines of the benchmark prompt (HumanEval prompts import `List`, `math`,
    ...; an answer that uses them without repeating the import should not fail for it)."""
    if not prompt:
        return []
    return [ln for ln in prompt.split("\n") if re.match(r"^(?:import\s|from\s+[\w.]+\s+import\s)", ln)]


def extract_code(response: str, entry_point: str | None = None, prompt: str | None = None) -> Extraction:
    """The program an instruction-style response proposes.

    Fenced Python blocks win (the first that defines `entry_point`, else the first with a
    function, else the first); without fences, the unfenced code segments. A bare function body
    (indented lines only) is attached to the benchmark prompt's signature. Imports from the
    prompt are prepended when the code lacks them."""
    blocks = _fenced_blocks(response)
    python_blocks = [code for lang, code in blocks if lang in _PYTHON_LANGS] or [code for _, code in blocks]
    if python_blocks:
        source = "fence"
        chosen = (next((b for b in python_blocks if _defines(b, entry_point)), None)
                  or next((b for b in python_blocks if re.search(r"^\s*def\s", b, re.M)), None)
                  or python_blocks[0])
        if not _parses(chosen) and not chosen.startswith((" ", "\t")):
            segments = _code_segments(chosen)  # prose or a stray line inside the fence
            chosen = "\n\n".join(segments) if segments else chosen
    else:
        segments = _code_segments(response)
        if not segments:
            return Extraction(code="", source="none", parsed=False)
        source, chosen = "text", "\n\n".join(segments)

    chosen = chosen.rstrip() + "\n"
    body_only = chosen.strip() and all(ln[:1] in (" ", "\t") for ln in chosen.split("\n") if ln.strip())
    if body_only and prompt and entry_point and _defines(prompt, entry_point):
        # "Complete this function" answered with the body only: it continues the signature.
        return Extraction(code=prompt + chosen, source=source, parsed=_parses(prompt + chosen))
    code = sanitize(chosen, entry_point)
    missing = [imp for imp in _prompt_imports(prompt) if imp not in code.split("\n")]
    if missing and code.strip():
        code = "\n".join(missing) + "\n\n" + code
    return Extraction(code=code, source=source, parsed=_parses(code))
