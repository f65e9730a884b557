"""torch threads inside a Slurm job: the allocation (SLURM_CPUS_PER_TASK, else the job's CPUs on
the node) caps them even where the cluster does not bind tasks to cores, and only the CPUs this
process may run on count when measuring what other processes keep busy."""

import os

import pytest

from codemix.finetune.threads import available_cpus, configure_torch_threads, cpu_times, slurm_cpus


def test_allocation_from_the_environment():
    assert slurm_cpus({}) is None  # not in a job
    assert slurm_cpus({"SLURM_JOB_ID": "5", "SLURM_CPUS_PER_TASK": "3", "SLURM_CPUS_ON_NODE": "8"}) == 3
    assert slurm_cpus({"SLURM_JOB_ID": "5", "SLURM_CPUS_ON_NODE": "8", "SLURM_NTASKS_PER_NODE": "4"}) == 2
    assert slurm_cpus({"SLURM_JOB_ID": "5", "SLURM_CPUS_ON_NODE": "8"}) == 8
    assert slurm_cpus({"SLURM_JOB_ID": "5", "SLURM_CPUS_PER_TASK": "x"}) is None


def test_one_cpu_cell_gets_one_thread_on_an_unbound_node(tmp_path, monkeypatch):
    import torch

    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "14")
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert available_cpus(tmp_path) == {"cpus": 1, "affinity": affinity, "cgroup_quota": None, "slurm_cpus": 1}
    if affinity < 2:
        pytest.skip("needs 2 CPUs to show the cap")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(affinity)
        info = configure_torch_threads(tmp_path, busy=0.0)
        assert info["intra_op_threads"] == 1 == torch.get_num_threads()
        assert info["source"] == "slurm allocation (SLURM_CPUS_PER_TASK)"
    finally:
        torch.set_num_threads(before)


def test_busy_cpus_counted_on_the_cpus_of_this_process(tmp_path):
    stat = tmp_path / "stat"
    # cpu0 all idle, cpu1 all busy: the machine is half busy, cpu0 alone not at all
    stat.write_text("cpu  100 0 0 100 0 0 0 0 0 0\ncpu0 0 0 0 100 0 0 0 0 0 0\ncpu1 100 0 0 0 0 0 0 0 0 0\nintr 1\n")
    assert cpu_times(stat) == (200, 100)
    assert cpu_times(stat, {0}) == (100, 100) and cpu_times(stat, {1}) == (100, 0)
