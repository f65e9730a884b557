"""The `markov` exact-match benchmark: problems regenerated from a mixture's manifest (held-out
rules disjoint from the training rows), scoring of hand-built outputs, and the copy-the-input
model, which must score exactly the no-op share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codemix.core.errors import CodemixError
from codemix.eval.benchmarks import get_benchmark, load_problems
from codemix.eval.scoring import score_samples
from codemix.mixing.config import MixConfig
from codemix.mixing.pipeline import build_mixture, load_mixture


@pytest.fixture(scope="module")
def mixture(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("markov") / "mix"
    mix = MixConfig.model_validate({
        "sources": [{"name": "m", "path": "builtin:markov", "domain": "general", "count": 2000,
                     "markov": {"rules": 64, "heldout_rules": 100, "test_examples": 400}}],
        "decontaminate": {"enabled": False}, "dedup": "none"})
    recipe = {"mix": mix.model_dump(mode="json")}
    build_mixture(mix, seed=5, out_dir=out, recipe=recipe, recipe_hash="t")
    return out


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_problems_come_from_the_mixture_and_hold_out_its_rules(mixture: Path) -> None:
    assert get_benchmark("markov").scorer == "exact_match"
    problems = load_problems("markov", str(mixture))
    assert len(problems) == 400
    assert load_problems("markov", str(mixture.parent)) == problems  # the run directory works too
    unseen = [p for p in problems if "unseen" in p.groups]
    seen = [p for p in problems if "seen" in p.groups]
    assert len(unseen) == len(seen) == 200
    assert all(("noop" in p.groups) != ("applied" in p.groups) for p in problems)
    trained = {(r["meta"]["x"], r["meta"]["y"]) for r in load_mixture(mixture)}
    rule = lambda p: tuple(p.prompt[:-1].split("|")[0].split(">"))  # noqa: E731
    assert not {rule(p) for p in unseen} & trained
    assert {rule(p) for p in seen} <= trained
    for p in problems:  # the reference is the leftmost single rewrite
        (x, y), z = rule(p), p.prompt[:-1].split("|")[1]
        assert p.reference == z.replace(x, y, 1) and p.instruction == p.prompt


def test_exact_match_on_hand_built_outputs(mixture: Path, tmp_path: Path) -> None:
    problems = load_problems("markov", str(mixture))[:10]
    answers = [p.reference for p in problems]
    answers[1] = answers[1] + "a"                       # one letter too many
    answers[2] = answers[2][:-1]                        # one too few
    answers[3] = " " + answers[3] + "\n"                # surrounding whitespace is ignored
    samples = _write(tmp_path / "s.jsonl", [{"task_id": p.task_id, "completion": a} for p, a in zip(problems, answers, strict=True)])
    res = score_samples("markov", samples, problems_path=str(mixture), out_dir=tmp_path / "out",
                        tasks=[p.task_id for p in problems])
    assert res["metric"] == "accuracy" and res["n_tasks"] == 10
    assert res["accuracy"] == pytest.approx(0.8)
    assert res["per_task"][problems[1].task_id] == {"n": 1, "c": 0}
    assert res["per_task"][problems[3].task_id] == {"n": 1, "c": 1}
    lo, hi = res["accuracy_ci"]
    assert 0 <= lo <= 0.8 <= hi <= 1


def test_copying_the_input_scores_exactly_the_noop_share(mixture: Path, tmp_path: Path) -> None:
    problems = load_problems("markov", str(mixture))
    copy = [{"task_id": p.task_id, "completion": p.prompt[:-1].split("|")[1]} for p in problems]
    res = score_samples("markov", _write(tmp_path / "copy.jsonl", copy), problems_path=str(mixture),
                        out_dir=tmp_path / "out")
    noop_share = sum("noop" in p.groups for p in problems) / len(problems)
    assert 0.1 < noop_share < 0.3
    assert res["accuracy"] == pytest.approx(noop_share)
    assert res["groups"]["noop"]["accuracy"] == 1.0 and res["groups"]["applied"]["accuracy"] == 0.0
    for split in ("seen", "unseen"):
        ps = [p for p in problems if split in p.groups]
        assert res["groups"][split]["accuracy"] == pytest.approx(sum("noop" in p.groups for p in ps) / len(ps))


def test_problems_file_round_trip_and_errors(mixture: Path, tmp_path: Path) -> None:
    import dataclasses

    problems = load_problems("markov", str(mixture))
    path = _write(tmp_path / "problems.jsonl", [dataclasses.asdict(p) for p in problems])  # as the eval stage writes
    assert load_problems("markov", str(path)) == problems
    with pytest.raises(CodemixError, match="mixture directory"):
        load_problems("markov")
    with pytest.raises(CodemixError, match="reference"):
        load_problems("markov", str(_write(tmp_path / "bad.jsonl", [{"task_id": "a", "prompt": "a>b|c="}])))
    with pytest.raises(CodemixError, match="not a built mixture"):
        load_problems("markov", str(tmp_path))
