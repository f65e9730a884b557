"""Inside a Slurm job: a cell that Slurm is about to stop records why, while it still holds its lock.

Slurm stops a job in two ways a cell can hear:

- USR2, `sweep.slurm.signal_s` before the time limit (sbatch --signal=USR2@N; Slurm checks
  limits every 30 s, so it comes up to 30 s earlier than asked). The cell writes
  status.json `requeued` with its count, then `scontrol requeue`s its own job: the same job id
  goes back to the queue, and the next run resumes training from the last checkpoint (the
  pipeline resumes any stage it finds half done). After `max_requeues` the cell fails instead,
  saying that it hit its limit that many times.
- SIGTERM: scancel, the time limit itself, preemption, a node shutting down. SIGKILL follows
  after KillWait (30 s by default). The cell records `failed` with `slurm_signal`, since it
  cannot tell which it was (`scontrol` shows a cancelled job as COMPLETING at that moment); the
  launcher replaces the text with Slurm's final state (`CANCELLED by 1000`, `TIMEOUT`) when it
  sees it. A job that Slurm requeues itself (preemption with PreemptMode=REQUEUE) simply runs
  again and overwrites the record.

Both raise SlurmSignal in the main thread, a BaseException so that the pipeline's own
`except Exception` handlers do not take it for a failure of theirs. submitit installs its own
handlers for these signals (SIGTERM only logged, USR2 requeues only "checkpointable" callables,
guessing time-outs from the wall clock); the cell's replace them for its run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from typing import Any


class SlurmSignal(BaseException):
    """Slurm is stopping this job (SIGTERM) or warns that its time limit is near (USR2)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclasses.dataclass(frozen=True)
class JobContext:
    """The Slurm job a cell runs in, and the sweep's settings for it."""

    job: str                 # 21_3 for an array task, 21 for a single job
    max_requeues: int = 3
    time: str = ""           # the time limit as the recipe gives it

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
    def signals(self) -> Iterator[None]:
        """USR2 and SIGTERM raise SlurmSignal for the body (main thread only: Python runs signal
        handlers there and nowhere else)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            # One signal is enough: the requeue or cancellation that follows sends SIGTERM again,
            # which must not interrupt the cell while it records the first.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)
            raise SlurmSignal(signum)

        old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGUSR2)}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def carried(self, previous: dict[str, Any], key: str) -> dict[str, Any]:
        """Fields every status.json of this run keeps: the job id, and the requeue count when
        the previous run was this same job (a requeue keeps the job id)."""
        fields: dict[str, Any] = {"job": self.job}
        if previous.get("key") == key and previous.get("job") == self.job and previous.get("requeues"):
            fields["requeues"] = int(previous["requeues"])
        return fields

    def on_signal(self, sig: SlurmSignal, carried: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(outcome, status fields) for a cell stopped by `sig`: requeued or failed."""
        if sig.signum == signal.SIGUSR2:
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
