"""What the Slurm scheduler says about a sweep's jobs: parsing scontrol and sacct, and what each
state means for a cell.

Where the states come from. `scontrol show job` is slurmctld's own record: it lists pending,
running and finished jobs alike (finished ones for MinJobAge, 300 s by default) and answers at
once, with or without accounting. sacct answers for older jobs, but only where accounting exists
(without slurmdbd it fails with "accounting storage is disabled"), and it lags: slurmdbd gets
the records asynchronously. So every poll asks scontrol first and sacct only for the jobs
scontrol no longer knows. A pending array task that is cancelled before Slurm split it out of
the array's record leaves no trace in either (measured on Slurm 22.05): a job that vanishes
while pending was removed before it started.

`scontrol` shows a job being cancelled as COMPLETING until its processes are gone; sacct has
`CANCELLED by <uid>` at once. Both are polled, never waited on: a job is followed until its
state is final, then the cell's own status.json (written by the cell under its lock) decides
between done and Slurm's reason.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable, Iterable

# Base states a job can still leave by itself (COMPLETING: its processes are being stopped).
ALIVE = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                   "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT"})
FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                   "BOOT_FAIL", "DEADLINE", "REVOKED"})

# Pending reasons that do not clear by waiting: the request itself must change (or an
# administrator must act). squeue's short forms; ReqNodeNotAvail comes with the node list.
STUCK_REASONS = {
    "PartitionConfig": "the request exceeds what the partition allows (CPUs, memory, GPUs or nodes per job)",
    "PartitionTimeLimit": "the time limit exceeds the partition's MaxTime",
    "PartitionNodeLimit": "the node count is outside the partition's limits",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "ReqNodeNotAvail": "no node that could run it is available (down, drained or reserved)",
    "BadConstraints": "no node has the requested features",
    "InvalidAccount": "the account is invalid",
    "InvalidQOS": "the QOS is invalid",
    "DependencyNeverSatisfied": "a job it depends on failed",
    "QOSMaxWallDurationPerJobLimit": "the time limit exceeds the QOS's maximum",
    "AssocMaxWallDurationPerJobLimit": "the time limit exceeds the account's maximum",
    "QOSMaxGRESPerJob": "more GPUs than the QOS allows per job",
    "QOSMaxCpuPerJobLimit": "more CPUs than the QOS allows per job",
    "AssocGrpGRES": "the account's GPU quota is used up",
    "JobHeldAdmin": "an administrator holds it",
    "JobHeldUser": "it is held (scontrol release <job> lets it run)",
}


@dataclasses.dataclass(frozen=True)
class JobState:
    """One job (or job-array task) as the scheduler reports it."""

    job: str            # 21 or 21_3
    state: str          # Slurm's base state: PENDING, RUNNING, TIMEOUT, ...
    reason: str = ""    # why it waits, or why it ended ("" for None)
    node: str = ""
    elapsed: str = ""   # [D-]HH:MM:SS as Slurm writes it
    by: str = ""        # sacct's "by <uid>" of CANCELLED
    restarts: int = 0   # times Slurm requeued it

    @property
    def alive(self) -> bool:
        return self.state not in FINAL

    @property
    def stuck(self) -> str | None:
        """Why a pending job will not start by waiting, or None."""
        if self.state != "PENDING":
            return None
        return STUCK_REASONS.get(self.reason.split(",")[0])

    def describe(self) -> str:
        """`queued (job 21_3, PD Resources)` style detail: the state and Slurm's words for it."""
        if self.state == "PENDING":
            return f"job {self.job}, PD {self.reason or 'None'}"
        if self.state in ("RUNNING", "COMPLETING", "CONFIGURING"):
            return f"job {self.job} on {self.node}" if self.node else f"job {self.job}"
        return self.ended()

    def ended(self) -> str:
        """`TIMEOUT after 01:00`, `CANCELLED by 0 after 00:12`, `OUT_OF_MEMORY after 03:10`."""
        text = self.state + (f" {self.by}" if self.by else "")
        if self.reason and self.reason not in ("None", self.state) and self.state != "CANCELLED":
            text += f" ({self.reason})"
        if not self.node and self.state == "CANCELLED":  # no node now: cancelled while pending
            text += f" while queued again after {self.restarts} requeue(s)" if self.restarts else " before it started"
        elif self.elapsed:
            text += f" after {short_duration(self.elapsed)}"
        return text


