"""A user's own `eval/`, `finetune/`, `mixing/` and `recipes/` packages in the working directory
shadow nothing: every command imports only `codemix.*`. `python -m` and `python -c` put the
working directory first on sys.path, the way a user's project folder would be, so each decoy
package records that it was imported and refuses to be used."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codemix.recipes.cli import COMMANDS

DECOYS = ("eval", "finetune", "mixing", "recipes", "core", "api")


@pytest.fixture
def project(tmp_path):
    """A working directory holding decoy packages; returns (dir, run) where run(argv) runs
    `python ARGV` there and returns the completed process."""
    for name in DECOYS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            "import pathlib\n"
            f"pathlib.Path(__file__).parent.with_name('{name}.imported').write_text('')\n"
            f"raise ImportError('the decoy package {name}/ was imported instead of codemix.{name}')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)

    yield tmp_path, run
    imported = sorted(p.name for p in tmp_path.glob("*.imported"))
    assert not imported, f"decoys imported: {imported}"


def test_help_of_every_command(project):
    _, run = project
    proc = run([sys.executable, "-m", "codemix", "--help"])
    assert proc.returncode == 0 and "COMMAND" in proc.stdout, proc.stderr
    # Each subcommand's --help in one interpreter (-c: the working directory is first on sys.path).
    code = ("import sys\nfrom codemix.recipes.cli import main\n"
            f"for command in {sorted(COMMANDS)!r}:\n"
            "    try:\n        main([command, '--help'])\n"
            "    except SystemExit as e:\n        assert e.code == 0, (command, e.code)\n")
    proc = run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("usage: codemix ") == len(COMMANDS)
    proc = run([sys.executable, "-m", "codemix.finetune", "--help"])
    assert proc.returncode == 0 and "usage: codemix train" in proc.stdout, proc.stderr[-2000:]


def test_validate_every_bundled_recipe(project):
    _, run = project
    proc = run([sys.executable, "-m", "codemix", "validate"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("ok  ") >= 5 and "smoke.yaml" in proc.stdout
    script = shutil.which("codemix", path=str(Path(sys.executable).parent))
    if script is not None:  # the console script, as installed
        proc = run([script, "validate", "smoke"])
        assert proc.returncode == 0 and "ok  " in proc.stdout, proc.stderr[-2000:]


def test_score_and_the_python_api(project, humaneval_problems):
    root, run = project
    problem = humaneval_problems["HumanEval/0"]
    (root / "samples.jsonl").write_text(json.dumps({"task_id": "HumanEval/0", "completion": problem.canonical_solution}))
    proc = run([sys.executable, "-m", "codemix", "score", "--benchmark", "humaneval", "--samples", "samples.jsonl",
                "--tasks", "HumanEval/0", "--workers", "1"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((root / "samples.score" / "results.json").read_text())["pass_at_k"]["pass@1"] == 1.0
    proc = run([sys.executable, "-c", "import codemix; print(codemix.load_recipe('smoke').name)"])
    assert proc.returncode == 0 and proc.stdout.strip() == "smoke", proc.stderr[-2000:]
