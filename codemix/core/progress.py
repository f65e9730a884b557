"""What codemix writes to the console while it works: progress bars, and the paths it names.

Bars. A bar redraws itself with carriage returns; in a file or a pipe (a sweep cell's log.txt, a
Slurm output file, CI) every redraw becomes text of its own, and a one-cell sweep log was mostly
"Loading weights: 0%| ... 100%" and "Writing model shards" frames. So:
- codemix's bars (and the trainer's) are drawn only when stderr is a terminal and
  CODEMIX_NO_PROGRESS is not 1;
- a bar started while another is open (an inner loop) is not drawn: a terminal shows one
  progress line, the current stage's, with its rate and ETA;
- the libraries' own short bars are off everywhere: transformers' weight loading and shard
  writing (well under a second for the models codemix trains on CPU, one more line per load
  on a GPU) and datasets' map/filter passes. Hub downloads keep their bar on a terminal: a
  7B model is minutes of download, and a silent minute looks like a hang.

Paths. A sweep resolves its output directory (a cell must find its files from any working
directory, e.g. as a Slurm job), so its messages would name /home/.../runs/sweep/cells/...
where every other line says runs/...; `shown(path)` gives the path relative to the working
directory when it lies below it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def progress_shown() -> bool:
    """Whether bars are drawn: stderr is a terminal and CODEMIX_NO_PROGRESS is not 1."""
    if os.environ.get("CODEMIX_NO_PROGRESS") == "1":
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        return False


def _open_bars() -> int:
    """Bars being drawn now (tqdm registers only enabled bars), ours and the trainer's."""
    from tqdm.std import tqdm

    return len(getattr(tqdm, "_instances", ()))


def progress(iterable: Iterable[T] | None, *, desc: str, total: int | None = None, unit: str = "it",
             disable: bool | None = None, leave: bool = True) -> Any:
    """A tqdm bar with rate and ETA on stderr, drawn per the rules above (`disable` forces it
    off or on). `leave=False` clears the bar when done."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = not progress_shown() or _open_bars() > 0
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, leave=leave,
                dynamic_ncols=True, mininterval=0.5, file=sys.stderr)


def _never_drawn(factory, args, kwargs):
    return factory(*args, **{**kwargs, "disable": True})


def quiet_library_bars() -> None:
    """Turn off transformers' and datasets' own bars; Hub download bars only off a terminal."""
    import datasets
    import huggingface_hub.utils
    import transformers

    transformers.utils.logging.set_tqdm_hook(_never_drawn)
    datasets.disable_progress_bars()
    if not progress_shown():
        huggingface_hub.utils.disable_progress_bars()


def shown(path: str | os.PathLike) -> str:
    """`path` as messages print it: relative to the working directory when below it."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd()))
    except (ValueError, OSError):  # elsewhere, or the working directory is gone
        return str(p)
