"""Thread-pool helpers for the numpy/pyarrow work of mixing (both release the GIL, so threads
give real parallelism there without the cost of processes)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def bounded_map(fn: Callable[[T], R], items: Iterable[T], ahead: int = 4) -> Iterator[R]:
    """`fn` over `items` on worker threads, results in order, at most `ahead` pending at a time
    (Executor.map submits everything at once and would hold every result in memory)."""
    with ThreadPoolExecutor(workers()) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
