"""Progress bars: every long loop in codemix shows its rate and ETA the same way."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it",
             disable: bool | None = None, leave: bool = True) -> Iterable[T]:
    """A tqdm progress bar with rate and ETA on stderr (hidden when CODEMIX_NO_PROGRESS=1).
    `leave=False` clears the bar when done (for inner bars under an outer one)."""
    from tqdm.auto import tqdm

    if disable is None:
        disable = os.environ.get("CODEMIX_NO_PROGRESS") == "1"
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, leave=leave,
                dynamic_ncols=True, mininterval=0.5, file=sys.stderr)
