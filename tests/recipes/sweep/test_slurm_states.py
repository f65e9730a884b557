"""The Slurm launcher's pure logic, without a cluster: scontrol/sacct/sinfo output as Slurm 22.05
prints it (lines captured from the single-node test cluster), what each job state means for a
cell, the up-front request checks, the defaults that fit a recipe, and the follower's
decisions (grace periods, messages) driven by a scripted scheduler."""

from __future__ import annotations

import json
import subprocess

import pytest

from codemix.core.errors import CodemixError
from codemix.recipes.sweep.launchers import LaunchOptions
from codemix.recipes.sweep.launchers import slurm_follow as follow
from codemix.recipes.sweep.launchers.slurm import executor_parameters, resolved_config
from codemix.recipes.sweep.launchers.slurm_checks import (
    Request,
    check_request,
    gpu_count,
    mem_mb,
    parse_sinfo,
)
from codemix.recipes.sweep.launchers.slurm_queue import (
    JobState,
    Scheduler,
    SchedulerError,
    expand_task_ids,
    parse_sacct,
    parse_scontrol,
    settle,
)
from codemix.recipes.sweep.runner import load_sweep, materialize, plan_table
from helpers.slurm import mix_sweep, train_sweep

# `scontrol -o show job 8` for an array 0-3%2: tasks 0 and 1 running, 2-3 still one pending record.
SCONTROL_ARRAY = """\
JobId=8 ArrayJobId=8 ArrayTaskId=2-3%2 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) Requeue=1 Restarts=0 RunTime=00:00:00 TimeLimit=UNLIMITED NodeList= BatchHost=vm
JobId=10 ArrayJobId=8 ArrayTaskId=1 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=RUNNING Reason=None Dependency=(null) Requeue=1 Restarts=0 RunTime=00:00:01 TimeLimit=UNLIMITED NodeList=vm BatchHost=vm
JobId=9 ArrayJobId=8 ArrayTaskId=0 ArrayTaskThrottle=2 JobName=wrap UserId=root(0) JobState=TIMEOUT Reason=TimeLimit Dependency=(null) Requeue=1 Restarts=1 RunTime=00:01:24 TimeLimit=00:01:00 NodeList=vm BatchHost=vm
"""
SCONTROL_SINGLE = ("JobId=4 JobName=wrap UserId=root(0) JobState=COMPLETING Reason=None Requeue=1 Restarts=1 "
                   "RunTime=00:00:12 TimeLimit=00:01:00 NodeList=vm WorkDir=/tmp/a dir with spaces StdOut=/tmp/o\n")
SACCT = """\
8_0|TIMEOUT|None|00:01:24|vm
8_1|CANCELLED by 0|None|00:00:01|vm
8_[2-3%2]|PENDING|JobArrayTaskLimit|00:00:00|None assigned
6|CANCELLED by 1000|None|00:00:00|None assigned
"""


def test_scontrol_records_per_task_including_a_pending_range():
    states = parse_scontrol(SCONTROL_ARRAY)
    assert set(states) == {"8_0", "8_1", "8_2", "8_3"}
    assert states["8_2"] == JobState("8_2", "PENDING", "JobArrayTaskLimit", "", "00:00:00", "", 0)
    assert states["8_1"].alive and states["8_1"].node == "vm" and states["8_1"].describe() == "job 8_1 on vm"
    assert not states["8_0"].alive and states["8_0"].restarts == 1
    assert states["8_0"].ended() == "TIMEOUT (TimeLimit) after 01:24"
    assert states["8_3"].describe() == "job 8_3, PD JobArrayTaskLimit"
    single = parse_scontrol(SCONTROL_SINGLE)["4"]
    assert single.state == "COMPLETING" and single.alive  # a cancelled job while its processes stop
    assert expand_task_ids("1,4-6%2") == [1, 4, 5, 6] and expand_task_ids("0-6:3") == [0, 3, 6]


