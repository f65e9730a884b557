"""Up-front checks of a sweep's Slurm request against the cluster (`sinfo`), and the resources a
recipe gets by default.

Without them a request no node can satisfy is accepted by sbatch and pends forever (8 CPUs and
64G on a smaller node sat in PartitionConfig), and a GPU request on a cluster without GPUs ends
in sbatch's own error. Each problem is one line naming the recipe key (and the flag that sets
it), raised before anything is submitted; `codemix validate --launcher slurm` runs the same
checks.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from collections.abc import Callable

from codemix.core.errors import CodemixError
from codemix.recipes.sweep.config import slurm_minutes

SINFO_FORMAT = "%P|%N|%c|%m|%G|%f|%l|%a"


@dataclasses.dataclass(frozen=True)
class Node:
    partition: str
    name: str
    cpus: int
    mem_mb: int
    gpus: int
    features: frozenset[str]
    max_minutes: int | None  # the partition's MaxTime; None: infinite
    up: bool


@dataclasses.dataclass(frozen=True)
class Request:
    """One cell's resources, as submitted (flags applied, defaults resolved)."""

    partition: str | None
    nodes: int
    cpus_per_task: int
    mem: str | None
    gpus_per_node: int
    time: str
    constraint: str | None = None


def mem_mb(text: str) -> int:
    """Slurm's memory sizes (default unit M): 64G, 500M, 1.5T, 2048 -> megabytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"memory {text!r}: use Slurm's sizes, e.g. 64G, 500M or 2048 (megabytes)")
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2).upper()]
    return int(float(m.group(1)) * scale)


def gpu_count(gres: str) -> int:
    """GPUs in sinfo's GRES column: gpu:4, gpu:a100:4(S:0-1), gpu:a100:2,gpu:v100:2, (null)."""
    total = 0
    for item in re.split(r",(?![^()]*\))", gres):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def parse_sinfo(text: str) -> tuple[list[Node], str | None]:
    """`sinfo -h -N -o SINFO_FORMAT` -> (nodes, default partition)."""
    nodes, default = [], None
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 8:
            continue
        part, name, cpus, mem, gres, features, limit, avail = parts[:8]
        if part.endswith("*"):
            part = part[:-1]
            default = part
        max_minutes = None if limit in ("infinite", "UNLIMITED", "n/a") else slurm_minutes(limit)
        nodes.append(Node(part, name, int(cpus.rstrip("+") or 0), int(mem.rstrip("+") or 0), gpu_count(gres),
                          frozenset(f for f in features.split(",") if f and f != "(null)"), max_minutes,
                          avail == "up"))
    return nodes, default


def read_sinfo(run: Callable[[list[str]], subprocess.CompletedProcess] | None = None) -> tuple[list[Node], str | None]:
    cmd = ["sinfo", "-h", "-N", "-o", SINFO_FORMAT]
    try:
        proc = (run or (lambda c: subprocess.run(c, capture_output=True, text=True, timeout=60)))(cmd)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CodemixError(f"--launcher slurm: sinfo failed ({e}); is this a Slurm login node?") from None
    if proc.returncode != 0:
        first = next((ln.strip() for ln in proc.stderr.splitlines() if ln.strip()), "no output")
        raise CodemixError(f"--launcher slurm: sinfo failed: {first}")
    return parse_sinfo(proc.stdout)


def _gpus(n: int) -> str:
    return f"{n} GPU{'s' if n != 1 else ''}"


def _fits_constraint(features: frozenset[str], constraint: str | None) -> bool:
    """Plain `a`, `a|b` and `a&b` constraints; anything richer is left to sbatch."""
    if not constraint:
        return True
    if re.fullmatch(r"[\w.-]+(\|[\w.-]+)*", constraint):
        return any(f in features for f in constraint.split("|"))
    if re.fullmatch(r"[\w.-]+(&[\w.-]+)*", constraint):
        return all(f in features for f in constraint.split("&"))
    return True


