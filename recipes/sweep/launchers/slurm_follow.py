"""Submit a sweep's cells to Slurm and follow them to their end through the scheduler's states.

Only what needs to run is submitted: a cell that is done, or whose recorded job (job.json) is
still in the queue, is not; a second launcher follows that job instead of submitting it again.
Launchers decide and submit one at a time (under a lock in `<output_dir>/slurm/`), so two
started at once submit one array between them.

Every `poll_s` the launcher asks the scheduler (slurm_queue.Scheduler) for the jobs it follows.
A job that reaches a final state settles its cell at once: done when the cell wrote so,
otherwise failed with Slurm's state and reason, written into status.json where the cell could
not write it itself. A job that vanishes from the queue is given GRACE_S before it counts as
removed; a cell whose process still holds its lock after its job ended (dying through KillWait)
is given KillWait plus GRACE_S. So no cell waits longer than one poll plus that grace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import socket
import time
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, utc_now
from codemix.core.errors import CodemixError
from codemix.core.locks import LockHeld, locked
from codemix.recipes.sweep.config import slurm_minutes
from codemix.recipes.sweep.launchers.slurm_queue import JobState, SchedulerError, settle
from codemix.recipes.sweep.runner import JOB_FILE, read_job, state

GRACE_S = 5.0  # a job missing from scontrol this long (over one or more polls) has left the queue


def read_status(directory: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads((directory / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def record_job_end(directory: Path, key: str, job: str, detail: str, state: JobState | None) -> bool:
    """Write the cell's status.json as failed with Slurm's word, unless the cell has written its
    own result for this job meanwhile. False while the cell's process still holds its lock."""
    try:
        with locked(directory, what="codemix sweep: recording the end of a Slurm job"):
            st = read_status(directory)
            if st.get("key") == key and (st.get("status") == "done" or
                                         (st.get("job") == job and st.get("status") == "failed"
                                          and not st.get("slurm_signal"))):
                return True
            keep = {k: st[k] for k in ("requeues", "started", "host", "wall_s") if k in st and st.get("job") == job}
            atomic_write_json(directory / "status.json", {
                **keep, "status": "failed", "key": key, "job": job, "error": detail,
                **({"slurm_state": state.state} if state is not None else {}), "finished": utc_now()})
            return True
    except LockHeld:
        return False


@dataclasses.dataclass
class Tracked:
    unit: Any
    job: str
    handle: Any = None              # submitit's Job when this launcher submitted it
    missing_since: float | None = None
    ended_since: float | None = None
    final: JobState | None = None
    said: set[str] = dataclasses.field(default_factory=set)  # messages printed once