def test_sacct_gives_who_cancelled_and_expands_pending_ranges():
    states = parse_sacct(SACCT)
    assert states["8_1"].by == "by 0" and states["8_1"].ended() == "CANCELLED by 0 after 00:01"
    assert JobState("8_1", "CANCELLED", elapsed="00:00:00", node="vm").ended() == "CANCELLED after 00:00"  # it ran
    assert JobState("9", "CANCELLED", by="by 0", restarts=1).ended() == "CANCELLED by 0 while queued again after 1 requeue(s)"
    assert states["6"].ended() == "CANCELLED by 1000 before it started"
    assert states["8_3"].state == "PENDING" and states["8_3"].reason == "JobArrayTaskLimit"
    assert states["8_0"].ended() == "TIMEOUT after 01:24"
    assert JobState("5", "OUT_OF_MEMORY", elapsed="1-02:00:00").ended() == "OUT_OF_MEMORY after 1-02:00:00"


def test_pending_reasons_that_never_clear_are_named():
    assert JobState("1", "PENDING", "PartitionConfig").stuck.startswith("the request exceeds")
    assert "no node" in JobState("1", "PENDING", "ReqNodeNotAvail,_UnavailableNodes:vm").stuck
    assert JobState("1", "PENDING", "Resources").stuck is None
    assert JobState("1", "PENDING", "Priority").stuck is None
    assert JobState("1", "RUNNING", "PartitionConfig").stuck is None


@pytest.mark.parametrize("job, status, result, expected", [
    (JobState("1_0", "RUNNING"), {}, None, None),                        # still going
    (JobState("1_0", "PENDING", "BeginTime"), {"status": "requeued", "key": "k", "job": "1_0"}, None, None),
    (JobState("1_0", "COMPLETED"), {"status": "done", "key": "k", "job": "1_0"}, "done", ("done", "")),
    (JobState("1_0", "COMPLETED"), {"status": "failed", "key": "k", "job": "1_0", "error": "boom"}, "failed",
     ("failed", "boom")),
    (JobState("1_0", "COMPLETED"), {"status": "running", "key": "k", "job": "other"}, "running",
     ("running", "held by another launcher")),
    (JobState("1_0", "TIMEOUT", elapsed="00:01:24"), {"status": "running", "key": "k", "job": "1_0"}, None,
     ("failed", "TIMEOUT after 01:24")),
    # the cell's own SIGTERM record says less than Slurm's final state
    (JobState("1_0", "CANCELLED", by="by 0", elapsed="00:00:40", node="vm"),
     {"status": "failed", "key": "k", "job": "1_0", "error": "stopped by Slurm", "slurm_signal": "TERM"}, None,
     ("failed", "CANCELLED by 0 after 00:40")),
    # a cell that hit its limit max_requeues times says so itself
    (JobState("1_0", "COMPLETED"), {"status": "failed", "key": "k", "job": "1_0", "error": "TIMEOUT: reached ..."},
     "failed", ("failed", "TIMEOUT: reached ...")),
    (JobState("1_0", "NODE_FAIL", elapsed="00:05:00"), {}, None, ("failed", "NODE_FAIL after 05:00")),
    (None, {}, None, ("failed", "job 1_0 left the queue before it started (cancelled); Slurm kept no record")),
    (None, {"status": "running", "key": "k", "job": "1_0"}, None,
     ("failed", "job 1_0 ended while running; Slurm keeps no record of how")),
    (JobState("1_0", "OUT_OF_MEMORY"), {"status": "done", "key": "old", "job": "1_0"}, None,
     ("failed", "OUT_OF_MEMORY")),                                        # a stale done (other key) counts for nothing
])
def test_what_a_job_state_means_for_its_cell(job, status, result, expected):
    assert settle(job, status, "k", "1_0", result) == expected


def _runner(answers: dict[tuple[str, ...], tuple[int, str, str]]):
    """A stand-in for subprocess.run over Slurm's commands, answering from a table (Slurm itself
    is exercised by test_slurm_integration.py)."""
    calls = []

    def run(cmd):
        calls.append(cmd)
        for prefix, (rc, out, err) in answers.items():
            if tuple(cmd[:len(prefix)]) == prefix:
                return subprocess.CompletedProcess(cmd, rc, out, err)
        raise AssertionError(f"unexpected command {cmd}")
    return run, calls


