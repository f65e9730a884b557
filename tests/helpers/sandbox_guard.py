"""A guard for tests that run hostile programs: a cgroup with a process limit and a memory limit
that the executor's workers join before doing anything else, so a sandbox that leaks a fork bomb
or a memory bomb takes down the guard, not the machine. Where cgroups are not writable the
constructor raises RuntimeError, and the dangerous tests skip (never run bare)."""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GUARD_PIDS_MAX = 256        # 2 workers x (worker + server + 64 sample processes) fits easily
GUARD_MEMORY = 6 << 30      # far below the machine's 24 GiB; above the 4 GiB address-space limit plus the workers, so the rlimit (MemoryError) hits first instead of cgroup reclaim thrashing


class CgroupGuard:
    """A cgroup per available hierarchy (v2; v1 pids and memory) with pids and memory limits."""

    def __init__(self, name: str, pids_max: int = GUARD_PIDS_MAX, memory: int = GUARD_MEMORY):
        self.dirs: list[Path] = []
        own = {}
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in (controllers.split(",") if controllers else [""]):
                own[c] = path
        mounts = {}
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, right = line.split(" - ")
            fstype, _, options = right.split()[:3]
            if fstype == "cgroup2":
                mounts[""] = left.split()[4]
            elif fstype == "cgroup":
                for c in options.split(","):
                    if c in ("pids", "memory"):
                        mounts[c] = left.split()[4]
        limited = set()
        try:
            if "" in mounts and "" in own:
                d = Path(mounts[""] + own[""]) / name
                enabled = (d.parent / "cgroup.subtree_control").read_text().split()
                d.mkdir()
                self.dirs.append(d)
                if "pids" in enabled:
                    (d / "pids.max").write_text(str(pids_max))
                    limited.add("pids")
                if "memory" in enabled:
                    (d / "memory.max").write_text(str(memory))
                    if (d / "memory.swap.max").exists():
                        (d / "memory.swap.max").write_text("0")  # no escape into swap
                    limited.add("memory")
            for c, limit_file, value in (("pids", "pids.max", pids_max),
                                         ("memory", "memory.limit_in_bytes", memory)):
                if c in limited or c not in mounts or c not in own:
                    continue
                d = Path(mounts[c] + own[c]) / name  # nested under ours: outer limits still apply
                d.mkdir()
                self.dirs.append(d)
                (d / limit_file).write_text(str(value))
                if (d / "memory.memsw.limit_in_bytes").exists():
                    (d / "memory.memsw.limit_in_bytes").write_text(str(value))  # no escape into swap
                limited.add(c)
        except OSError as e:
            self.remove()
            raise RuntimeError(f"cgroups not writable here: {e}") from None
        if limited != {"pids", "memory"}:
            self.remove()
            raise RuntimeError(f"no cgroup controller for {sorted({'pids', 'memory'} - limited)}")

    def join_self(self) -> None:
        """Move the calling process (and so everything it starts) into the guard."""
        for d in self.dirs:
            with open(d / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))

    def pids(self) -> set[int]:
        return {int(p) for d in self.dirs for p in (d / "cgroup.procs").read_text().split()}

    def remove(self) -> None:
        for d in self.dirs:
            if (d / "cgroup.kill").exists():
                (d / "cgroup.kill").write_text("1")
            for _ in range(200):
                procs = (d / "cgroup.procs").read_text().split()
                if not procs:
                    break
                for p in procs:
                    try:
                        os.kill(int(p), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.01)
            d.rmdir()
        self.dirs = []


def guard_or_skip(name: str) -> Iterator[CgroupGuard]:
    """Body of a module-scoped fixture: a guard named `name`-<pid>, removed afterwards; the
    module's tests skip (they never run bare) where cgroups are not writable."""
    try:
        guard = CgroupGuard(f"{name}-{os.getpid()}")
    except RuntimeError as e:
        pytest.skip(f"hostile programs run only inside a cgroup guard: {e}")
    try:
        yield guard
    finally:
        guard.remove()
