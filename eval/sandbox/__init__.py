"""The sandboxed executor: runs untrusted programs (code samples) with isolation, limits and a
verdict each. Public face: `Executor`, `Job`, `Limits`, `RunResult`, `VERDICTS` (eval/sandbox/executor.py).

Nothing here imports generation or benchmarks (tests/test_architecture.py checks it): the
sandbox knows programs, not problems. This file stays free of eager imports because every
sandbox worker process imports the package at start-up (`codemix.eval.sandbox.worker`), and each
module it pays for is memory copied into every sample's fork.
"""

_PUBLIC = ("Executor", "Job", "Limits", "RunResult", "VERDICTS", "OPTIONAL_LAYERS")


def __getattr__(name: str):
    if name in _PUBLIC:
        from codemix.eval.sandbox import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'codemix.eval.sandbox' has no attribute {name!r}")