def test_scheduler_asks_sacct_only_for_jobs_scontrol_forgot():
    config = "AccountingStorageType   = accounting_storage/slurmdbd\nKillWait                = 10 sec\n"
    run, calls = _runner({("scontrol", "show", "config"): (0, config, ""),
                          ("scontrol", "-o", "show", "job", "8"): (0, SCONTROL_ARRAY, ""),
                          ("scontrol", "-o", "show", "job", "6"): (1, "", "slurm_load_jobs error: Invalid job id specified"),
                          ("sacct",): (0, SACCT, "")})
    q = Scheduler(run)
    states = q.states(["8_1", "6"])
    assert states["8_1"].state == "RUNNING" and states["6"].ended() == "CANCELLED by 1000 before it started"
    assert q.accounting and q.kill_wait_s == 10
    assert [c for c in calls if c[0] == "sacct"][0][-1] == "6"
    # without accounting, a forgotten job is simply missing (the follower gives it a grace period)
    run, calls = _runner({("scontrol", "show", "config"): (0, "AccountingStorageType = accounting_storage/none\n", ""),
                          ("scontrol", "-o", "show", "job"): (1, "", "slurm_load_jobs error: Invalid job id specified")})
    assert Scheduler(run).states(["6"]) == {} and not any(c[0] == "sacct" for c in calls)
    run, _ = _runner({("scontrol",): (1, "", "slurm_load_jobs error: Unable to contact slurm controller")})
    with pytest.raises(SchedulerError, match="Unable to contact"):
        Scheduler(run).states(["6"])


SINFO = """\
debug*|vm|2|20489|(null)|(null)|infinite|up
gpu|g1|32|257000|gpu:a100:4(S:0-1)|a100,ib|1-00:00:00|up
gpu|g2|64|515000|gpu:h100:8|h100|1-00:00:00|up
"""


@pytest.mark.parametrize("change, message", [
    ({"partition": "nosuch"}, r"^sweep.slurm.partition \(--partition\): no partition 'nosuch' on this cluster "
                              r"\(partitions: debug, gpu\)$"),
    ({"gpus_per_node": 1}, r"^sweep.slurm.gpus_per_node \(--gpus-per-cell\): 1 GPU per cell, but partition debug has "
                           r"no GPUs; set it to 0"),
    ({"cpus_per_task": 8}, r"^sweep.slurm.cpus_per_task: 8 CPUs per cell; the nodes of partition debug have at most 2$"),
    ({"mem": "64G"}, r"^sweep.slurm.mem: 64G per cell; the nodes of partition debug have at most 20489M$"),
    ({"partition": "gpu", "time": "2-00:00:00"}, r"^sweep.slurm.time \(--time\): 2-00:00:00 exceeds the 1440 minutes"),
    ({"partition": "gpu", "gpus_per_node": 16}, r"have at most 8$"),
    ({"partition": "gpu", "constraint": "v100"}, r"^sweep.slurm.constraint: no node of partition gpu has 'v100' "
                                                 r"\(features: a100, h100, ib\)$"),
    ({"partition": "gpu", "cpus_per_task": 64, "gpus_per_node": 0, "constraint": "a100"},
     r"^sweep.slurm: no node of partition gpu has 64 CPUs, 4G and 0 GPUs together"),
    ({"nodes": 3, "partition": "gpu"}, r"^sweep.slurm.nodes: 3 nodes per cell; partition gpu has 2$"),
])
def test_requests_no_node_can_run_are_one_line_naming_the_key(change, message):
    nodes, default = parse_sinfo(SINFO)
    assert default == "debug" and [n.gpus for n in nodes] == [0, 4, 8]
    base = {"partition": None, "nodes": 1, "cpus_per_task": 1, "mem": "4G", "gpus_per_node": 0, "time": "60"}
    check_request(Request(**base), nodes, default)  # fits the default partition
    check_request(Request(**{**base, "partition": "gpu", "gpus_per_node": 8, "cpus_per_task": 64, "constraint": "h100|a100"}),
                  nodes, default)
    with pytest.raises(CodemixError, match=message):
        check_request(Request(**{**base, **change}), nodes, default)