class Follower:
    def __init__(self, sweep, units: list, cfg, executor, queue, options, on_done, run_job):
        self.sweep, self.cfg, self.executor, self.queue = sweep, cfg, executor, queue
        self.options, self.on_done, self.run_job = options, on_done, run_job
        self.units = list(units)
        self.names = {u.name for u in units}
        self.tracked: dict[str, Tracked] = {}
        self.deferred: dict[str, list] = {}   # unit name -> units waiting for it to be done
        self.outcomes: dict[str, str] = {}
        self.lock_dir = sweep.out / "slurm"

    # ---------------------------------------------------------------- start

    def run(self) -> dict[str, str]:
        try:
            with locked(self.lock_dir, what=f"codemix sweep {self.sweep.name}: submitting", wait=True):
                self._start()
            while self.tracked:
                self._poll()
                if self.tracked:
                    time.sleep(self.cfg.poll_s)
        except KeyboardInterrupt:
            self._interrupted()
            raise
        return self.outcomes

    def _start(self) -> None:
        cluster = "local" if self.queue.local else "slurm"
        recorded = {u.name: job_on(read_job(u.dir), cluster) for u in self.units}
        live = self._alive_jobs([j for j in recorded.values() if j])
        submit = []
        for unit in self.units:
            st, _ = state(unit)
            job = recorded[unit.name]
            if st == "done":
                self._finish(unit, "done", "already done")
            elif job in live:
                print(f"[sweep] {unit.name}: following job {job} ({live[job].describe()}), submitted earlier", flush=True)
                self.tracked[unit.name] = Tracked(unit, job)
            elif st == "running":
                self._finish(unit, "running", "held by another launcher")
            elif unit.depends_on and self.outcomes.get(unit.depends_on) != "done":
                # The reference of a random-init model scores the baseline's saved start: it is
                # submitted once the baseline is done, with the same resources as the cells.
                if unit.depends_on in self.tracked or unit.depends_on in {u.name for u in submit}:
                    self.deferred.setdefault(unit.depends_on, []).append(unit)
                else:
                    self._finish(unit, "blocked", f"its baseline cell {unit.depends_on} is not done")
            else:
                submit.append(unit)
        if not submit and not self.tracked and not self.deferred:
            print("[sweep] nothing to submit", flush=True)
        self._submit(submit)

    def _alive_jobs(self, jobs: list[str]) -> dict[str, JobState]:
        if not jobs or self.queue.local:
            return {}
        try:
            states = self.queue.states(jobs)
        except SchedulerError as e:
            raise CodemixError(f"--launcher slurm: cannot read the state of earlier jobs ({e})") from None
        return {j: s for j, s in states.items() if s.alive}

    def _submit(self, batch: list) -> None:
        if not batch:
            return
        before = set(self.lock_dir.iterdir()) if self.lock_dir.is_dir() else set()
        settings = {"max_requeues": self.cfg.max_requeues, "time": clock(slurm_minutes(self.cfg.time))}
        try:
            # submitit prints sbatch's stderr itself before raising it; the one line below says it
            with contextlib.redirect_stderr(io.StringIO()):
                jobs = self.executor.map_array(self.run_job, [str(u.dir) for u in batch], [settings] * len(batch))
        except Exception as e:  # noqa: BLE001 - submitit wraps sbatch's refusal in its own exception types
            for path in set(self.lock_dir.iterdir()) - before if self.lock_dir.is_dir() else ():
                with contextlib.suppress(OSError):
                    path.unlink() if path.is_file() else _remove_tree(path)
            raise CodemixError(f"sbatch refused the job for {len(batch)} cell(s): {_sbatch_error(e)}") from None
        with contextlib.suppress(OSError):  # submitit makes the unexpanded folder name too
            (self.lock_dir / "%j").rmdir()
        first = jobs[0].job_id.split("_")[0]
        print(f"[sweep] submitted {len(jobs)} cell(s) as job {first}"
              f"{f' (tasks 0-{len(jobs) - 1})' if '_' in jobs[0].job_id else ''}", flush=True)
        for job, unit in zip(jobs, batch, strict=True):
            self.queue.register(job)
            atomic_write_json(unit.dir / JOB_FILE, {"job": job.job_id, "cluster": "local" if self.queue.local else "slurm",
                                                    "submitted": utc_now(),
                                                    "by": f"pid {os.getpid()} on {socket.gethostname()}"})
            _link_logs(job, unit)
            self.tracked[unit.name] = Tracked(unit, job.job_id, handle=job)

    # ---------------------------------------------------------------- follow

    def _poll(self) -> None:
        try:
            states = self.queue.states([t.job for t in self.tracked.values()])
        except SchedulerError as e:
            print(f"[sweep] Slurm did not answer ({e}); asking again in {self.cfg.poll_s:g} s", flush=True)
            return
        now = time.monotonic()
        for t in list(self.tracked.values()):
            js = states.get(t.job)
            if js is None and t.final is None:
                t.missing_since = t.missing_since or now
                if now - t.missing_since < GRACE_S:
                    continue
            elif js is not None and js.alive:
                t.missing_since = None
                self._report_alive(t, js)
                continue
            elif t.final is None:
                word = self.queue.final_word(js)
                t.ended_since = t.ended_since or now
                if word is js and js.state == "CANCELLED" and self.queue.accounting and now - t.ended_since < GRACE_S:
                    continue  # slurmdbd gets records asynchronously: its `CANCELLED by <uid>` may be a poll late
                t.final = word
            self._settle(t, now)

    def _settle(self, t: Tracked, now: float) -> None:
        unit = t.unit
        status = read_status(unit.dir)
        outcome = settle(t.final, status, unit.key, t.job, self._result(t))
        if outcome is None:
            return
        name, detail = outcome
        if name == "failed" and not record_job_end(unit.dir, unit.key, t.job, detail, t.final):
            t.ended_since = t.ended_since or now
            if now - t.ended_since < self.queue.kill_wait_s + GRACE_S:
                return  # its process is still going (Slurm's KillWait): it may write its own result
        del self.tracked[unit.name]
        self._finish(unit, name, detail or f"job {t.job}")

    def _report_alive(self, t: Tracked, js: JobState) -> None:
        status = read_status(t.unit.dir)
        if status.get("status") == "requeued" and status.get("job") == t.job:
            self._say(t, f"requeue-{status.get('requeues')}", f"{t.unit.name}: {status.get('reason')} (job {t.job})")
        why = js.stuck
        if why:
            self._say(t, f"stuck-{js.reason}", f"{t.unit.name}: job {t.job} pending ({js.reason}): {why}; it will not "
                                              f"start until that changes (scancel {t.job}, then fix sweep.slurm)")

    def _say(self, t: Tracked, key: str, text: str) -> None:
        if key not in t.said:
            t.said.add(key)
            print(f"[sweep] {text}", flush=True)

    def _result(self, t: Tracked) -> str | None:
        """What the cell's run_unit returned (submitit's result file), if the job wrote one."""
        from submitit.core.utils import JobPaths

        paths = t.handle.paths if t.handle is not None else JobPaths(self.lock_dir / "%j", job_id=t.job, task_id=0)
        try:
            import pickle

            with open(paths.result_pickle, "rb") as f:
                kind, value = pickle.load(f)
        except (OSError, ValueError, EOFError, pickle.UnpicklingError):
            return None
        return value if kind == "success" and isinstance(value, str) else None

    def _finish(self, unit, outcome: str, detail: str) -> None:
        self.outcomes[unit.name] = outcome
        self.on_done(unit, outcome, detail)
        waiting = self.deferred.pop(unit.name, [])
        if waiting and outcome == "done":
            with locked(self.lock_dir, what=f"codemix sweep {self.sweep.name}: submitting", wait=True):
                self._submit(waiting)
        for other in waiting if outcome != "done" else ():
            self._finish(other, "blocked", f"its baseline cell {unit.name} is {outcome}")
        if outcome == "failed" and self.options.fail_fast and self.tracked:
            jobs = [t.job for t in self.tracked.values()]
            print(f"[sweep] --fail-fast: cancelling {len(jobs)} job(s): {' '.join(jobs)}", flush=True)
            self.queue.cancel(jobs)

    def _interrupted(self) -> None:
        """Ctrl-C: the jobs go on without this launcher unless --cancel-on-exit."""
        jobs = sorted(t.job for t in self.tracked.values())
        if not jobs:
            return
        if self.options.cancel_on_exit:
            problem = self.queue.cancel(jobs)
            for t in self.tracked.values():
                if read_status(t.unit.dir).get("status") not in ("running",):  # a running cell records its SIGTERM itself
                    record_job_end(t.unit.dir, t.unit.key, t.job, "cancelled by codemix sweep --cancel-on-exit", None)
            print(f"codemix: cancelled {len(jobs)} job(s): {' '.join(jobs)}" + (f" ({problem})" if problem else ""),
                  flush=True)
            return
        print(f"codemix: {len(jobs)} job(s) still queued or running: {' '.join(jobs)}; they go on without this "
              f"launcher. Run the same `codemix sweep` again to follow them, or cancel them: scancel {' '.join(jobs)}",
              flush=True)


def job_on(record: dict[str, Any], cluster: str) -> str | None:
    """The recorded job id when it was submitted to `cluster` (a local executor's ids are pids,
    which Slurm may know as other jobs)."""
    return record.get("job") if record.get("cluster", "slurm") == cluster else None


def clock(minutes: int) -> str:
    """Minutes as Slurm prints a time limit: 01:00:00, 2-00:00:00."""
    days, rest = divmod(minutes, 1440)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{text}" if days else text


def _sbatch_error(e: Exception) -> str:
    """sbatch's own complaint out of submitit's exception (its last `error:` line)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    return (errors or lines or [type(e).__name__])[-1]


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


def _link_logs(job, unit) -> None:
    """cells/<name>/slurm-<job>.out/.err -> ../../slurm/<job>/...: submitit's logs beside log.txt."""
    for kind, path in (("out", job.paths.stdout), ("err", job.paths.stderr)):
        link = unit.dir / f"slurm-{job.job_id}.{kind}"
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(Path(path), unit.dir))
