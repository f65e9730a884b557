"""The exact_match seam: a benchmark registered from a test is scored by string comparison
(accuracy with a CI, per group), written in the same results.json shape as executed ones, and
reachable from `codemix score` — without the sandbox."""

import json

import pytest

from codemix.eval.benchmarks import Benchmark, Problem, get_benchmark, problems_hash, register, unregister
from codemix.eval.generation.prompts import PromptSpec, stop_sequences
from codemix.eval.scoring import score_samples
from codemix.recipes.cli import main

NAME = "reverse-test"


def _problems(path=None):
    words = ["abc", "hello", "xy", "level", "codemix", "a"]
    return [Problem(task_id=f"{NAME}/{i}", benchmark=NAME, prompt=f"reverse {w} =", instruction=f"Reverse {w}.",
                    entry_point="", canonical_solution="", test_code="", reference=w[::-1], stop=("\n",),
                    groups=("palindrome",) if w == w[::-1] else ("plain",))
            for i, w in enumerate(words)]


@pytest.fixture
def bench():
    register(Benchmark(name=NAME, scorer="exact_match", load=_problems, description="test-only",
                       default_source="the test", path_is_file=False, prompt_styles=("completion",)))
    yield get_benchmark(NAME)
    unregister(NAME)


def _write(path, answers):
    with open(path, "w") as f:
        for i, a in enumerate(answers):
            f.write(json.dumps({"task_id": f"{NAME}/{i}", "completion": a}) + "\n")
    return path


def test_exact_match_accuracy_groups_and_shape(bench, tmp_path):
    # right, wrong, right (surrounding whitespace ignored), wrong, wrong, right
    samples = _write(tmp_path / "s.jsonl", ["cba", "hello", " yx\n", "lvl", "xxx", "a"])
    res = score_samples(NAME, samples, out_dir=tmp_path / "out", show_table=False)
    assert res["metric"] == "accuracy"
    assert res["accuracy"] == pytest.approx(3 / 6)
    lo, hi = res["accuracy_ci"]
    assert 0 <= lo <= 0.5 <= hi <= 1
    assert res["groups"]["palindrome"]["n_tasks"] == 2  # "level", "a"
    assert res["groups"]["palindrome"]["accuracy"] == pytest.approx(0.5)
    assert res["groups"]["plain"]["accuracy"] == pytest.approx(2 / 4)
    assert res["per_task"][f"{NAME}/2"] == {"n": 1, "c": 1}
    assert res["verdicts"] == {"passed": 3, "failed": 3}
    assert res["problems_hash"] == problems_hash(_problems())
    assert "pass_at_k" not in res and "isolation" not in res  # no sandbox was involved
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["accuracy"] == res["accuracy"]
    rows = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["verdict"] for r in rows] == ["passed", "failed", "passed", "failed", "failed", "passed"]


def test_perfect_and_empty_answers(bench, tmp_path):
    perfect = score_samples(NAME, _write(tmp_path / "p.jsonl", [p.reference for p in _problems()]),
                            out_dir=tmp_path / "p", show_table=False)
    assert perfect["accuracy"] == 1.0 and perfect["accuracy_ci"] == [1.0, 1.0]
    empty = score_samples(NAME, _write(tmp_path / "e.jsonl", [""] * 6), out_dir=tmp_path / "e", show_table=False)
    assert empty["accuracy"] == 0.0


def test_score_cli_dispatches_on_the_scorer_kind(bench, tmp_path, capsys):
    samples = _write(tmp_path / "s.jsonl", ["cba", "olleh", "yx", "level", "ximedoc", "b"])
    code = main(["score", "--benchmark", NAME, "--samples", str(samples), "--out", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "83.3" in out  # 5 of 6, printed as a percentage
    assert json.loads((tmp_path / "o" / "results.json").read_text())["accuracy"] == pytest.approx(5 / 6)


def test_problem_stop_sequences_drive_generation(bench):
    spec = PromptSpec("completion", None)
    assert stop_sequences(spec, None, _problems()[0])[0] == "\n"


def test_registering_a_different_benchmark_under_a_taken_name_is_refused(bench):
    with pytest.raises(ValueError, match="already registered"):
        register(Benchmark(name=NAME, scorer="execute", load=_problems, description="other"))
