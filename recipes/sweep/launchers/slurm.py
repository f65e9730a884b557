"""The Slurm launcher: one submitit job-array task per cell, followed through Slurm's own states.

Resources come from the recipe's `sweep.slurm:` section, overridden by flags; what it leaves
open fits the recipe (slurm_checks: no GPU for a recipe that runs on CPUs). Before anything is
submitted, `sinfo` must show a partition with a node that can run one cell. submitit writes
each task's stdout/stderr under `<output_dir>/slurm/<job>_<task>/` (a single job: `slurm/<job>/`);
the cell directory links to them (`slurm-<job>_<task>.out/.err`) next to its own log.txt, and
records its job in job.json. slurm_follow submits what needs to run and follows the jobs until
each cell is done or failed with Slurm's reason; slurm_job is the cell's side (signals, requeue).
`--cluster local` runs the same array through submitit's local executor (CPU processes, no
Slurm), which is how the default test run covers it.
"""

from __future__ import annotations

from codemix.core.errors import CodemixError
from codemix.recipes.sweep.cell import run_unit_job
from codemix.recipes.sweep.config import SlurmConfig, slurm_minutes
from codemix.recipes.sweep.launchers import LaunchOptions, OnDone
from codemix.recipes.sweep.launchers.slurm_checks import (
    CPU_DEFAULTS,
    GPU_DEFAULTS,
    Request,
    check_request,
    needs_gpu,
    read_sinfo,
)


def resolved_config(sweep, options: LaunchOptions) -> SlurmConfig:
    """sweep.slurm with the flags applied and the open resources filled in for this recipe."""
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
    defaults = GPU_DEFAULTS if needs_gpu(sweep.recipe) else CPU_DEFAULTS
    return cfg.model_copy(update={k: v for k, v in defaults.items() if getattr(cfg, k) is None})


def request_of(cfg: SlurmConfig) -> Request:
    return Request(partition=cfg.partition, nodes=cfg.nodes, cpus_per_task=cfg.cpus_per_task,
                   mem=None if cfg.mem == "default" else cfg.mem, gpus_per_node=cfg.gpus_per_node,
                   time=cfg.time, constraint=cfg.constraint or cfg.additional.get("constraint"))


def executor_parameters(sweep, options: LaunchOptions, cfg: SlurmConfig | None = None) -> dict:
    """submitit's AutoExecutor parameters for one cell."""
    cfg = cfg or resolved_config(sweep, options)
    params = {
        "timeout_min": slurm_minutes(cfg.time), "nodes": cfg.nodes, "tasks_per_node": 1,
        "gpus_per_node": cfg.gpus_per_node, "cpus_per_task": cfg.cpus_per_task,
        "name": cfg.job_name or f"codemix-{sweep.name}",
        "slurm_partition": cfg.partition, "slurm_mem": None if cfg.mem == "default" else cfg.mem,
        "slurm_account": cfg.account, "slurm_qos": cfg.qos, "slurm_constraint": cfg.constraint,
        "slurm_array_parallelism": cfg.array_parallelism, "slurm_setup": cfg.setup or None,
        "slurm_signal_delay_s": cfg.warning_s(),
        "slurm_additional_parameters": {k: v for k, v in cfg.additional.items()} or None,
    }
    return {k: v for k, v in params.items() if v is not None}


def require_slurm() -> None:
    import shutil

    if shutil.which("sbatch") is None:
        raise CodemixError("--launcher slurm: no Slurm here (sbatch not found); "
                           "use --launcher local, or --cluster local to run the job array as local processes")


def check_cluster(sweep, options: LaunchOptions) -> SlurmConfig:
    """The request checked against `sinfo` (one line naming the key when no node fits)."""
    cfg = resolved_config(sweep, options)
    require_slurm()
    check_request(request_of(cfg), *read_sinfo())
    return cfg


def preflight(sweep, options: LaunchOptions) -> None:
    """Before the sweep directory is written: Slurm is here and can run a cell (--cluster slurm)."""
    if (options.cluster or "slurm") == "slurm":
        check_cluster(sweep, options)


def make_executor(sweep, options: LaunchOptions, cfg: SlurmConfig | None = None):
    import submitit

    cluster = options.cluster or "slurm"
    executor = submitit.AutoExecutor(folder=sweep.out / "slurm" / "%j", cluster=cluster)
    executor.update_parameters(**executor_parameters(sweep, options, cfg))  # the local executor ignores slurm_*
    return executor


def launch(sweep, units: list, options: LaunchOptions, on_done: OnDone) -> dict[str, str]:
    from codemix.recipes.sweep.launchers.slurm_follow import Follower
    from codemix.recipes.sweep.launchers.slurm_queue import LocalQueue, Scheduler

    local = (options.cluster or "slurm") == "local"
    cfg = resolved_config(sweep, options) if local else check_cluster(sweep, options)
    if local:
        cfg = cfg.model_copy(update={"poll_s": min(cfg.poll_s, 0.5)})  # local processes: polls are free
    queue = LocalQueue() if local else Scheduler()
    executor = make_executor(sweep, options, cfg)
    return Follower(sweep, units, cfg, executor, queue, options, on_done, run_unit_job).run()


def live_states(units: list) -> dict[str, tuple[str, str]]:
    """For `--plan`: {unit name: (state, detail)} of the units whose recorded job Slurm still
    knows or whose status.json waits for Slurm's word: `queued (job 21_3, PD Resources)`,
    `running (job 21_3 on node1)`, `failed (TIMEOUT after 01:00)`. {} where Slurm is not
    reachable from here."""
    import shutil

    from codemix.recipes.sweep.launchers.slurm_follow import job_on, read_status
    from codemix.recipes.sweep.launchers.slurm_queue import Scheduler, SchedulerError
    from codemix.recipes.sweep.runner import read_job

    jobs = {u.name: job_on(read_job(u.dir), "slurm") for u in units}
    jobs = {n: j for n, j in jobs.items() if j}
    if not jobs or shutil.which("scontrol") is None:
        return {}
    queue = Scheduler()
    try:
        states = queue.states(list(jobs.values()))
    except SchedulerError:
        return {}
    out = {}
    for unit in units:
        job = jobs.get(unit.name)
        js = states.get(job) if job else None
        if js is None:
            continue
        status = read_status(unit.dir)
        if js.alive:
            if status.get("key") == unit.key and status.get("status") == "done":
                continue
            running = js.state in ("RUNNING", "COMPLETING", "CONFIGURING")
            out[unit.name] = ("running" if running else "queued", js.describe())
        elif status.get("job") == job and status.get("slurm_signal"):
            out[unit.name] = ("failed", queue.final_word(js).ended())
    return out
