"""How many intra-op threads torch should use: the CPUs this process may actually run on.

torch's default is the machine's core count. In a container or a Slurm job limited by a cgroup
CPU quota, or pinned by affinity to fewer cores, that oversubscribes: on the shared 2-core
machine a tiny model trained at ~5 steps/s with matching threads and < 1 step/s when threads
fought over the cores (on the same 2 cores left idle, the string-rewrite model trained at 13.5
steps/s on 2 threads and 8 on 1: threads help only while their cores are free).
The count is min(torch's own count, affinity, ceil(cgroup quota), the Slurm allocation): never
more threads than CPUs, never more than torch or the caller chose. An explicit OMP_NUM_THREADS
(what torchrun and our multi-process launcher set per process) wins.

Slurm: a cell's job gets `--cpus-per-task N`, but only a cluster that binds tasks to cores
(TaskPlugin=task/affinity or cgroup) narrows the affinity to them. Without binding every job sees
the whole node: a 1-CPU cell took 2 torch threads on a 2-core node running two cells. So
SLURM_CPUS_PER_TASK (else the job's CPUs on the node, SLURM_CPUS_ON_NODE, shared by its tasks
there) caps the count too.

Other processes count too. Measured here (torch 2.13, 2 cores, one core kept busy by another
training process): 100 512x512 matmuls took 0.39 s on 1 thread and 1.05 s on 2, and a training
step of the smoke model went from ~0.08 s to ~2 s, because each parallel region waits for the
thread that the scheduler parked behind the other process. So the CPUs that other processes keep
busy at start-up (measured from /proc/stat over a quarter of a second) are taken off the count.
Only the CPUs this process may run on are measured: on a cluster node that binds each job to its
cores, the other jobs' busy cores are none of this job's business.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs granted by the cgroup's CFS quota (v2 cpu.max, else v1 cfs_quota_us/cfs_period_us);
    None when unlimited or unreadable."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def slurm_cpus(env: dict[str, str] | None = None) -> int | None:
    """CPUs the Slurm allocation gives this task; None outside a Slurm job."""
    env = os.environ if env is None else env
    if not env.get("SLURM_JOB_ID"):
        return None
    per_task = env.get("SLURM_CPUS_PER_TASK", "")
    if per_task.isdigit() and int(per_task) > 0:
        return int(per_task)
    on_node = env.get("SLURM_CPUS_ON_NODE", "")
    tasks = env.get("SLURM_NTASKS_PER_NODE", "")
    if on_node.isdigit() and int(on_node) > 0:
        return max(1, int(on_node) // (int(tasks) if tasks.isdigit() and int(tasks) > 0 else 1))
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> dict[str, Any]:
    """{cpus, affinity, cgroup_quota} (and slurm_cpus inside a Slurm job): the CPUs this process
    can use and where the limit comes from."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    cpus = affinity if quota is None else max(1, min(affinity, math.ceil(quota)))
    info: dict[str, Any] = {"cpus": cpus, "affinity": affinity, "cgroup_quota": quota}
    allocated = slurm_cpus()
    if allocated is not None:
        info.update(cpus=min(cpus, allocated), slurm_cpus=allocated)
    return info


def cpu_times(stat: Path, cpus: set[int] | None = None) -> tuple[int, int]:
    """(total, idle incl. iowait) jiffies from /proc/stat: of all CPUs (its first line), or of
    the CPUs in `cpus` (their `cpuN` lines)."""
    lines = stat.read_text().splitlines()
    if cpus is None:
        rows = [lines[0].split()[1:]]
    else:
        rows = [ln.split()[1:] for ln in lines[1:] if ln.startswith("cpu") and ln[3:4].isdigit()
                and int(ln.split()[0][3:]) in cpus]
    total = idle = 0
    for row in rows:
        fields = [int(x) for x in row]
        total, idle = total + sum(fields[:8]), idle + fields[3] + fields[4]  # user..steal; idle + iowait
    return total, idle


def busy_from(before: tuple[int, int], after: tuple[int, int], ncpu: int) -> float:
    """CPUs busy between two /proc/stat samples (0 .. ncpu)."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 0.0 if total <= 0 else max(0.0, min(float(ncpu), ncpu * (total - idle) / total))


def busy_cpus(sample_s: float = 0.25, stat: Path = Path("/proc/stat"), cpus: set[int] | None = None) -> float | None:
    """CPUs kept busy by other processes right now (this one sleeps while it samples), among
    `cpus` (default: all); None where /proc/stat cannot be read."""
    import time

    try:
        before = cpu_times(stat, cpus)
        time.sleep(sample_s)
        after = cpu_times(stat, cpus)
    except (OSError, ValueError, IndexError):
        return None
    return busy_from(before, after, len(cpus) if cpus else (os.cpu_count() or 1))


def _own_cpus() -> set[int] | None:
    """The CPUs this process may run on, when that is fewer than the machine's; else None."""
    try:
        own = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None
    return set(own) if len(own) < (os.cpu_count() or 0) else None


def configure_torch_threads(root: Path = CGROUP_ROOT, *, busy: float | None | bool = True) -> dict[str, Any]:
    """Set torch's intra-op threads from the available CPUs; returns what was chosen and why
    (recorded in the train manifest's topology and the eval generation summary). `busy`: True
    measures the CPUs other processes keep busy, a number gives it, False/None ignores them."""
    import torch

    info = available_cpus(root)
    before = torch.get_num_threads()
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        threads, source = int(env), "OMP_NUM_THREADS"
    elif before <= info["cpus"]:
        # torch's own count (physical cores, or what the caller set) already fits: keep it.
        threads, source = before, "torch default (fits the available cpus)"
    else:
        threads = info["cpus"]
        limited = info["cgroup_quota"] is not None and threads < info["affinity"]
        source = "cgroup cpu quota" if limited else "cpu affinity"
        if info.get("slurm_cpus") is not None and threads == info["slurm_cpus"] < info["affinity"]:
            source = "slurm allocation (SLURM_CPUS_PER_TASK)"
    others = busy_cpus(cpus=_own_cpus()) if busy is True else (None if busy is False else busy)
    if source != "OMP_NUM_THREADS" and others is not None:
        free = max(1, int(info["cpus"] - others + 0.5))
        if free < threads:
            threads, source = free, f"other processes kept {others:.1f} of {info['cpus']} cpus busy"
    if before != threads:
        torch.set_num_threads(threads)
    return {"intra_op_threads": threads, "source": source, "torch_default": before,
            "busy_cpus_at_start": None if others is None else round(others, 2), **info}
