"""Fault injection: SIGKILL inside each stage (mix, train, generate, score), re-run, and the
final artifacts must equal an uninterrupted run's.

The mix stage is killed at exact events, not after a delay: the command runs under a hook that
SIGKILLs its own process right after it takes the stage lock, and right before each atomic rename
into the stage directory (the data file complete under its temporary name, then the manifest).
Those are the moments a kill can leave something behind; a timed kill reached them only by luck
(one full run in many left a temporary data file and failed, none of three alone did).

The other stages are killed at a seeded delay after an event: the test waits until the stage has
started (its start marker file appears), sleeps u x (the stage's duration in the reference run),
u drawn from `random.Random(seed)`, and SIGKILLs the whole process group (sandbox workers too).
Wherever that lands — before the first checkpoint, inside a checkpoint write, after the last
step, between generated batches, mid-verdict — the re-run must resume or rebuild to the same
bytes and numbers, so where it lands changes what is tested, never whether the test passes.

The default run holds the mix kills and a score kill (~10 s); the full pipeline version (`-m slow`,
~4 min on 2 cores) kills `codemix run` once per stage. More seeds: CODEMIX_FAULT_SEEDS=5 (each
adds one timed kill per stage).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codemix.core.artifacts import read_manifest, sha256_file, stage_state
from codemix.recipes.cli import main
from helpers.recipes import TWO_SOURCES, run_recipe

REPO = Path(__file__).resolve().parents[2]
SEEDS = list(range(int(os.environ.get("CODEMIX_FAULT_SEEDS", "1"))))


def mix_recipe(out: Path) -> str:
    return f"""
name: faults-mix
seed: 5
output_dir: {out}
mix:
  budget: 6000
  general_fraction: 0.3
{TWO_SOURCES}
  decontaminate: {{benchmarks: [humaneval], ngram: 13}}
"""


# Runs `codemix ARGS` and SIGKILLs itself at one event in directory CODEMIX_TEST_KILL_DIR:
# CODEMIX_TEST_KILL=lock (right after taking the directory's lock) or rename-N (right before the
# N-th os.replace into it: atomic_path's rename of a finished temporary file).
KILL_HOOK = """
import fcntl, os, signal, sys
from pathlib import Path

where = Path(os.environ["CODEMIX_TEST_KILL_DIR"]).resolve()
point = os.environ["CODEMIX_TEST_KILL"]
renames = 0

def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

real_flock, real_replace = fcntl.flock, os.replace

def flock(fd, op):
    real_flock(fd, op)
    taken = Path(os.readlink(f"/proc/self/fd/{fd}")).parent
    if point == "lock" and op & fcntl.LOCK_EX and taken == where:
        die()

def replace(src, dst, *args, **kwargs):
    global renames
    if Path(dst).resolve().parent == where:
        renames += 1
        if point == f"rename-{renames}":
            die()
    return real_replace(src, dst, *args, **kwargs)

fcntl.flock, os.replace = flock, replace
from codemix.recipes.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    # One torch thread everywhere: the reference and the resumed runs must sum in the same order.
    return dict(os.environ, CODEMIX_NO_PROGRESS="1", OMP_NUM_THREADS="1",
                CODEMIX_CACHE_DIR=str(tmp_path / "cache"), HF_HUB_OFFLINE="1")


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codemix", *args], cwd=REPO, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> float | None:
    """Seconds until `path` exists (None: the process ended first)."""
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.01)
    return time.monotonic() - t0


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _kill_during(args: list[str], tmp_path: Path, start: Path, duration: float, u: float) -> str:
    """Run the command, wait until `start` exists, sleep u x duration, SIGKILL. Returns where the
    kill landed ("killed" or "finished first")."""
    proc = _start(args, tmp_path)
    if _wait_for(start, proc) is None:
        proc.communicate()
        return "finished first"
    time.sleep(u * duration)
    if proc.poll() is not None:
        return "finished first"
    _kill_group(proc)
    return "killed"


