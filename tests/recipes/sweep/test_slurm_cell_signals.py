"""A cell in a Slurm job (its SLURM_* environment, no cluster needed) that Slurm warns (USR2)
or stops (SIGTERM): it records requeued / failed in status.json while it still holds its lock,
requeues its own job through `scontrol requeue` (a recording stand-in on PATH here; the real one
is exercised by test_slurm_integration.py), carries the count across runs, fails once it hit
its limit more than max_requeues times, and ends at once, its lock free. Processes it starts
have both signals blocked: Slurm signals the whole job step, and a sandboxed sample must not die
of it (its verdict would be kept on resume).

The cell is kept busy deterministically: the test holds the lock of the cell's shared mixture,
so the cell's pipeline waits for it (as cells do for a mixture another cell builds)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codemix.core.locks import lock_holder, locked
from codemix.recipes.sweep.launchers.slurm_job import JobContext
from codemix.recipes.sweep.runner import load_sweep, materialize
from helpers.slurm import mix_sweep

CELL = ("import sys\nfrom codemix.recipes.sweep.cell import run_unit_job\n"
        "print('outcome', run_unit_job(sys.argv[1], {'max_requeues': 1, 'time': '00:01:00'}), flush=True)\n")


@pytest.fixture
def slurm_cell(tmp_path):
    sweep = load_sweep(str(mix_sweep(tmp_path, cells=1)))
    materialize(sweep, sweep.cells)
    cell = sweep.cells[0]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol.calls"
    (bin_dir / "scontrol").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    (bin_dir / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "78",
           "SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": "0", "CODEMIX_NO_PROGRESS": "1"}
    return cell, env, calls


def _signalled(cell, env, signum: int) -> float:
    """Run the cell until it waits for its mixture, send `signum`; seconds from the signal to
    the end of the process (which must end on its own, with status 0)."""
    status = cell.dir / "status.json"
    with locked(cell.mix_dir, what="test: the mixture is being built elsewhere"):
        proc = subprocess.Popen([sys.executable, "-c", CELL, str(cell.dir)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (status.is_file() and json.loads(status.read_text()).get("status") == "running"):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.3)  # inside the pipeline, waiting for the mixture lock
            t0 = time.monotonic()
            os.kill(proc.pid, signum)
            out, err = proc.communicate(timeout=30)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0 and "outcome" not in out, err
    return took


def test_usr2_requeues_then_fails_after_max_requeues(slurm_cell):
    cell, env, calls = slurm_cell
    took = _signalled(cell, env, signal.SIGUSR2)
    st = json.loads((cell.dir / "status.json").read_text())
    assert took < 10
    assert st["status"] == "requeued" and st["requeues"] == 1 and st["job"] == "77_0" and st["key"] == cell.key
    assert "time limit (00:01:00) near: requeued (1/1)" in st["reason"]
    assert "requeue 77_0" in calls.read_text().splitlines()
    assert lock_holder(cell.dir) is None
    # the requeued job runs again (same job id): the count carries over, and the second warning
    # is one more than max_requeues allows
    _signalled(cell, env, signal.SIGUSR2)
    st = json.loads((cell.dir / "status.json").read_text())
    assert st["status"] == "failed" and st["requeues"] == 1
    assert st["error"].startswith("TIMEOUT: reached its time limit (00:01:00) 2 times (sweep.slurm.max_requeues: 1)")
    assert calls.read_text().splitlines().count("requeue 77_0") == 1


def test_sigterm_is_recorded_under_the_lock_and_the_lock_is_free_at_once(slurm_cell):
    cell, env, calls = slurm_cell
    took = _signalled(cell, env, signal.SIGTERM)
    st = json.loads((cell.dir / "status.json").read_text())
    assert took < 10  # not Slurm's KillWait later
    assert st["status"] == "failed" and st["slurm_signal"] == "TERM" and st["job"] == "77_0"
    assert "stopped by Slurm (SIGTERM" in st["error"]
    assert lock_holder(cell.dir) is None and not calls.exists()  # SIGTERM: nothing asked of Slurm


def test_a_failed_requeue_is_a_failure_that_says_why(slurm_cell):
    cell, env, calls = slurm_cell
    (Path(env["PATH"].split(":")[0]) / "scontrol").write_text(
        "#!/bin/sh\necho 'scontrol: error: Requested operation is presently disabled' >&2\nexit 1\n")
    _signalled(cell, env, signal.SIGUSR2)
    st = json.loads((cell.dir / "status.json").read_text())
    assert st["status"] == "failed"
    assert st["error"] == ("time limit near, and `scontrol requeue 77_0` failed: "
                           "scontrol: error: Requested operation is presently disabled")


def _blocked(pid: int) -> int:
    """The blocked-signal mask of a process (/proc/PID/status SigBlk)."""
    line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("SigBlk:"))
    return int(line.split()[1], 16)


def test_job_context_from_the_environment_and_what_its_children_inherit(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert JobContext.from_env() is None  # submitit's local executor: no signals to handle
    monkeypatch.setenv("SLURM_JOB_ID", "21")
    assert JobContext.from_env({"max_requeues": 2}) == JobContext("21", 2, "")
    ctx = JobContext("21", 2)
    assert ctx.carried({"key": "k", "job": "21", "requeues": 2}, "k") == {"job": "21", "requeues": 2}
    assert ctx.carried({"key": "k", "job": "20", "requeues": 2}, "k") == {"job": "21"}  # another job starts over
    wanted = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGUSR2 - 1))
    with ctx.watch():
        child = subprocess.Popen(["sleep", "5"])
        try:
            assert _blocked(child.pid) & wanted == wanted  # a sample process would not die of them
        finally:
            child.kill()
            child.wait()
    after = subprocess.Popen(["sleep", "5"])
    try:
        assert _blocked(after.pid) & wanted == 0  # put back after the cell's run
    finally:
        after.kill()
        after.wait()
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
