"""Inside a Slurm job: a cell that Slurm is about to stop records why, while it still holds its lock.

Slurm stops a job in two ways a cell can hear:

- USR2, `sweep.slurm.signal_s` before the time limit (sbatch --signal=USR2@N; Slurm checks
  limits every 30 s and sends it once the end is within N + 30 s). The cell writes status.json
  `requeued` with its count, then `scontrol requeue`s its own job: the same job id goes back to
  the queue, and the next run resumes training from the last checkpoint (the pipeline resumes
  any stage it finds half done). After `max_requeues` the cell fails instead, saying that it
  hit its limit that many times.
- SIGTERM: scancel, the time limit itself, preemption, a node shutting down. SIGKILL follows
  after KillWait (30 s by default). The cell records `failed` with `slurm_signal`, since it
  cannot tell which it was (`scontrol` shows a cancelled job as COMPLETING at that moment); the
  launcher replaces the text with Slurm's final state (`CANCELLED by 1000`, `TIMEOUT`) when it
  sees it. A job that Slurm requeues itself (preemption with PreemptMode=REQUEUE) simply runs
  again and overwrites the record.

Slurm signals every process of the job step, not only the cell's: a sandboxed sample killed by
USR2 would be scored "failed: killed by SIGUSR2", and the requeued cell would keep that verdict
from its resume log. So for the cell's run both signals are blocked, and the blocked mask is
inherited by every thread and process started after it (across fork and exec): only this
process takes them, from a thread waiting in sigwait. That thread records the cell's state and
ends the process with os._exit, as Slurm's SIGKILL would a little later: every artifact is
written to a temporary path and renamed, a half-written checkpoint is skipped on resume, the
lock goes with the process, and the sample processes follow their parent (parent-death signal).
submitit's own handlers for these signals (SIGTERM only logged, through all of KillWait with the
lock held) never see them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, utc_now

SIGNALS = {signal.SIGTERM, signal.SIGUSR2}


@dataclasses.dataclass
class JobContext:
    """The Slurm job a cell runs in, the sweep's settings for it, and the cell it runs now."""

    job: str                 # 21_3 for an array task, 21 for a single job
    max_requeues: int = 3
    time: str = ""           # the time limit as the recipe gives it
    _cell: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)
    _guard: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)
    _closing: bool = dataclasses.field(default=False, repr=False, compare=False)

    @classmethod
    def from_env(cls, settings: dict[str, Any] | None = None) -> JobContext | None:
        env = os.environ
        if not env.get("SLURM_JOB_ID"):
            return None
        if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
            job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        else:
            job = env["SLURM_JOB_ID"]
        settings = settings or {}
        return cls(job, int(settings.get("max_requeues", 3)), str(settings.get("time", "")))

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """USR2 and SIGTERM handled by this context for the body: blocked for everything started
        in it, taken by a waiting thread. Call from the main thread, before other threads start."""
        old_handlers = {s: signal.signal(s, self._handler) for s in SIGNALS}
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        waiter = threading.Thread(target=self._wait, name="slurm-signals", daemon=True)
        waiter.start()
        try:
            yield
        finally:
            self.disarm()
            self._closing = True
            signal.pthread_kill(waiter.ident, signal.SIGUSR2)  # wakes the waiter, which then just returns
            waiter.join()
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            for s, h in old_handlers.items():
                signal.signal(s, h)

    def _wait(self) -> None:
        signum = signal.sigwait(SIGNALS)
        if not self._closing:
            self.stop(signum)

    def _handler(self, signum, frame) -> None:
        # Reached only by a thread that existed before watch() blocked the signals.
        self.stop(signum)

    def arm(self, directory: Path, key: str, carried: dict[str, Any], t0: float) -> None:
        """The cell is running: a signal from now on is recorded in its status.json."""
        with self._guard:
            self._cell = {"directory": directory, "key": key, "carried": carried, "t0": t0}

    def disarm(self) -> None:
        """The cell has written its own result (or never started): a signal just ends the process.
        Waits while a signal is being recorded, which ends the process itself."""
        with self._guard:
            self._cell = None

    def stop(self, signum: int) -> None:
        """Record the cell's state for `signum` (requeueing the job when its time is near), then
        end the process."""
        self._guard.acquire()  # held until the process ends: the cell writes nothing more
        cell = self._cell
        if cell is not None:
            outcome, fields = self.on_signal(signum, cell["carried"])
            base = {"key": cell["key"], **cell["carried"], "wall_s": round(time.time() - cell["t0"], 2),
                    "finished": utc_now(), "host": socket.gethostname()}
            status = cell["directory"] / "status.json"
            atomic_write_json(status, {**base, **fields})
            if outcome == "requeued":
                problem = self.requeue()
                if problem:
                    fields = {"status": "failed", "slurm_state": "TIMEOUT",
                              "error": f"time limit near, and `scontrol requeue {self.job}` failed: {problem}"}
                    atomic_write_json(status, {**base, **fields})
            print(f"[sweep] {cell['directory'].name}: {fields.get('reason') or fields.get('error')}",
                  file=sys.__stderr__, flush=True)
        os._exit(0 if cell is not None else 128 + signum)

    def carried(self, previous: dict[str, Any], key: str) -> dict[str, Any]:
        """Fields every status.json of this run keeps: the job id, and the requeue count when
        the previous run was this same job (a requeue keeps the job id)."""
        fields: dict[str, Any] = {"job": self.job}
        if previous.get("key") == key and previous.get("job") == self.job and previous.get("requeues"):
            fields["requeues"] = int(previous["requeues"])
        return fields

    def on_signal(self, signum: int, carried: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(outcome, status fields) for a cell stopped by `signum`: requeued or failed."""
        if signum == signal.SIGUSR2:
            count = int(carried.get("requeues", 0)) + 1
            time_limit = self.time_limit()
            limit = f" ({time_limit})" if time_limit else ""
            if count > self.max_requeues:
                times = f"{count} time{'s' if count > 1 else ''}"
                return "failed", {"status": "failed", "slurm_state": "TIMEOUT",
                                  "error": f"TIMEOUT: reached its time limit{limit} {times} "
                                           f"(sweep.slurm.max_requeues: {self.max_requeues}); "
                                           "raise sweep.slurm.time (--time) or max_requeues"}
            return "requeued", {"status": "requeued", "requeues": count,
                                "reason": f"time limit{limit} near: requeued ({count}/{self.max_requeues}), "
                                          "resumes from its last checkpoint"}
        return "failed", {"status": "failed", "slurm_signal": "TERM",
                          "error": "stopped by Slurm (SIGTERM: cancelled, over its time limit, preempted "
                                   "or its node going down)"}

    def time_limit(self) -> str:
        """The job's time limit as Slurm has it now (an administrator or `scontrol update` may
        have changed it since submission), else the recipe's."""
        try:
            proc = subprocess.run(["scontrol", "-o", "show", "job", self.job], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return self.time
        for token in proc.stdout.split() if proc.returncode == 0 else ():
            if token.startswith("TimeLimit=") and token != "TimeLimit=UNLIMITED":
                return token.split("=", 1)[1]
        return self.time

    def requeue(self) -> str:
        """Put this job back in the queue; '' or why that failed."""
        try:
            proc = subprocess.run(["scontrol", "requeue", self.job], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
        if proc.returncode == 0:
            return ""
        return next((ln.strip() for ln in proc.stderr.splitlines() if ln.strip()), f"exit status {proc.returncode}")