def _timed_reference(args: list[str], tmp_path: Path, markers: list[Path]) -> dict[Path, float]:
    """Run the command to the end, recording when each marker file appeared (seconds from start)."""
    proc = _start(args, tmp_path)
    t0 = time.monotonic()
    seen: dict[Path, float] = {}
    while proc.poll() is None:
        for m in markers:
            if m not in seen and m.exists():
                seen[m] = time.monotonic() - t0
        time.sleep(0.01)
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    end = time.monotonic() - t0
    return {m: seen.get(m, end) for m in markers} | {Path("<end>"): end}


# ---------------------------------------------------------------- fast subset

def _killed_at(point: str, args: list[str], where: Path, tmp_path: Path) -> None:
    """Run `codemix ARGS` under KILL_HOOK; it must die by SIGKILL at `point` in `where`."""
    hook = tmp_path / "kill_hook.py"
    hook.write_text(KILL_HOOK)
    env = dict(_env(tmp_path), CODEMIX_TEST_KILL=point, CODEMIX_TEST_KILL_DIR=str(where))
    proc = subprocess.run([sys.executable, str(hook), *args], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point} (exit {proc.returncode}):\n{proc.stderr}"


def test_kill_during_mix_then_rerun_gives_the_same_mixture(tmp_path):
    ref_out, out = tmp_path / "ref", tmp_path / "run"
    (tmp_path / "ref.yaml").write_text(mix_recipe(ref_out))
    (tmp_path / "run.yaml").write_text(mix_recipe(out))
    assert main(["mix", str(tmp_path / "ref.yaml")]) == 0
    mix = out / "mix"
    # One after the other in the same directory: each killed run's leftovers must not confuse the next.
    _killed_at("lock", ["mix", str(tmp_path / "run.yaml")], mix, tmp_path)
    assert not (mix / "data.jsonl").exists() and read_manifest(mix) is None
    _killed_at("rename-1", ["mix", str(tmp_path / "run.yaml")], mix, tmp_path)
    assert [p.name.split(".tmp-")[0] for p in mix.glob(".*.tmp-*")] == [".data.jsonl"]
    assert not (mix / "data.jsonl").exists()
    _killed_at("rename-2", ["mix", str(tmp_path / "run.yaml")], mix, tmp_path)
    # The data file is in place, its manifest still under its temporary name: not trusted.
    assert (mix / "data.jsonl").is_file() and read_manifest(mix) is None
    assert [p.name.split(".tmp-")[0] for p in mix.glob(".*.tmp-*")] == [".manifest.json"]
    assert main(["mix", str(tmp_path / "run.yaml")]) == 0
    assert sha256_file(mix / "data.jsonl") == sha256_file(ref_out / "mix" / "data.jsonl")
    ref, got = read_manifest(ref_out / "mix"), read_manifest(mix)
    assert (got["content_hash"], got["rows"], got["inputs_hash"]) == (ref["content_hash"], ref["rows"], ref["inputs_hash"])
    assert stage_state(mix, got["inputs_hash"]).current
    assert not list(mix.glob(".*.tmp-*")), "temporary files left behind"


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_during_score_then_rerun_gives_the_same_results(tmp_path, seed):
    from codemix.eval.benchmarks import load_problems

    problems = {p.task_id: p for p in load_problems("humaneval")}
    rows = []
    for i in range(6):
        p = problems[f"HumanEval/{i}"]
        for j in range(4):  # half right, half wrong, each a little slow so the kill lands mid-run
            body = p.canonical_solution if j % 2 == 0 else "    return None\n"
            rows.append({"task_id": p.task_id, "completion": "    __import__('time').sleep(0.05)\n" + body})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["score", "--benchmark", "humaneval", "--samples", str(samples), "--k", "1,2", "--workers", "1",
            "--timeout", "5", "--tasks", ",".join(f"HumanEval/{i}" for i in range(6))]
    t0 = time.monotonic()
    assert main([*base, "--out", str(tmp_path / "ref")]) == 0
    duration = time.monotonic() - t0
    out = tmp_path / "run"
    u = random.Random(f"score-{seed}").random()
    _kill_during([*base, "--out", str(out)], tmp_path, out / "results.run.json", duration, u)
    assert main([*base, "--out", str(out)]) == 0
    ref, got = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "ref", out))
    for key in ("pass_at_k", "per_task", "verdicts", "n_samples", "samples_hash", "problems_hash"):
        assert got[key] == ref[key], key
    assert (out / "results.jsonl").read_text().count("\n") == len(rows)