def check_request(req: Request, nodes: list[Node], default: str | None) -> None:
    """Raise a one-line CodemixError naming the key when no node of the partition can ever run
    one cell of `req`."""
    partitions = sorted({n.partition for n in nodes})
    name = req.partition or default
    if name is None:
        raise CodemixError("sweep.slurm.partition: this cluster has no default partition; set one of "
                           f"{', '.join(partitions)} (or --partition)")
    part = [n for n in nodes if n.partition == name]
    if not part:
        raise CodemixError(f"sweep.slurm.partition (--partition): no partition {name!r} on this cluster "
                           f"(partitions: {', '.join(partitions) or 'none'})")
    where = f"partition {name}"
    limit = part[0].max_minutes
    if limit is not None and slurm_minutes(req.time) > limit:
        raise CodemixError(f"sweep.slurm.time (--time): {req.time} exceeds the {limit} minutes {where} allows")
    if req.nodes > len(part):
        raise CodemixError(f"sweep.slurm.nodes: {req.nodes} nodes per cell; {where} has {len(part)}")
    need_mb = mem_mb(req.mem) if req.mem else 0
    most_cpus, most_mem, most_gpus = (max(getattr(n, a) for n in part) for a in ("cpus", "mem_mb", "gpus"))
    if req.gpus_per_node > 0 and most_gpus == 0:
        raise CodemixError(f"sweep.slurm.gpus_per_node (--gpus-per-cell): {_gpus(req.gpus_per_node)} per cell, but "
                           f"{where} has no GPUs; set it to 0 for a recipe that runs on CPUs")
    if req.gpus_per_node > most_gpus:
        raise CodemixError(f"sweep.slurm.gpus_per_node (--gpus-per-cell): {_gpus(req.gpus_per_node)} per cell; "
                           f"the nodes of {where} have at most {most_gpus}")
    if req.cpus_per_task > most_cpus:
        raise CodemixError(f"sweep.slurm.cpus_per_task: {req.cpus_per_task} CPUs per cell; the nodes of {where} "
                           f"have at most {most_cpus}")
    if need_mb > most_mem:
        raise CodemixError(f"sweep.slurm.mem: {req.mem} per cell; the nodes of {where} have at most {most_mem}M")
    if not any(_fits_constraint(n.features, req.constraint) for n in part):
        have = sorted({f for n in part for f in n.features})
        raise CodemixError(f"sweep.slurm.constraint: no node of {where} has {req.constraint!r} "
                           f"(features: {', '.join(have) or 'none'})")
    if not any(n.cpus >= req.cpus_per_task and n.mem_mb >= need_mb and n.gpus >= req.gpus_per_node
               and _fits_constraint(n.features, req.constraint) for n in part):
        raise CodemixError(f"sweep.slurm: no node of {where} has {req.cpus_per_task} CPUs, {req.mem or 'its memory'} "
                           f"and {_gpus(req.gpus_per_node)} together; lower one of cpus_per_task, mem, gpus_per_node")
    if not any(n.up for n in part):
        raise CodemixError(f"sweep.slurm.partition (--partition): {where} is not up")


def needs_gpu(recipe) -> bool:
    """Whether a cell of this recipe wants a GPU: it fine-tunes or scores a pretrained model
    (Hub-sized; on a CPU they take hours to days), or asks for qlora or vLLM, which need CUDA.
    A randomly initialised model (the markov and smoke recipes) trains and is scored on CPUs."""
    train, ev = recipe.train, recipe.eval
    if train is not None and (train.method == "qlora" or train.model.init == "pretrained"):
        return True
    if ev is not None and (ev.backend == "vllm" or (train is None and ev.model and not _is_local(ev.model))):
        return True
    return False


def _is_local(model: str) -> bool:
    """An eval-only recipe scoring a directory on disk (a codemix training output) rather than a
    Hub model."""
    from pathlib import Path

    return Path(model).exists()


# What a cell asks for when the recipe's sweep.slurm leaves it open: one GPU with 8 CPUs and 64G
# (a 7B LoRA fine-tune plus vLLM scoring), or 4 CPUs and 8G for a recipe that runs on CPUs (the
# tiny random-init models train at 1-4 threads and take < 2 GB).
GPU_DEFAULTS = {"gpus_per_node": 1, "cpus_per_task": 8, "mem": "64G"}
CPU_DEFAULTS = {"gpus_per_node": 0, "cpus_per_task": 4, "mem": "8G"}
