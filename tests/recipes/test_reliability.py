"""Crash safety and concurrency: locks between processes, damaged outputs not trusted,
OS errors as one line, no silent replacement of other inputs' results, `codemix eval` of a run's
checkpoint writing where its help says, torch threads from the CPUs available."""

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codemix.core.artifacts import read_manifest, stage_state
from codemix.core.locks import lock_holder
from codemix.recipes.cli import main
from helpers.mixing import alpaca_rows, build, mix_config, write_jsonl

REPO = Path(__file__).resolve().parents[2]

RECIPE = """
name: rel
seed: 3
output_dir: {out}
mix:
  budget: {budget}
  general_fraction: {fraction}
  sources:
    - {{name: pyfuncs, path: "builtin:pyfuncs", domain: code}}
    - {{name: texttasks, path: "builtin:texttasks", domain: general}}
  decontaminate: {{enabled: false}}
"""


def _recipe(tmp_path: Path, budget: int = 400, fraction: float = 0.25, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(RECIPE.format(out=tmp_path / "run", budget=budget, fraction=fraction))
    return path


def _cli(*args: str, limit_fsize: int | None = None, **kw) -> subprocess.Popen:
    def limits():
        if limit_fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_fsize, limit_fsize))

    env = dict(os.environ, CODEMIX_NO_PROGRESS="1")
    return subprocess.Popen([sys.executable, "-m", "codemix", *args], cwd=REPO, env=env, preexec_fn=limits,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("codemix: error: "), err
    return err[0]


# ---------------------------------------------------------------- locks

def test_two_runs_on_one_output_dir(tmp_path, capsys):
    recipe = _recipe(tmp_path, budget=20000)
    out = tmp_path / "run"
    first = _cli("run", str(recipe))
    try:
        deadline = time.monotonic() + 60
        while lock_holder(out) is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the test saw it working"
        # The second stops at once with one line that names the holder...
        assert main(["run", str(recipe)]) == 2
        line = _error_line(capsys)
        assert f"pid {first.pid} on host {os.uname().nodename}" in line and str(out) in line and "--wait" in line
        # ...or, with --wait, waits for it and then finds the mixture it built up to date.
        assert main(["run", str(recipe), "--wait", "120"]) == 0
        assert "[mix] up to date" in capsys.readouterr().out
    finally:
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert stage_state(out / "mix", read_manifest(out / "mix")["inputs_hash"]).current
    assert lock_holder(out) is None and lock_holder(out / "mix") is None


def test_two_scores_into_one_out(tmp_path):
    from codemix.core.locks import locked

    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": "    return 1\n"}])
    with locked(tmp_path / "out", what="test"):
        probe = _cli("score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(tmp_path / "out"),
                     "--k", "1")
        _, err = probe.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert probe.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith("codemix: error: ") and f"pid {os.getpid()}" in lines[0]
    assert not (tmp_path / "out" / "results.json").exists()


# ---------------------------------------------------------------- damaged outputs

@pytest.fixture()
def small_mix(tmp_path):
    src = write_jsonl(tmp_path / "code.jsonl", alpaca_rows(60, "code"))
    return mix_config([{"name": "code", "path": str(src), "format": "alpaca", "domain": "code"}],
                      budget=40, general_fraction=0.0)


def test_mixture_cut_at_a_line_boundary_is_rebuilt(tmp_path, small_mix, capsys):
    out = tmp_path / "mix"
    manifest, _ = build(out, small_mix)
    data = out / "data.jsonl"
    original = data.read_bytes()
    lines = original.decode().splitlines(keepends=True)
    data.write_text("".join(lines[: len(lines) // 2]))  # what a copy cut short leaves
    assert not stage_state(out, manifest["inputs_hash"]).current
    again, built = build(out, small_mix)
    assert built and "damaged" in capsys.readouterr().err
    assert data.read_bytes() == original and again["content_hash"] == manifest["content_hash"]


def test_edited_mixture_with_the_same_size_is_caught_by_its_hash(tmp_path, small_mix):
    out = tmp_path / "mix"
    manifest, _ = build(out, small_mix)
    data = out / "data.jsonl"
    text = data.read_text()
    data.write_text(text.replace("code", "cade", 1))  # same size, new mtime, other bytes
    state = stage_state(out, manifest["inputs_hash"])
    assert state.kind == "damaged" and "content hash" in state.problems[0]


def test_training_refuses_a_damaged_mixture(tmp_path, small_mix):
    from codemix.core.errors import CodemixError
    from codemix.finetune.data import mixture_manifest

    out = tmp_path / "mix"
    build(out, small_mix)
    with open(out / "data.jsonl", "r+") as f:
        f.truncate(100)
    with pytest.raises(CodemixError, match="damaged.*codemix mix"):
        mixture_manifest(out)


# ---------------------------------------------------------------- replacing other inputs' outputs

def test_changed_inputs_say_what_they_replace_and_keep_refuses(tmp_path, capsys):
    recipe = _recipe(tmp_path)
    assert main(["mix", str(recipe)]) == 0
    data = tmp_path / "run" / "mix" / "data.jsonl"
    before = read_manifest(data.parent)
    capsys.readouterr()
    assert main(["mix", str(recipe), "--set", "mix.general_fraction=0.5", "--keep"]) == 2
    line = _error_line(capsys)
    assert "mix.general_fraction: 0.25 -> 0.5" in line and "--keep refuses" in line and "--set name=" in line
    assert read_manifest(data.parent) == before, "--keep must leave the outputs as they were"
    assert main(["mix", str(recipe), "--set", "mix.general_fraction=0.5"]) == 0
    err = capsys.readouterr().err
    after = read_manifest(data.parent)
    assert "replacing" in err and "mix.general_fraction: 0.25 -> 0.5" in err
    assert before["recipe_hash"][:12] in err and after["recipe_hash"][:12] in err


def test_score_into_an_existing_out_with_other_tasks(tmp_path, capsys):
    from codemix.eval.benchmarks import load_problems

    problems = {p.task_id: p for p in load_problems("humaneval")}
    tasks = ["HumanEval/0", "HumanEval/1"]
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": t, "completion": problems[t].canonical_solution}
                                                 for t in tasks])
    out = tmp_path / "out"
    base = ["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(out), "--k", "1",
            "--workers", "1"]
    assert main(base) == 0
    full = (out / "results.json").read_text()
    capsys.readouterr()
    assert main([*base, "--tasks", "HumanEval/0", "--keep"]) == 2
    assert "tasks" in _error_line(capsys) and (out / "results.json").read_text() == full
    assert main([*base, "--tasks", "HumanEval/0"]) == 0
    assert "replacing" in capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["n_tasks"] == 1
    assert main([*base, "--tasks", "HumanEval/0"]) == 0  # same inputs again: no notice
    assert "replacing" not in capsys.readouterr().err


def test_eval_of_a_run_checkpoint_defaults_to_evals(tmp_path):
    from codemix.api.stages import default_eval_dir as default_out_dir

    train = tmp_path / "exp" / "train"
    train.mkdir(parents=True)
    (train / "manifest.json").write_text("{}")
    out = default_out_dir(str(train))
    assert out.parts[0] == "evals" and out != train.parent / "eval"


# ---------------------------------------------------------------- OS errors

def test_full_disk_during_mix_is_one_line_and_leaves_nothing_trusted(tmp_path):
    recipe = _recipe(tmp_path, budget=3000)
    # RLIMIT_FSIZE makes every write past 64 KiB fail with EFBIG (Python ignores SIGXFSZ): the
    # same path through the code as ENOSPC, without filling a real disk.
    proc = _cli("mix", str(recipe), limit_fsize=64 * 1024)
    _, err = proc.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, err
    assert lines[0].startswith("codemix: error: ") and str(tmp_path / "run" / "mix") in lines[0]
    assert "File too large" in lines[0] and "Traceback" not in err
    mix = tmp_path / "run" / "mix"
    assert not (mix / "manifest.json").exists() and not list(mix.glob(".data.jsonl.tmp-*"))
    assert main(["mix", str(recipe)]) == 0  # with room again, the stage builds


def test_read_only_output_dir_is_one_line(tmp_path, capsys):
    recipe = _recipe(tmp_path)
    assert main(["mix", str(recipe)]) == 0
    mix = tmp_path / "run" / "mix"
    capsys.readouterr()
    if os.geteuid() == 0:  # root writes through mode bits; the immutable attribute stops it
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(mix)]).returncode != 0:
            pytest.skip("running as root without chattr +i support")
        undo = ["chattr", "-i", str(mix)]
    else:
        mix.chmod(0o555)
        undo = None
    try:
        assert main(["mix", str(recipe), "--force"]) == 2
        line = _error_line(capsys)
    finally:
        subprocess.run(undo, check=True) if undo else mix.chmod(0o755)
    assert str(mix) in line and ("Operation not permitted" in line or "Permission denied" in line)
    assert (mix / "manifest.json").is_file()