def short_duration(text: str) -> str:
    """00:01:24 -> 01:24; 1-02:00:00 stays whole."""
    return text[3:] if re.fullmatch(r"00:\d\d:\d\d", text) else text


def expand_task_ids(spec: str) -> list[int]:
    """scontrol's ArrayTaskId of a record that still holds several tasks: `2-3%2`, `1,4-5`."""
    ids: list[int] = []
    for part in spec.split("%")[0].split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        step = 1
        if ":" in hi:
            hi, step_text = hi.split(":")
            step = int(step_text)
        ids.extend(range(int(lo), int(hi or lo) + 1, step))
    return ids


_FIELD = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=")


def _fields(line: str) -> dict[str, str]:
    """`Key=value Key2=value with spaces` -> dict (values end where the next `Key=` starts)."""
    marks = list(_FIELD.finditer(line))
    out = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        out[m.group(1)] = line[m.end():end].strip()
    return out


def parse_scontrol(text: str) -> dict[str, JobState]:
    """`scontrol -o show job ID` (one record a line) -> {job id: state}; a pending array record
    standing for several tasks gives one entry per task."""
    out: dict[str, JobState] = {}
    for line in text.splitlines():
        f = _fields(line)
        if "JobId" not in f or "JobState" not in f:
            continue
        reason = "" if f.get("Reason", "None") == "None" else f.get("Reason", "")
        common = {"state": f["JobState"], "reason": reason, "node": _node(f.get("NodeList", "")),
                  "elapsed": f.get("RunTime", ""), "restarts": int(f.get("Restarts", "0") or 0)}
        array = f.get("ArrayJobId")
        if array and f.get("ArrayTaskId"):
            for task in expand_task_ids(f["ArrayTaskId"]):
                out[f"{array}_{task}"] = JobState(job=f"{array}_{task}", **common)
        else:
            out[f["JobId"]] = JobState(job=f["JobId"], **common)
    return out


def _node(text: str) -> str:
    return "" if text in ("", "(null)", "None assigned") else text


SACCT_FORMAT = "JobID,State,Reason,Elapsed,NodeList"


def parse_sacct(text: str) -> dict[str, JobState]:
    """`sacct -X -n -P --format=JobID,State,Reason,Elapsed,NodeList` -> {job id: state}; a
    pending array range `21_[2-5%2]` gives one entry per task."""
    out: dict[str, JobState] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 5 or not parts[0]:
            continue
        job, state_text, reason, elapsed, node = parts[:5]
        state, _, by = state_text.partition(" ")
        common = {"state": state, "reason": "" if reason == "None" else reason, "node": _node(node),
                  "elapsed": elapsed, "by": by}
        m = re.fullmatch(r"(\d+)_\[(.+)\]", job)
        if m:
            for task in expand_task_ids(m.group(2)):
                out[f"{m.group(1)}_{task}"] = JobState(job=f"{m.group(1)}_{task}", **common)
        else:
            out[job] = JobState(job=job, **common)
    return out


class SchedulerError(Exception):
    """A Slurm command failed for a reason other than an unknown job (controller down, ...)."""


Runner = Callable[[list[str]], subprocess.CompletedProcess]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SchedulerError(f"{cmd[0]}: {e}") from None