def test_sizes_and_gres():
    assert [mem_mb(t) for t in ("64G", "500M", "2048", "1.5T", "64GB", "512k")] == [65536, 500, 2048, 1572864, 65536, 0]
    assert gpu_count("gpu:a100:2(S:0),gpu:v100:2") == 4 and gpu_count("(null)") == 0 and gpu_count("gpu:8") == 8
    with pytest.raises(ValueError, match="Slurm's sizes"):
        mem_mb("lots")


def test_defaults_fit_the_recipe(tmp_path):
    cpu = load_sweep(str(train_sweep(tmp_path, seeds=[1], slurm={"cpus_per_task": None, "mem": None})))
    cfg = resolved_config(cpu, LaunchOptions())
    assert (cfg.gpus_per_node, cfg.cpus_per_task, cfg.mem) == (0, 4, "8G")  # a random-init model trains on CPUs
    path = train_sweep(tmp_path, seeds=[1], slurm={"cpus_per_task": None, "mem": None, "time": "1"})
    data = path.read_text().replace("init: random", "init: pretrained\n    path: org/coder-7b")
    data = data.replace("    tokenizer:\n      kind: bpe\n      vocab_size: 400\n", "")
    data = "\n".join(ln for ln in data.splitlines() if "arch" not in ln and "hidden_size" not in ln
                     and "layers:" not in ln and "heads:" not in ln and "max_position_embeddings" not in ln)
    path.write_text(data)
    gpu = load_sweep(str(path))
    assert gpu.recipe.train.model.init == "pretrained"
    params = executor_parameters(gpu, LaunchOptions(slurm={"mem": "default"}))
    assert params["gpus_per_node"] == 1 and params["cpus_per_task"] == 8 and "slurm_mem" not in params
    assert params["slurm_signal_delay_s"] == 15  # a quarter of a 1-minute limit
    assert executor_parameters(gpu, LaunchOptions(gpus_per_cell=0))["gpus_per_node"] == 0


class ScriptedQueue:
    """The scheduler's answers poll by poll (each call to states() takes the next dict)."""

    local = False
    accounting = False
    kill_wait_s = 0.3

    def __init__(self, answers: list[dict[str, JobState]]):
        self.answers = answers
        self.cancelled: list[str] = []

    def states(self, jobs):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return {**answer, **{j: JobState(j, "CANCELLED", by="by 0") for j in self.cancelled}}

    def final_word(self, job):
        return job

    def cancel(self, jobs):
        self.cancelled += list(jobs)
        return ""

    def register(self, job):
        pass


def _followed(tmp_path, answers, monkeypatch, **options):
    """A 2-cell mixture sweep whose cells have jobs 5_0 and 5_1 (job.json), followed by a
    Follower that asks `answers`; returns (outcomes, printed lines)."""
    sweep = load_sweep(str(mix_sweep(tmp_path, slurm={"poll_s": 0.05})))
    materialize(sweep, sweep.cells)
    for i, cell in enumerate(sweep.cells):
        (cell.dir / "job.json").write_text(json.dumps({"job": f"5_{i}"}))
    monkeypatch.setattr(follow, "GRACE_S", 0.3)
    done = []
    f = follow.Follower(sweep, sweep.cells, sweep.recipe.sweep.slurm, None, ScriptedQueue(answers),
                        LaunchOptions(**options), lambda u, o, d: done.append((u.name, o, d)), None)
    return f, f.run(), done, sweep


