"""Continuing a training run from its newest good trainer checkpoint, and saying so: which
checkpoint (`resume_point`), how long the run took over all its sessions (`elapsed_before`,
`elapsed_recorder`, `wall_time_text`), and without transformers' warnings that resuming
always raises and that mean nothing (`quiet_known_warnings`).
(Imported by codemix.finetune.trainer; transformers is loaded inside the functions.)"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, warn
from codemix.core.errors import CodemixError
from codemix.finetune import checkpoint as ckpt

# Written into each trainer checkpoint right after it is saved: the wall and training seconds of
# the run up to that checkpoint, over every session, so a resumed run can report its total.
ELAPSED_FILE = "codemix_elapsed.json"


def resume_point(progress_dir: Path, *, remove_damaged: bool) -> str | None:
    """The newest trainer checkpoint that is complete and readable. A checkpoint cut short by a
    kill (no trainer_state.json, written last by the trainer) is skipped silently; one whose files
    are damaged (a truncated model.safetensors) is skipped with a warning naming it and the one
    used instead, and removed so the trainer can write that step again."""
    complete = sorted((p for p in progress_dir.glob("checkpoint-*")
                       if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()),
                      key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    damaged: list[tuple[Path, str]] = []
    for candidate in complete:
        problem = ckpt.checkpoint_problem(candidate)
        if problem is None:
            for bad, why in damaged:
                warn(f"{bad} is damaged ({why}); resuming from the previous good checkpoint {candidate}")
            if remove_damaged:
                for bad, _ in damaged:
                    shutil.rmtree(bad, ignore_errors=True)
            return str(candidate)
        damaged.append((candidate, problem))
    if damaged:
        bad, why = damaged[0]
        raise CodemixError(f"{bad} is damaged ({why}) and no earlier checkpoint in {progress_dir} is usable; "
                           "delete that directory or pass --force to train from the start")
    return None


def elapsed_before(resume_from: str | None) -> dict[str, float] | None:
    """{wall_s, train_s} the earlier sessions spent up to the checkpoint resumed from: zero for
    a fresh start; None when that checkpoint does not record them (killed between the trainer's
    save and our note, or saved by an older codemix). Time after the last checkpoint of a killed
    session is redone by this one, and counted there."""
    if resume_from is None:
        return {"wall_s": 0.0, "train_s": 0.0}
    try:
        got = json.loads((Path(resume_from) / ELAPSED_FILE).read_text())
        return {"wall_s": float(got["wall_s"]), "train_s": float(got["train_s"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def elapsed_recorder(*, session_start: float, earlier: dict[str, float] | None):
    """A TrainerCallback writing ELAPSED_FILE into each checkpoint as soon as it is saved."""
    from transformers import TrainerCallback

    class ElapsedAtSave(TrainerCallback):
        train_start = session_start

        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if earlier is None or not state.is_world_process_zero or not folder.is_dir():
                return
            now = time.time()
            atomic_write_json(folder / ELAPSED_FILE, {"wall_s": round(earlier["wall_s"] + now - session_start, 2),
                                                      "train_s": round(earlier["train_s"] + now - self.train_start, 2)})

    return ElapsedAtSave()


# transformers' warnings that are expected and harmless in a codemix run:
# - resuming a model with tied input/output embeddings: the checkpoint stores the tied matrix once
#   (under the embeddings), so loading it "misses" lm_head.weight, which is re-tied right after;
# - two checkpoints saved within a second (small models): it orders them by step number instead.
_MISSING_KEYS = re.compile(r"There were missing keys in the checkpoint model loaded: \[(.*)\]\.?$")
_MTIME = "mtime may not be reliable on this filesystem"


class KnownHarmlessWarnings(logging.Filter):
    def __init__(self, tied: set[str]) -> None:
        super().__init__()
        self.tied = tied

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_MTIME):
            return False
        m = _MISSING_KEYS.match(message)
        if m is None:
            return True
        missing = {k.strip().strip("'\"") for k in m.group(1).split(",") if k.strip()}
        # A wrapped model (peft) names the same parameter with a prefix.
        return not all(any(k == t or k.endswith("." + t) for t in self.tied) for k in missing)


def tied_parameter_names(model) -> set[str]:
    """Parameters that share their tensor with another (lm_head.weight with tied embeddings)."""
    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
    if hasattr(model, "get_base_model") and not tied:  # peft: ask the wrapped transformers model
        return tied_parameter_names(model.get_base_model())
    return set(tied)


@contextlib.contextmanager
def quiet_known_warnings(model):
    """Drop the known-harmless transformers warnings above while the trainer runs."""
    loggers = [logging.getLogger(name) for name in ("transformers.trainer", "transformers.trainer_utils")]
    quiet = KnownHarmlessWarnings(tied_parameter_names(model))
    for lg in loggers:
        lg.addFilter(quiet)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(quiet)


def wall_time_text(manifest: dict[str, Any]) -> str:
    """A training run's wall time as summaries print it: for a run resumed from a checkpoint,
    the total over its sessions and this session's part (this session alone undercounts)."""
    wall = f"{manifest['wall_s']:.1f} s"
    if not manifest.get("resumed_from_step"):
        return wall
    total = manifest.get("wall_s_total")
    in_all = f"{total:.1f} s in all, " if total is not None else "earlier sessions not recorded, "
    return f"{in_all}{wall} in the session that resumed at step {manifest['resumed_from_step']}"
