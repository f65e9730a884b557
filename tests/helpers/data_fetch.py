"""Rebuild the test data files that have a Hugging Face Hub equivalent (see ../shared/data/README.md)
from the Hub, for a machine without ../shared/data. Run by tests/conftest.py in a subprocess with
the Hub allowed (the test process itself stays offline); downloads go to the normal HF cache.

    python tests/data_fetch.py OUT_DIR REL_PATH [REL_PATH ...]

Writes OUT_DIR/REL_PATH for each file it can rebuild. The MBPP files are the same rows as the
release files (all splits, in task_id order) but not the same bytes; code_alpaca_2k.json is the
first 2,017 rows of the Hub copy, not necessarily the rows of the shared sample. Tests that depend
on the exact bytes or rows check the sha256 (conftest.data_file(..., exact=True)).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MBPP_HUB_ID = "google-research-datasets/mbpp"
CODE_ALPACA_HUB_ID = "sahil280114/codealpaca"
MBPP_FULL_FIELDS = ("text", "code", "task_id", "test_setup_code", "test_list", "challenge_test_list")
MBPP_SANITIZED_FIELDS = ("source_file", "task_id", "prompt", "code", "test_imports", "test_list")


def _all_splits(hub_id: str, config: str | None) -> list[dict]:
    from datasets import load_dataset

    dd = load_dataset(hub_id, config)
    rows = [dict(r) for split in dd.values() for r in split]
    return sorted(rows, key=lambda r: int(r["task_id"]))


def mbpp_full(out: Path) -> None:
    rows = _all_splits(MBPP_HUB_ID, "full")
    out.write_text("".join(json.dumps({k: r[k] for k in MBPP_FULL_FIELDS}) + "\n" for r in rows), encoding="utf-8")


def mbpp_sanitized(out: Path) -> None:
    rows = _all_splits(MBPP_HUB_ID, "sanitized")
    out.write_text(json.dumps([{k: r[k] for k in MBPP_SANITIZED_FIELDS} for r in rows], indent=1), encoding="utf-8")


def code_alpaca(out: Path) -> None:
    from datasets import load_dataset

    ds = load_dataset(CODE_ALPACA_HUB_ID, split="train").select(range(2017))
    out.write_text(json.dumps([{k: r[k] for k in ("instruction", "input", "output")} for r in ds], indent=1),
                   encoding="utf-8")


BUILDERS = {
    "mbpp/mbpp.jsonl": mbpp_full,
    "mbpp/sanitized-mbpp.json": mbpp_sanitized,
    "instructions/code_alpaca_2k.json": code_alpaca,
}


def main(argv: list[str]) -> int:
    out_dir, wanted = Path(argv[0]), argv[1:]
    failed = 0
    for rel in wanted:
        target = out_dir / rel
        if target.is_file() or rel not in BUILDERS:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        try:
            BUILDERS[rel](tmp)
            tmp.replace(target)
        except Exception as e:  # reported to conftest, which skips with the reason
            print(f"{rel}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
            tmp.unlink(missing_ok=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