def test_follower_adopts_queued_jobs_and_settles_each_within_a_poll_and_the_grace(tmp_path, monkeypatch, capsys):
    pending = JobState("5_1", "PENDING", "PartitionConfig")
    answers = [{"5_0": JobState("5_0", "RUNNING", node="vm"), "5_1": pending},  # adoption check
               {"5_0": JobState("5_0", "RUNNING", node="vm"), "5_1": pending},
               {"5_0": JobState("5_0", "TIMEOUT", elapsed="00:01:24")}]        # 5_1 vanished: cancelled
    f, outcomes, done, sweep = _followed(tmp_path, answers, monkeypatch)
    assert outcomes == {c.name: "failed" for c in sweep.cells}
    assert dict((n, d) for n, _, d in done) == {
        sweep.cells[0].name: "TIMEOUT after 01:24",
        sweep.cells[1].name: "job 5_1 left the queue before it started (cancelled); Slurm kept no record"}
    out = capsys.readouterr().out
    assert "following job 5_0 (job 5_0 on vm), submitted earlier" in out
    assert out.count("pending (PartitionConfig): the request exceeds") == 1  # said once, not every poll
    for cell in sweep.cells:  # written where the cells could not write it themselves
        st = json.loads((cell.dir / "status.json").read_text())
        assert st["status"] == "failed" and st["key"] == cell.key and st["job"] in ("5_0", "5_1")
    # --plan shows Slurm's reason from status.json once the jobs are gone
    assert "failed  TIMEOUT after 01:24" in plan_table(sweep, sweep.cells)


def test_follower_waits_for_a_dying_cell_then_reports_and_fail_fast_cancels(tmp_path, monkeypatch):
    import sys
    import time

    answers = [{"5_0": JobState("5_0", "RUNNING"), "5_1": JobState("5_1", "RUNNING")},
               {"5_0": JobState("5_0", "CANCELLED", by="by 0", elapsed="00:00:40", node="vm"), "5_1": JobState("5_1", "RUNNING")}]
    sweep = load_sweep(str(mix_sweep(tmp_path)))
    materialize(sweep, sweep.cells)
    # The cell's lock held by another process (a cell going through KillWait): the follower
    # waits KillWait + grace for it to write its own result, then reports Slurm's word unwritten.
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
                               "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(sweep.cells[0].dir / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        f, outcomes, done, _ = _followed(tmp_path, answers, monkeypatch, fail_fast=True)
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert outcomes[sweep.cells[0].name] == "failed" and done[0][2] == "CANCELLED by 0 after 00:40"
    assert 0.5 <= waited < 3  # KillWait 0.3 s + grace 0.3 s, then no longer
    assert not (sweep.cells[0].dir / "status.json").exists()
    assert f.queue.cancelled == ["5_1"]  # --fail-fast cancels the rest


def test_ctrl_c_lists_the_jobs_left_and_cancel_on_exit_cancels_them(tmp_path, monkeypatch, capsys):
    running = {"5_0": JobState("5_0", "RUNNING"), "5_1": JobState("5_1", "PENDING", "Resources")}
    with pytest.raises(KeyboardInterrupt):
        _followed(tmp_path, [running, KeyboardInterrupt()], monkeypatch)
    assert "codemix: 2 job(s) still queued or running: 5_0 5_1; they go on without this launcher" in \
        capsys.readouterr().out
    (tmp_path / "b").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _followed(tmp_path / "b", [running, KeyboardInterrupt()], monkeypatch, cancel_on_exit=True)
    assert "codemix: cancelled 2 job(s): 5_0 5_1" in capsys.readouterr().out


def test_no_slurm_here_is_one_line_and_plan_still_works(tmp_path, monkeypatch, capsys):
    from codemix.recipes.cli import main

    recipe = mix_sweep(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no sbatch, no scontrol
    for args in (["validate", str(recipe), "--launcher", "slurm"], ["sweep", str(recipe), "--launcher", "slurm"]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["codemix: error: --launcher slurm: no Slurm here (sbatch not found); use --launcher local, "
                       "or --cluster local to run the job array as local processes"]
    assert not (tmp_path / "out").exists()  # refused before anything is written
    # a cell with a recorded job and a requeued status: --plan reads its directory when Slurm is out of reach
    sweep = load_sweep(str(recipe))
    materialize(sweep, sweep.cells)
    cell = sweep.cells[0]
    (cell.dir / "job.json").write_text(json.dumps({"job": "9_0"}))
    (cell.dir / "status.json").write_text(json.dumps({"status": "requeued", "key": cell.key, "job": "9_0",
                                                      "reason": "time limit (00:10:00) near: requeued (1/3)"}))
    assert main(["sweep", str(recipe), "--plan"]) == 0
    out = capsys.readouterr().out
    assert f"{cell.name}  queued   job 9_0: time limit (00:10:00) near: requeued (1/3)" in out