# ---------------------------------------------------------------- the whole pipeline, one kill per stage

@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-ref")
    out = root / "run"
    (root / "r.yaml").write_text(run_recipe(out))
    bench = out / "eval" / "humaneval"
    markers = [out / "mix" / ".lock", out / "mix" / "manifest.json", out / "train" / ".lock",
               out / "train" / "manifest.json", bench / "inputs.json", bench / "results.run.json",
               bench / "manifest.json"]
    times = _timed_reference(["run", str(root / "r.yaml")], root, markers)
    m = dict(zip(("mix0", "mix1", "train0", "train1", "gen0", "score0", "score1"), markers, strict=True))
    stages = {  # stage -> (start marker, duration in the reference run)
        "mix": ("mix/.lock", times[m["mix1"]] - times[m["mix0"]]),
        "train": ("train/.lock", times[m["train1"]] - times[m["train0"]]),
        "generate": ("eval/humaneval/inputs.json", times[m["score0"]] - times[m["gen0"]]),
        "score": ("eval/humaneval/results.run.json", times[m["score1"]] - times[m["score0"]]),
    }
    return out, stages


def _artifacts(out: Path) -> dict:
    train = read_manifest(out / "train")
    results = json.loads((out / "eval" / "humaneval" / "results.json").read_text())
    return {
        "mix": sha256_file(out / "mix" / "data.jsonl"),
        "train": {k: train[k] for k in ("losses", "steps", "tokens", "final_loss", "mixture_hash")},
        "weights": sha256_file(out / "train" / "model" / "model.safetensors"),
        "samples": sha256_file(out / "eval" / "humaneval" / "samples.jsonl"),
        "results": {k: results[k] for k in ("pass_at_k", "per_task", "verdicts")},
        "summary": json.loads((out / "summary.json").read_text())["trained"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("stage", ["mix", "train", "generate", "score"])
def test_kill_codemix_run_in_each_stage(reference_run, tmp_path, stage, seed):
    ref_out, stages = reference_run
    out = tmp_path / "run"
    (tmp_path / "r.yaml").write_text(run_recipe(out))
    marker, duration = stages[stage]
    u = random.Random(f"{stage}-{seed}").random()
    landed = _kill_during(["run", str(tmp_path / "r.yaml")], tmp_path, out / marker, duration, u)
    proc = _start(["run", str(tmp_path / "r.yaml")], tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"re-run after a kill in {stage} ({landed}, u={u:.2f}) failed:\n{err}"
    assert "Traceback" not in err
    assert _artifacts(out) == _artifacts(ref_out), f"kill in {stage} at u={u:.2f} ({landed})"
    assert not (out / "train" / "checkpoints").exists()
    if stage == "score":
        # Then damage the finished run's eval outputs: a cut samples file must not be "up to date".
        samples = out / "eval" / "humaneval" / "samples.jsonl"
        lines = samples.read_text().splitlines(keepends=True)
        samples.write_text("".join(lines[: len(lines) // 2]))
        proc = _start(["run", str(tmp_path / "r.yaml")], tmp_path)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0 and "damaged" in err, err
        assert _artifacts(out) == _artifacts(ref_out)
