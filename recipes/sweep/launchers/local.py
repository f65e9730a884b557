"""The local launcher: cells on this machine, one after another or `--parallel N` at once.

One cell at a time on a CPU machine runs in this process (torch and transformers are imported
once, ~7.5 s saved per cell here). Otherwise each cell is a subprocess
(`python -m codemix.recipes.sweep.cell DIR`) so it can get its own GPUs through CUDA_VISIBLE_DEVICES and
its own share of the CPU threads, and so a crash (out of memory, segfault) takes down one cell.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from codemix.core.errors import CodemixError
from codemix.recipes.sweep.cell import EXIT_CODES, record_crash, run_unit
from codemix.recipes.sweep.launchers import LaunchOptions, OnDone, ordered

_OUTCOME_OF_EXIT = {code: outcome for outcome, code in EXIT_CODES.items()}


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else what nvidia-smi lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def gpu_slots(gpus: list[str], per_cell: int, parallel: int | None) -> list[list[str]]:
    """Disjoint GPU groups, one per concurrent cell."""
    if per_cell <= 0 or not gpus:
        return []
    if per_cell > len(gpus):
        raise CodemixError(f"--gpus-per-cell {per_cell}: only {len(gpus)} GPU(s) visible ({','.join(gpus)})")
    slots = [gpus[i:i + per_cell] for i in range(0, len(gpus) - per_cell + 1, per_cell)]
    if parallel is not None and parallel > len(slots):
        raise CodemixError(f"--parallel {parallel} with {per_cell} GPU(s) per cell needs {parallel * per_cell} GPUs; "
                           f"{len(gpus)} visible")
    return slots[:parallel] if parallel else slots


def launch(sweep, units: list, options: LaunchOptions, on_done: OnDone) -> dict[str, str]:
    cfg = sweep.recipe.sweep
    per_cell = options.gpus_per_cell if options.gpus_per_cell is not None else cfg.gpus_per_cell
    slots = gpu_slots(visible_gpus(), per_cell, options.parallel or cfg.parallel)
    parallel = options.parallel or cfg.parallel or max(1, len(slots))
    if parallel == 1 and not slots:
        return _in_process(ordered(units), options, on_done)
    return _subprocesses(ordered(units), parallel, slots, options, on_done)


def _in_process(units: list, options: LaunchOptions, on_done: OnDone) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for unit in units:
        print(f"\n[sweep] {unit.name}", flush=True)
        outcome = run_unit(unit.dir)
        outcomes[unit.name] = outcome
        on_done(unit, outcome, "")
        if outcome == "failed" and options.fail_fast:
            break
    return outcomes


def _subprocesses(units: list, parallel: int, slots: list[list[str]], options: LaunchOptions,
                  on_done: OnDone) -> dict[str, str]:
    free: queue.Queue = queue.Queue()
    for slot in slots or [[]] * parallel:
        free.put(slot)
    # CPU threads: split the cores between concurrent cells; torch otherwise starts one thread per
    # core in every cell, and N cells x all cores oversubscribe the CPU.
    threads = max(1, (os.cpu_count() or 1) // parallel)

    def run_one(unit) -> tuple[str, str]:
        slot = free.get()
        try:
            env = {**os.environ, "CODEMIX_NO_PROGRESS": "1"}
            env.setdefault("OMP_NUM_THREADS", str(threads))
            if slots:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(slot)
            proc = subprocess.run([sys.executable, "-m", "codemix.recipes.sweep.cell", str(unit.dir), "--quiet"],
                                  env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            free.put(slot)
        outcome = _OUTCOME_OF_EXIT.get(proc.returncode)
        if outcome is None:  # killed or crashed outside the pipeline's own error handling
            detail = f"process ended with status {proc.returncode}"
            record_crash(unit.dir, detail)
            return "failed", detail
        return outcome, (f"GPUs {','.join(slot)}" if slots else "")

    outcomes: dict[str, str] = {}
    pending, running, stop = list(units), {}, False
    names = {u.name for u in units}
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        while True:
            for unit in list(pending):
                if stop or len(running) >= parallel:
                    break
                if unit.depends_on in names and unit.depends_on not in outcomes:
                    continue  # waits for its dependency to finish in this launcher
                pending.remove(unit)
                print(f"[sweep] start {unit.name}", flush=True)
                running[pool.submit(run_one, unit)] = unit
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                unit = running.pop(fut)
                outcome, detail = fut.result()
                outcomes[unit.name] = outcome
                on_done(unit, outcome, detail)
                if outcome == "failed" and options.fail_fast:
                    stop = True
    return outcomes
