"""How many intra-op threads torch should use: the CPUs this process may actually run on.

torch's default is the machine's core count. In a container or a Slurm job limited by a cgroup
CPU quota, or pinned by affinity to fewer cores, that oversubscribes: on the shared 2-core
machine a tiny model trained at ~5 steps/s with matching threads and < 1 step/s when threads
fought over the cores (on the same 2 cores left idle, the string-rewrite model trained at 13.5
steps/s on 2 threads and 8 on 1: threads help only while their cores are free).
The count is min(torch's own count, affinity, ceil(cgroup quota)): never more threads than CPUs,
never more than torch or the caller chose. An explicit OMP_NUM_THREADS (what torchrun and our
multi-process launcher set per process) wins.

Other processes count too. Measured here (torch 2.13, 2 cores, one core kept busy by another
training process): 100 512x512 matmuls took 0.39 s on 1 thread and 1.05 s on 2, and a training
step of the smoke model went from ~0.08 s to ~2 s, because each parallel region waits for the
thread that the scheduler parked behind the other process. So the CPUs that other processes keep
busy at start-up (measured from /proc/stat over a quarter of a second) are taken off the count.
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


def available_cpus(root: Path = CGROUP_ROOT) -> dict[str, Any]:
    """{cpus, affinity, cgroup_quota}: the CPUs this process can use and where the limit comes from."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        affinity = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    cpus = affinity if quota is None else max(1, min(affinity, math.ceil(quota)))
    return {"cpus": cpus, "affinity": affinity, "cgroup_quota": quota}


def _cpu_times(stat: Path) -> tuple[int, int]:
    """(total, idle incl. iowait) jiffies of all CPUs from /proc/stat's first line."""
    fields = [int(x) for x in stat.read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[3] + fields[4]  # user..steal; idle + iowait


def busy_from(before: tuple[int, int], after: tuple[int, int], ncpu: int) -> float:
    """CPUs busy between two /proc/stat samples (0 .. ncpu)."""
    total, idle = after[0] - before[0], after[1] - before[1]
    return 0.0 if total <= 0 else max(0.0, min(float(ncpu), ncpu * (total - idle) / total))


def busy_cpus(sample_s: float = 0.25, stat: Path = Path("/proc/stat")) -> float | None:
    """CPUs kept busy by other processes right now (this one sleeps while it samples); None where
    /proc/stat cannot be read."""
    import time

    try:
        before = _cpu_times(stat)
        time.sleep(sample_s)
        after = _cpu_times(stat)
    except (OSError, ValueError, IndexError):
        return None
    return busy_from(before, after, os.cpu_count() or 1)


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
    others = busy_cpus() if busy is True else (None if busy is False else busy)
    if source != "OMP_NUM_THREADS" and others is not None:
        free = max(1, int(info["cpus"] - others + 0.5))
        if free < threads:
            threads, source = free, f"other processes kept {others:.1f} of {info['cpus']} cpus busy"
    if before != threads:
        torch.set_num_threads(threads)
    return {"intra_op_threads": threads, "source": source, "torch_default": before,
            "busy_cpus_at_start": None if others is None else round(others, 2), **info}