class Scheduler:
    """Job states from a live Slurm: scontrol, then sacct where accounting exists."""

    local = False  # it knows every job of the cluster, not only those this process submitted

    def __init__(self, run: Runner = _run):
        self._run = run
        self._config: dict[str, str] | None = None

    def register(self, job) -> None:
        """A job this process submitted (the scheduler knows it already)."""

    def config(self) -> dict[str, str]:
        """`scontrol show config` as {key: value} (read once)."""
        if self._config is None:
            proc = self._run(["scontrol", "show", "config"])
            if proc.returncode != 0:
                raise SchedulerError(_first_line(proc.stderr) or "scontrol show config failed")
            self._config = {k.strip(): v.strip() for k, _, v in
                            (line.partition("=") for line in proc.stdout.splitlines()) if v}
        return self._config

    @property
    def accounting(self) -> bool:
        return self.config().get("AccountingStorageType", "accounting_storage/none") != "accounting_storage/none"

    @property
    def kill_wait_s(self) -> float:
        """How long Slurm lets a stopped job's processes end before SIGKILL."""
        m = re.match(r"(\d+)", self.config().get("KillWait", "30"))
        return float(m.group(1)) if m else 30.0

    def states(self, jobs: Iterable[str]) -> dict[str, JobState]:
        """The state of each job the scheduler still knows; a job missing from the answer has
        left the queue without a record."""
        wanted = set(jobs)
        out: dict[str, JobState] = {}
        for array in sorted({j.split("_")[0] for j in wanted}):
            proc = self._run(["scontrol", "-o", "show", "job", array])
            if proc.returncode != 0:
                if "Invalid job id" in proc.stderr or "not found" in proc.stderr:
                    continue
                raise SchedulerError(_first_line(proc.stderr) or f"scontrol show job {array} failed")
            out.update({k: v for k, v in parse_scontrol(proc.stdout).items() if k in wanted})
        missing = sorted(wanted - set(out))
        if missing and self.accounting:
            out.update({k: v for k, v in self.accounted(missing).items() if k in missing})
        return out

    def accounted(self, jobs: list[str]) -> dict[str, JobState]:
        """sacct's records ({} where it has none, or fails)."""
        proc = self._run(["sacct", "-X", "-n", "-P", f"--format={SACCT_FORMAT}", "-j", ",".join(jobs)])
        return parse_sacct(proc.stdout) if proc.returncode == 0 else {}

    def final_word(self, job: JobState) -> JobState:
        """A finished job as sacct has it where accounting exists (CANCELLED gains `by <uid>`),
        keeping scontrol's run time; the job as it is otherwise."""
        if not self.accounting or job.alive:
            return job
        record = self.accounted([job.job]).get(job.job)
        if record is None or record.alive:
            return job  # slurmdbd has not caught up yet
        return dataclasses.replace(record, elapsed=job.elapsed or record.elapsed, node=job.node or record.node,
                                   restarts=job.restarts)

    def cancel(self, jobs: Iterable[str]) -> str:
        """scancel the jobs; '' or scancel's complaint."""
        ids = sorted(set(jobs))
        if not ids:
            return ""
        proc = self._run(["scancel", *ids])
        return "" if proc.returncode == 0 else _first_line(proc.stderr)


class LocalQueue:
    """The same questions answered for submitit's local executor (`--cluster local`, no Slurm):
    only the jobs this process started exist."""

    local = True
    accounting = False
    kill_wait_s = 5.0

    def __init__(self):
        self._jobs: dict[str, object] = {}

    def register(self, job) -> None:
        self._jobs[job.job_id] = job

    def states(self, jobs: Iterable[str]) -> dict[str, JobState]:
        out = {}
        for j in jobs:
            handle = self._jobs.get(j)
            if handle is None:
                continue
            state = handle.state  # RUNNING, FINISHED, INTERRUPTED, or what submitit could not tell
            mapped = {"RUNNING": "RUNNING", "FINISHED": "COMPLETED"}.get(state, "FAILED")
            out[j] = JobState(job=j, state=mapped, reason="" if mapped != "FAILED" else state.lower())
        return out

    def final_word(self, job: JobState) -> JobState:
        return job

    def cancel(self, jobs: Iterable[str]) -> str:
        for j in jobs:
            handle = self._jobs.get(j)
            if handle is not None:
                handle.cancel(check=False)
        return ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def settle(job: JobState | None, status: dict, key: str, job_id: str, result: str | None = None) -> tuple[str, str] | None:
    """The outcome of a cell whose job is `job` (None: the scheduler has no record of it), given
    the cell's status.json: (outcome, detail), or None while there is more to come.

    The cell writes done/failed itself while it holds its lock; Slurm's final state speaks only
    for a cell that could not (killed, cancelled while pending, node lost) or that stopped on a
    signal, whose own record says less than the scheduler's. `result` is what the cell's
    run_unit returned (submitit's result file), when known.
    """
    if job is not None and job.alive:
        return None
    this_job = status.get("key") == key and status.get("job") == job_id
    if status.get("key") == key and status.get("status") == "done":
        return "done", ""
    if result in ("running", "blocked"):
        return result, "held by another launcher" if result == "running" else "its dependency is not done"
    if this_job and status.get("status") == "failed" and not status.get("slurm_signal"):
        return "failed", status.get("error", "")
    if job is None:
        if this_job:  # it ran, then aged out of slurmctld's memory with no accounting to ask
            return "failed", f"job {job_id} ended while {status.get('status')}; Slurm keeps no record of how"
        return "failed", f"job {job_id} left the queue before it started (cancelled); Slurm kept no record"
    if job.state == "COMPLETED":
        return "failed", f"job {job_id} completed without a result in status.json"
    return "failed", job.ended()
