"""A sample cannot copy its answers from the benchmark's problem file: the scorer hides the
problem sources in the sandbox workers (codemix.eval.scoring.execute.problem_sources,
codemix.eval.sandbox.hidden_paths), so a program that looks up the reference solution fails,
strict verdict mode included. Each cheat is first run with an executor that hides nothing and
must pass there: that is the hole, and proof that the cheat itself works."""

import json

import pytest

from codemix.eval.sandbox.hidden_paths import LAYER
from codemix.mixing.benchmark_records import humaneval_package_file

# A whole HumanEval/0 solution that runs the reference solution from the package's data file.
HUMANEVAL_CHEAT = (
    "import gzip, json\n"
    "def has_close_elements(numbers, threshold):\n"
    "    with gzip.open({path!r}, 'rt') as f:\n"
    "        for line in f:\n"
    "            r = json.loads(line)\n"
    "            if r['task_id'] == 'HumanEval/0':\n"
    "                space = {{}}\n"
    "                exec(r['prompt'] + r['canonical_solution'], space)\n"
    "                return space['has_close_elements'](numbers, threshold)\n")
# A whole Mbpp/11 solution that defines the reference code found in the problems file.
MBPP_CHEAT = (
    "import json\n"
    "with open({path!r}) as f:\n"
    "    for line in f:\n"
    "        r = json.loads(line)\n"
    "        if r['task_id'] == 11:\n"
    "            exec(r['code'], globals())\n")


@pytest.fixture(scope="module")
def guard():
    """The cheats are hostile programs: they run only inside a cgroup guard."""
    from helpers.sandbox_guard import guard_or_skip

    yield from guard_or_skip("codemix-test-answer-key")


def _score(tmp_path, guard, benchmark, problems_path, task_id, solution, *, hide: bool, verdicts: str) -> dict:
    from codemix.eval.sandbox.executor import Executor
    from codemix.eval.scoring import score_samples
    from codemix.eval.scoring.execute import problem_sources

    run = tmp_path / f"{verdicts}-{'hidden' if hide else 'open'}"
    run.mkdir()
    samples = run / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": task_id, "solution": solution}) + "\n")
    paths = problem_sources(benchmark, problems_path, samples_path=samples, out_dir=run / "out") if hide else []
    with Executor(workers=1, retry_timeouts=False, join_cgroups=guard.dirs, hide=paths) as ex:
        return score_samples(benchmark, samples, problems_path=problems_path, out_dir=run / "out", executor=ex,
                             tasks=[task_id], show_table=False, verdicts=verdicts)


@pytest.mark.usefixtures("private_cache")
@pytest.mark.parametrize("verdicts", ["strict", "in-process"])
def test_the_humaneval_reference_cannot_be_copied(tmp_path, guard, verdicts):
    cheat = HUMANEVAL_CHEAT.format(path=str(humaneval_package_file()))
    open_run = _score(tmp_path, guard, "humaneval", None, "HumanEval/0", cheat, hide=False, verdicts=verdicts)
    assert open_run["verdicts"]["passed"] == 1  # the hole: the reference is one open() away
    assert LAYER not in open_run["isolation"]
    assert open_run["isolation_detail"][LAYER].startswith("not in force: the executor passed in leaves")
    hidden_run = _score(tmp_path, guard, "humaneval", None, "HumanEval/0", cheat, hide=True, verdicts=verdicts)
    assert hidden_run["verdicts"]["failed"] == 1, hidden_run["per_task"]
    assert LAYER in hidden_run["isolation"] and hidden_run["isolation_detail"][LAYER] == "used"
    if verdicts == "strict":
        assert hidden_run["strict"]["strict_tasks"] == 1  # judged outside the sample's process


@pytest.mark.usefixtures("private_cache")
def test_an_mbpp_problems_file_given_by_path_cannot_be_copied(tmp_path, guard, data_file):
    mbpp = data_file("mbpp/mbpp.jsonl")
    cheat = MBPP_CHEAT.format(path=str(mbpp))
    open_run = _score(tmp_path, guard, "mbpp", str(mbpp), "Mbpp/11", cheat, hide=False, verdicts="strict")
    assert open_run["verdicts"]["passed"] == 1
    hidden_run = _score(tmp_path, guard, "mbpp", str(mbpp), "Mbpp/11", cheat, hide=True, verdicts="strict")
    assert hidden_run["verdicts"]["failed"] == 1, hidden_run["per_task"]
    assert hidden_run["strict"]["strict_tasks"] == 1 and hidden_run["isolation_detail"][LAYER] == "used"
    # The harness still reads the file: only the workers' view changed.
    assert mbpp.stat().st_size > 0 and mbpp.read_text().startswith("{")


@pytest.mark.usefixtures("private_cache")
def test_the_scorer_hides_the_problem_sources_of_what_it_scores(tmp_path, humaneval_problems):
    """Its own executor (no executor passed in): honest samples pass and the layer is recorded."""
    from codemix.eval.scoring import score_samples

    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "solution": humaneval_problems[t].canonical_solution}) + "\n"
                               for t in ("HumanEval/0", "HumanEval/2")))
    results = score_samples("humaneval", samples, out_dir=tmp_path / "out", workers=1, show_table=False,
                            tasks=["HumanEval/0", "HumanEval/2"], verdicts="strict")
    assert results["verdicts"]["passed"] == 2
    assert LAYER in results["isolation"] and results["isolation_detail"][LAYER] == "used"


def test_problem_sources_hide_the_data_directory_or_just_the_file(tmp_path, monkeypatch):
    from codemix.eval.scoring.execute import problem_sources

    for variable in ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
                     "TRANSFORMERS_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    package_data = str(humaneval_package_file().parent)
    assert problem_sources("humaneval", None, samples_path=tmp_path / "s.jsonl", out_dir=tmp_path / "o") == [package_data]
    # A problems file in a directory of its own: the directory (a sanitized sibling goes too).
    data = tmp_path / "data"
    data.mkdir()
    (data / "mbpp.jsonl").write_text("{}\n")
    hf = tmp_path / "hf"
    hf.mkdir()
    monkeypatch.setenv("HF_HOME", str(hf))
    got = problem_sources("mbpp", str(data / "mbpp.jsonl"), samples_path=tmp_path / "s.jsonl", out_dir=tmp_path / "o")
    assert got == [str(data), str(hf)]
    # Beside the samples: the file alone.
    got = problem_sources("mbpp", str(data / "mbpp.jsonl"), samples_path=data / "s.jsonl", out_dir=tmp_path / "o")
    assert got == [str(data / "mbpp.jsonl"), str(hf)]
    # MBPP from the Hub (no file given): only the caches.
    assert problem_sources("mbpp", None, samples_path=tmp_path / "s.jsonl", out_dir=tmp_path / "o") == [str(hf)]
