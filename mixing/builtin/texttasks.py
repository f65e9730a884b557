"""builtin:texttasks -- short natural-language tasks with computed answers (domain general).

47 families (texttasks_language: words and sentences; texttasks_reasoning: numbers, dates,
extraction), built from codemix's own word lists. The `task` label of a row is its family name
and `meta["answer"]` holds the bare answer, so downstream code can score exact matches.
"""

from __future__ import annotations

from typing import Any

from codemix.mixing.builtin.draw import Rand, pick, weighted_table
from codemix.mixing.builtin.texttasks_language import LANGUAGE_FAMILIES
from codemix.mixing.builtin.texttasks_reasoning import REASONING_FAMILIES

FAMILIES = LANGUAGE_FAMILIES + REASONING_FAMILIES
FAMILY_NAMES = tuple(name for name, _, _ in FAMILIES)
_TABLE = weighted_table([weight for _, _, weight in FAMILIES])


def make_train_row(r: Rand) -> tuple[str, str, str, dict[str, Any]]:
    name, generate, _ = FAMILIES[pick(r, _TABLE)]
    instruction, response, answer = generate(r)
    return instruction, response, name, {"answer": answer}
