"""The Slurm launcher: one submitit job-array task per cell.

Resources come from the recipe's `sweep.slurm:` section, overridden by flags. submitit writes
each task's stdout/stderr under `<output_dir>/slurm/<job id>/`; the cell directory gets links
to them (`slurm-<job id>.out/.err`) next to its own log.txt. This process waits for the array
and reports each cell as it ends; a task that dies without a word (time limit, node failure,
out of memory) is marked failed in its cell with Slurm's reason. `--cluster local` runs the
same array through submitit's local executor (CPU processes, no Slurm), which is how it is tested.

A reference evaluation that depends on the baseline cell (random-init models) is submitted as
its own job once the baseline cell has finished; an independent one joins the array.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from codemix.core.errors import CodemixError
from codemix.recipes.sweep.cell import record_crash, run_unit_job
from codemix.recipes.sweep.config import SlurmConfig, slurm_minutes
from codemix.recipes.sweep.launchers import LaunchOptions, OnDone

_POLL_S = {"slurm": 30.0, "local": 0.5}  # sacct is rate-limited on shared clusters; local polls are free


def executor_parameters(sweep, options: LaunchOptions) -> dict:
    raw = sweep.recipe.sweep.slurm.model_dump()
    overrides = dict(options.slurm)
    raw["additional"] = {**raw["additional"], **overrides.pop("additional", {})}
    raw.update(overrides)
    if options.gpus_per_cell is not None:
        raw["gpus_per_node"] = options.gpus_per_cell
    try:
        cfg = SlurmConfig.model_validate(raw)
    except Exception as e:  # pydantic's message, turned into one line naming the flag/key
        raise CodemixError(f"slurm settings: {str(e).splitlines()[-1].strip()}") from None
    params = {
        "timeout_min": slurm_minutes(cfg.time), "nodes": cfg.nodes, "tasks_per_node": 1,
        "gpus_per_node": cfg.gpus_per_node, "cpus_per_task": cfg.cpus_per_task,
        "name": cfg.job_name or f"codemix-{sweep.name}",
        "slurm_partition": cfg.partition, "slurm_mem": cfg.mem, "slurm_account": cfg.account,
        "slurm_qos": cfg.qos, "slurm_constraint": cfg.constraint,
        "slurm_array_parallelism": cfg.array_parallelism, "slurm_setup": cfg.setup or None,
        "slurm_additional_parameters": {k: v for k, v in cfg.additional.items()} or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def make_executor(sweep, options: LaunchOptions):
    import submitit

    cluster = options.cluster or "slurm"
    if cluster == "slurm" and submitit.SlurmExecutor.affinity() <= 0:
        raise CodemixError("--launcher slurm: no Slurm here (sbatch not found); "
                           "use --launcher local, or --cluster local to run the job array as local processes")
    executor = submitit.AutoExecutor(folder=sweep.out / "slurm" / "%j", cluster=cluster)
    executor.update_parameters(**executor_parameters(sweep, options))
    return executor


def _link_logs(job, unit) -> None:
    for kind, path in (("out", job.paths.stdout), ("err", job.paths.stderr)):
        link = unit.dir / f"slurm-{job.job_id}.{kind}"
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(Path(path), unit.dir))


def launch(sweep, units: list, options: LaunchOptions, on_done: OnDone) -> dict[str, str]:
    import submitit

    executor = make_executor(sweep, options)
    poll = _POLL_S.get(options.cluster or "slurm", 30.0)
    names = {u.name for u in units}
    first = [u for u in units if u.depends_on not in names]
    later = [u for u in units if u.depends_on in names]
    outcomes: dict[str, str] = {}

    def submit(batch: list) -> dict:
        if not batch:
            return {}
        jobs = executor.map_array(run_unit_job, [str(u.dir) for u in batch])
        print(f"[sweep] submitted {len(jobs)} task(s): job {jobs[0].job_id.split('_')[0]}", flush=True)
        for job, unit in zip(jobs, batch, strict=True):
            _link_logs(job, unit)
        with contextlib.suppress(OSError):  # submitit makes the unexpanded folder name too
            (sweep.out / "slurm" / "%j").rmdir()
        return dict(zip(jobs, batch, strict=True))

    def collect(by_job: dict) -> bool:
        """Wait for the jobs; False when --fail-fast stopped the rest."""
        for job in submitit.helpers.as_completed(list(by_job), poll_frequency=poll):
            unit = by_job[job]
            try:
                outcome, detail = job.result(), ""
            except Exception as e:  # noqa: BLE001 - the job died outside run_unit (time limit, node, OOM)
                detail = f"job {job.job_id}: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}"
                record_crash(unit.dir, detail)
                outcome = "failed"
            outcomes[unit.name] = outcome
            on_done(unit, outcome, detail or f"job {job.job_id}")
            if outcome == "failed" and options.fail_fast:
                for other in by_job:
                    if other is not job and not other.done():
                        other.cancel(check=False)
                return False
        return True

    if collect(submit(first)) and later:
        collect(submit(later))
    return outcomes