def test_os_errors_that_are_bugs_keep_their_traceback():
    import errno

    from codemix.recipes.cli import os_error_message

    assert os_error_message(OSError(errno.ENOSPC, "No space left on device", "/x/y")).startswith(
        "/x/y: No space left on device")
    assert os_error_message(OSError(errno.EROFS, "Read-only file system", "/x")) is not None
    assert os_error_message(OSError(errno.EBADF, "Bad file descriptor")) is None


# ---------------------------------------------------------------- torch threads

def test_threads_follow_affinity_and_cgroup_quota(tmp_path, monkeypatch):
    import torch

    from codemix.finetune.threads import available_cpus, cgroup_cpu_quota, configure_torch_threads

    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path)["cpus"] == min(affinity, 2)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert available_cpus(tmp_path) == {"cpus": affinity, "affinity": affinity, "cgroup_quota": None}
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        torch.set_num_threads(max(2, affinity))
        info = configure_torch_threads(tmp_path, busy=0.0)
        assert info["intra_op_threads"] == 1 == torch.get_num_threads() and info["source"] == "cgroup cpu quota"
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert configure_torch_threads(tmp_path)["intra_op_threads"] == 3
    finally:
        torch.set_num_threads(before)


def test_threads_leave_the_cpus_other_processes_keep_busy(tmp_path, monkeypatch):
    import subprocess
    import sys

    import torch

    from codemix.finetune.threads import busy_cpus, busy_from, configure_torch_threads

    # 4 cpus, 1000 jiffies elapsed per cpu, 1500 of the 4000 idle: 2.5 cpus busy
    assert busy_from((10_000, 2_000), (14_000, 3_500), 4) == pytest.approx(2.5)
    assert busy_from((0, 0), (0, 0), 4) == 0.0
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    try:
        torch.set_num_threads(2)
        info = configure_torch_threads(tmp_path, busy=1.0) if os.cpu_count() == 2 else None
        if info is not None:  # 2 cpus, one busy elsewhere: one thread, and the reason recorded
            assert info["intra_op_threads"] == 1 and "other processes" in info["source"]
            assert info["busy_cpus_at_start"] == 1.0
        torch.set_num_threads(1)
        assert configure_torch_threads(tmp_path, busy=0.0)["intra_op_threads"] == 1  # never raised
    finally:
        torch.set_num_threads(before)
    # measured for real: a spinning process shows up as (nearly) one busy cpu
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)
        assert busy_cpus(0.5) >= 0.7
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.slow
def test_full_disk_during_training_is_one_line_and_the_rerun_trains(tmp_path):
    """torch.save and safetensors wrap the OS error in their own exceptions; the stage still ends
    in one line, and the half-written in-progress state is not trusted by the re-run."""
    from helpers.recipes import run_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(run_recipe(tmp_path / "run"))
    assert main(["mix", str(recipe)]) == 0
    for limit in (20_000, 120_000):  # the random base's weights / the first trainer checkpoint
        proc = _cli("train", str(recipe), limit_fsize=limit)
        _, err = proc.communicate(timeout=300)
        lines = [x for x in err.strip().splitlines() if x.startswith("codemix:")]
        assert proc.returncode == 2 and "Traceback" not in err, err
        assert lines == [lines[-1]] and str(tmp_path / "run" / "train") in lines[0] and "File too large" in lines[0]
        assert not (tmp_path / "run" / "train" / "manifest.json").exists()
    proc = _cli("train", str(recipe))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert stage_state(tmp_path / "run" / "train", read_manifest(tmp_path / "run" / "train")["inputs_hash"]).current
