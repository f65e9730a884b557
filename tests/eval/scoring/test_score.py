"""`codemix score` and codemix.eval.scoring.score_samples: outputs and their contract keys, resume
after a kill, sample formats and the errors a user can make."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codemix.eval.benchmarks import load_problems
from codemix.eval.scoring import score_samples
from codemix.recipes.cli import main

REPO = Path(__file__).resolve().parents[3]
TASKS = [f"HumanEval/{i}" for i in range(8)]
CONTRACT_KEYS = {"benchmark", "problems_hash", "samples_hash", "n_tasks", "samples_per_task", "pass_at_k",
                 "pass_at_k_ci", "per_task", "verdicts", "isolation", "timing"}


pytestmark = pytest.mark.usefixtures("private_cache")


def write_samples(path, problems, tasks=TASKS, per_task=4, slow=0.0):
    """Even sample indices: the reference completion; odd: `return None`."""
    with open(path, "w") as f:
        for tid in tasks:
            p = problems[tid]
            for i in range(per_task):
                body = p.canonical_solution[len(p.prompt):] if i % 2 == 0 else "    return None\n"
                if slow:
                    body = f"    __import__('time').sleep({slow})\n" + body
                f.write(json.dumps({"task_id": tid, "completion": body}) + "\n")
    return path


def test_score_writes_results_with_the_contract_keys(tmp_path, humaneval_problems, capsys):
    samples = write_samples(tmp_path / "s.jsonl", humaneval_problems)
    out = tmp_path / "out"
    assert main(["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(out),
                 "--k", "1,2", "--workers", "2", "--tasks", ",".join(TASKS)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert CONTRACT_KEYS <= set(res)
    assert res["benchmark"] == "humaneval" and res["n_tasks"] == 8 and res["samples_per_task"] == 4
    assert res["pass_at_k"]["pass@1"] == pytest.approx(0.5)
    assert res["pass_at_k"]["pass@2"] == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    lo, hi = res["pass_at_k_ci"]["pass@1"]
    assert lo <= 0.5 <= hi
    assert res["per_task"]["HumanEval/3"] == {"n": 4, "c": 2}
    assert res["verdicts"] == {"passed": 16, "failed": 16, "timeout": 0, "error": 0}
    assert "rlimits" in res["isolation"] and res["timing"]["executed"] == 32
    assert res["hash_seed"] == 0  # the default: the same verdicts in every run
    assert res["timing"]["time_limit"]["mode"] == "measured"
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 32
    assert set(rows[0]) >= {"task_id", "sample_index", "verdict", "error", "duration_s", "cpu_s", "retried"}
    assert [(r["task_id"], r["sample_index"]) for r in rows[:5]] == [("HumanEval/0", i) for i in range(4)] + [("HumanEval/1", 0)]
    assert {r["verdict"] for r in rows if r["sample_index"] % 2} == {"failed"}
    printed = capsys.readouterr()
    assert "pass@1" in printed.out and "50.0" in printed.out  # tables print percentages
    assert "pass@10" not in printed.out


def _cmdline_has(proc_dir, marker):
    try:
        return marker in (proc_dir / "cmdline").read_bytes()
    except OSError:
        return False


def test_resume_after_a_kill_mid_run(tmp_path, humaneval_problems):
    samples = write_samples(tmp_path / "s.jsonl", humaneval_problems, per_task=6, slow=0.05)  # 48 x 50 ms
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "codemix", "score", "--benchmark", "humaneval", "--samples", str(samples),
           "--out", str(out), "--workers", "2", "--timeout", "5", "--tasks", ",".join(TASKS), "--k", "1,5"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if log.is_file() and len(log.read_text().splitlines()) >= 8:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # its sandbox workers (and their samples) die with it: nothing names it as harness any more
    marker = f'"harness_pid": {proc.pid},'.encode()
    for _ in range(100):
        alive = [d for d in Path("/proc").iterdir() if d.name.isdigit() and _cmdline_has(d, marker)]
        if not alive:
            break
        time.sleep(0.05)
    assert not alive, "sandbox workers outlived the killed harness"
    kept = len(log.read_text().splitlines())
    assert 8 <= kept < 48, "the kill should land mid-run"
    # a torn last line, as a kill during a write leaves it
    with open(log, "a") as f:
        f.write('{"task_id": "HumanEval/7", "sample_ind')
    first = score_samples("humaneval", samples, k=(1, 5), workers=2, timeout=5.0, out_dir=out, tasks=TASKS)
    assert first["timing"]["resumed"] >= 8 and first["timing"]["executed"] == 48 - first["timing"]["resumed"]
    again = score_samples("humaneval", samples, k=(1, 5), workers=2, timeout=5.0, out_dir=out, tasks=TASKS)
    assert again["timing"]["executed"] == 0 and again["timing"]["resumed"] == 48
    fresh = score_samples("humaneval", samples, k=(1, 5), workers=2, timeout=5.0, out_dir=tmp_path / "fresh", tasks=TASKS)
    for res in (first, again):
        for key in CONTRACT_KEYS - {"timing"}:
            assert res[key] == fresh[key], key
    assert (out / "results.jsonl").read_text().count("\n") == 48
    assert first["pass_at_k"]["pass@1"] == pytest.approx(0.5)


def test_hash_seed_random_is_recorded_and_not_resumed_into(tmp_path, humaneval_problems):
    samples = write_samples(tmp_path / "s.jsonl", humaneval_problems, tasks=TASKS[:2], per_task=2)
    out = tmp_path / "out"
    assert main(["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(out),
                 "--k", "1", "--workers", "1", "--timeout", "5", "--hash-seed", "random"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["hash_seed"] == "random" and res["timing"]["executed"] == 4
    # verdicts found under another seed are executed again, not resumed
    res = score_samples("humaneval", samples, k=(1,), workers=1, timeout=5.0, out_dir=out, tasks=TASKS[:2])
    assert res["hash_seed"] == 0 and res["timing"]["executed"] == 4 and res["timing"]["resumed"] == 0


def test_changed_samples_are_rescored_not_resumed(tmp_path, humaneval_problems):
    samples = write_samples(tmp_path / "s.jsonl", humaneval_problems, tasks=TASKS[:2], per_task=2)
    out = tmp_path / "out"
    score_samples("humaneval", samples, k=(1,), workers=1, timeout=5.0, out_dir=out, tasks=TASKS[:2])
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    rows[1]["completion"] = rows[0]["completion"]  # sample 1 of task 0 now passes
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = score_samples("humaneval", samples, k=(1,), workers=1, timeout=5.0, out_dir=out, tasks=TASKS[:2])
    assert res["timing"]["executed"] == 1 and res["per_task"]["HumanEval/0"] == {"n": 2, "c": 2}


def test_samples_as_a_directory_of_programs_and_missing_tasks(tmp_path, humaneval_problems):
    root = tmp_path / "samples"
    for tid in TASKS[:3]:
        d = root / tid.replace("/", "_")
        d.mkdir(parents=True)
        (d / "0.py").write_text(humaneval_problems[tid].canonical_solution)
        (d / "1.py").write_text(humaneval_problems[tid].prompt + "    return None\n")
    res = score_samples("humaneval", root, k=(1,), workers=2, timeout=5.0, out_dir=tmp_path / "out")
    assert res["n_tasks"] == 164 and res["n_attempted"] == 3 and len(res["missing_tasks"]) == 161
    assert res["pass_at_k"]["pass@1"] == pytest.approx(0.5)


def test_mbpp_samples_with_numeric_task_ids(tmp_path, data_file):
    path = str(data_file("mbpp/mbpp.jsonl", exact=True))  # asserts the file's hash
    probs = load_problems("mbpp", path)[:3]
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": int(p.task_id.split("/")[1]), "solution": p.canonical_solution}) + "\n"
                               for p in probs))
    res = score_samples("mbpp", samples, problems_path=path, k=(1,), workers=1, timeout=5.0,
                        out_dir=tmp_path / "out", tasks=[p.task_id for p in probs])
    assert res["pass_at_k"]["pass@1"] == 1.0 and res["problems_file_hash"].startswith("0b7004a7")


@pytest.mark.parametrize("content,message", [
    ('{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": \n', r"s.jsonl:2: invalid JSON"),
    ('{"task_id": "HumanEval/0"}\n', r"s.jsonl:1: row has neither 'completion' nor 'solution'"),
    ('{"completion": "x"}\n', r"s.jsonl:1: row has no task_id"),
    ('{"task_id": "HumanEval/999", "completion": "x"}\n', r"s.jsonl:1: task_id 'HumanEval/999' is not a humaneval task"),
    ('{"task_id": "HumanEval/0", "completion": 5}\n', r"s.jsonl:1: 'solution'/'completion' must be a string"),
    ('[1, 2]\n', r"s.jsonl:1: expected a JSON object"),
    ('\n', r"contains no samples"),
])
def test_bad_samples_files_are_clear_errors(tmp_path, capsys, content, message):
    import re

    samples = tmp_path / "s.jsonl"
    samples.write_text(content)
    assert main(["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("codemix: error: ") and re.search(message, err[-1]), err


@pytest.mark.parametrize("args,message", [
    (["--samples", "/no/such/file.jsonl"], "does not exist"),
    (["--k", "1,x"], "expected comma-separated integers"),
    (["--k", "0"], "positive"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--timeout", "-1"], "--timeout must be positive"),
    (["--benchmark", "humanevil"], "unknown benchmark 'humanevil' (did you mean 'humaneval'?)"),
    (["--tasks", "HumanEval/9999"], "no such task"),
    (["--hash-seed", "abc"], "expected an integer or 'random'"),
    (["--hash-seed", "-1"], "PYTHONHASHSEED's range"),
    # The same check and words as `codemix eval --k` (an error in both, not a warning in one).
    (["--k", "1,10"], "k values [10] exceed the samples per task (1); pass@k needs k <= n"),
    (["--benchmark", "humaneval,mbpp"], "codemix score scores one benchmark per run"),
    (["--problems", "mbpp=x.jsonl"], "mbpp is not among the benchmarks scored (humaneval)"),
    (["--limit", "0"], "--limit must be at least 1"),
])
def test_cli_argument_errors(tmp_path, humaneval_problems, capsys, args, message):
    samples = write_samples(tmp_path / "s.jsonl", humaneval_problems, tasks=TASKS[:1], per_task=1)
    base = {"--benchmark": "humaneval", "--samples": str(samples), "--out": str(tmp_path / "o")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["score"] + [x for kv in base.items() for x in kv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_reference_times_are_measured_once_and_cached(humaneval_problems):
    import dataclasses

    from codemix.eval.sandbox.executor import Executor
    from codemix.eval.timelimits import time_limits

    quick = humaneval_problems["HumanEval/0"]
    slow = dataclasses.replace(quick, task_id="slow", canonical_solution="import time\ntime.sleep(0.8)\n" + quick.canonical_solution)
    with Executor(workers=1) as ex:
        limits, info = time_limits([quick, slow], ex)
    assert info["mode"] == "measured" and Path(info["cache"]).is_file()
    assert limits["HumanEval/0"] == 3.0  # max(3 s, 5 x ~1 ms)
    assert 4.0 <= limits["slow"] < 5.5  # 5 x ~0.8 s
    # the executor is closed now: a second call can only be answered from the cache
    assert time_limits([quick, slow], ex)[0] == limits
    assert time_limits([quick], ex, fixed=7.5) == ({"HumanEval/0": 7.5}, {"mode": "fixed", "seconds": 7.5})
