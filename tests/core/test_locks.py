"""codemix.core.locks against real processes: a holder in a subprocess, killed or alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from codemix.core.errors import CodemixError
from codemix.core.locks import LockHeld, lock_holder, locked

REPO_ROOT = Path(__file__).resolve().parents[2]

_HOLDER = textwrap.dedent("""
    import sys, time
    from codemix.core.locks import locked
    with locked(sys.argv[1], what="codemix train"):
        print("held", flush=True)
        time.sleep(600)
""")


def _start_holder(directory: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(directory)], stdout=subprocess.PIPE,
                            text=True, cwd=REPO_ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def holder(tmp_path):
    proc = _start_holder(tmp_path / "train")
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_second_process_gets_lockheld_naming_the_holder(tmp_path, holder):
    with pytest.raises(LockHeld) as err:
        with locked(tmp_path / "train", what="codemix eval"):
            pass
    message = str(err.value)
    assert f"pid {holder.pid}" in message
    assert "(codemix train)" in message and "wait for it or stop it" in message
    assert isinstance(err.value, CodemixError)
    info = lock_holder(tmp_path / "train")
    assert info["pid"] == holder.pid and info["what"] == "codemix train" and info["host"]


def test_sigkilled_holder_frees_the_lock(tmp_path, holder):
    assert lock_holder(tmp_path / "train") is not None
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert lock_holder(tmp_path / "train") is None  # the lock file is still there, the lock is not
    assert (tmp_path / "train" / ".lock").exists()
    with locked(tmp_path / "train", what="codemix train"):
        assert lock_holder(tmp_path / "train")["pid"] == os.getpid()


def test_wait_seconds_times_out_then_wait_true_gets_it_when_freed(tmp_path, holder):
    t0 = time.monotonic()
    with pytest.raises(LockHeld):
        with locked(tmp_path / "train", what="x", wait=0.5):
            pass
    assert 0.4 <= time.monotonic() - t0 < 5
    # wait=True: free the lock from the side after a moment and expect to get it.
    killer = subprocess.Popen([sys.executable, "-c",
                               f"import os,time,signal; time.sleep(0.5); os.kill({holder.pid}, signal.SIGKILL)"])
    t0 = time.monotonic()
    with locked(tmp_path / "train", what="x", wait=True):
        assert time.monotonic() - t0 >= 0.3
    killer.wait()


def test_reentry_in_one_process_does_not_deadlock(tmp_path):
    d = tmp_path / "cell"
    assert lock_holder(d) is None
    with locked(d, what="outer"):
        with locked(d, what="inner"):
            assert lock_holder(d)["what"] == "outer"
        assert lock_holder(d) is not None  # the inner exit does not release the outer hold
    assert lock_holder(d) is None
    with locked(d, what="again"):  # and it can be taken again afterwards
        pass


def test_lock_released_after_exception(tmp_path):
    d = tmp_path / "cell"
    with pytest.raises(RuntimeError):
        with locked(d, what="x"):
            raise RuntimeError("boom")
    assert lock_holder(d) is None
    # A second process can take it now.
    out = subprocess.run([sys.executable, "-c",
                          f"from codemix.core.locks import locked\nwith locked({str(d)!r}, what='y'): print('ok')"],
                         capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "ok", out.stderr
