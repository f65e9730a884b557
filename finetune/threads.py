"""How many intra-op threads torch should use: the CPUs this process may actually run on.

torch's default is the machine's core count. In a container or a Slurm job limited by a cgroup
CPU quota, or pinned by affinity to fewer cores, that oversubscribes: on the shared 2-core
machine a tiny model trained at ~5 steps/s with matching threads and < 1 step/s when threads
fought over the cores (issue 9; STACK-NOTES: 2 threads 13.5 steps/s, 1 thread 8 on an idle box).
The count is min(torch's own count, affinity, ceil(cgroup quota)): never more threads than CPUs,
never more than torch or the caller chose. An explicit OMP_NUM_THREADS (what torchrun and our
multi-process launcher set per process) wins.
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


def configure_torch_threads(root: Path = CGROUP_ROOT) -> dict[str, Any]:
    """Set torch's intra-op threads from the available CPUs; returns what was chosen and why
    (recorded in the train manifest's topology and the eval generation summary)."""
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
    if before != threads:
        torch.set_num_threads(threads)
    return {"intra_op_threads": threads, "source": source, "torch_default": before, **info}
