"""`codemix eval` bad input: each ends in one `codemix: error:` line that says what is wrong."""

import importlib.util

import pytest

from codemix.recipes.cli import main


@pytest.fixture(autouse=True)
def in_tmp_cwd(tmp_path, monkeypatch):
    """`codemix eval` writes to ./evals by default: run from a scratch directory, and check that a
    failed eval created nothing there (validation comes before any directory)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert not (cwd / "evals").exists(), "a failed codemix eval left evals/ behind"


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codemix: error: "), err
    return err[0]


def test_directory_without_manifest_or_model(tmp_path, capsys):
    line = _error(capsys, ["eval", str(tmp_path), "--benchmarks", "pyfuncs"])
    assert str(tmp_path) in line and "manifest.json" in line and "config.json" in line


def test_unknown_benchmark_lists_the_known_ones(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    line = _error(capsys, ["eval", str(tmp_path), "--benchmarks", "humaneval,humanevil"])
    assert "humanevil" in line and "humaneval" in line and "mbpp" in line and "pyfuncs" in line


def test_greedy_with_several_samples(tmp_path, capsys):
    line = _error(capsys, ["eval", str(tmp_path), "--temperature", "0", "--n", "5"])
    assert "n_samples must be 1" in line


def test_k_larger_than_n(tmp_path, capsys):
    line = _error(capsys, ["eval", str(tmp_path), "--temperature", "0.8", "--n", "5", "--k", "1,10"])
    assert "k values [10] exceed the samples per task (5); pass@k needs k <= n" in line


def test_bad_problems_flag(tmp_path, capsys):
    line = _error(capsys, ["eval", str(tmp_path), "--problems", "mbpp"])
    assert "BENCH=PATH" in line


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_missing_suggests_hf(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    line = _error(capsys, ["eval", str(tmp_path), "--backend", "vllm", "--benchmarks", "pyfuncs"])
    assert "vllm" in line and "backend: hf" in line


def test_a_model_that_does_not_load_leaves_nothing_behind(tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")  # passes the directory check, fails in transformers
    line = _error(capsys, ["eval", str(model), "--benchmarks", "pyfuncs", "--limit", "2"])
    assert line.startswith(f"codemix: error: could not load model {model}")
    # (the fixture checks that no evals/ directory, with or without inputs.json, is left)


def test_eval_output_is_one_line_per_event(tmp_path, capsys):
    """A real (tiny, random) model end to end: no placeholder paths, the isolation line once, the
    trained/base naming and percentages of the tables, and nothing but "up to date" on a re-run."""
    from codemix.eval.scoring import execute
    from helpers.generation import save_tiny_byte_llama

    save_tiny_byte_llama(tmp_path / "tiny", max_positions=2048)
    execute._announced.clear()
    argv = ["eval", str(tmp_path / "tiny"), "--benchmark", "pyfuncs,humaneval", "--limit", "2",
            "--max-new-tokens", "4", "--workers", "1", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "<benchmark>" not in out + err and "{'loss'" not in out + err
    assert err.count("[score] isolation:") == 1 and "isolation" not in out
    assert "[eval] pyfuncs: scoring" in out and "[eval] humaneval: scoring" in out
    # One table, models as rows (a plain model directory is an untrained `base`), percentages.
    assert "humaneval pass@1 % (n=2 of 164, --limit)" in out and "\nbase   0.0 [0.0, 0.0]" in out
    assert f"results: {tmp_path / 'out'}" in out and "/pyfuncs/results.json" in out and "/humaneval/results.json" in out
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "scoring" not in out and out.count("up to date") == 2 and "isolation" not in err
    import shutil

    shutil.rmtree("evals", ignore_errors=True)  # (the fixture checks that a *failed* eval leaves nothing)
