"""The CLI contract: fast help, one-line user errors with exit status 2, tracebacks on --debug."""

import subprocess
import sys

import pytest

from codemix.core.errors import CodemixError
from codemix.recipes.cli import main


def test_help_imports_nothing_heavy():
    # `codemix --help` must stay fast: no torch / transformers / datasets at start-up.
    code = (
        "import sys; from codemix.recipes.cli import build_parser; build_parser().format_help();"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'peft', 'trl', 'pyarrow') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by --help: {out.stdout}"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for command in ("mix", "train", "score", "eval", "run", "validate"):
        assert command in out


def test_user_error_is_one_line_with_status_2(capsys):
    assert main(["validate", "no-such-recipe"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codemix: error: ")
    assert "no-such-recipe" in err[0]


def test_debug_shows_the_exception(capsys):
    with pytest.raises(CodemixError):
        main(["--debug", "validate", "no-such-recipe"])


def test_argparse_errors_follow_the_contract(capsys):
    with pytest.raises(SystemExit) as e:
        main(["validate", "--no-such-flag"])
    assert e.value.code == 2
    assert "codemix: error:" in capsys.readouterr().err


def test_unknown_recipe_key_suggests_the_closest(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nseed: 1\nmix:\n  budgit: 10\n  sources: [{name: a, path: builtin:pyfuncs, domain: code}]\n")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert str(recipe) in err and "mix.budgit" in err and "did you mean 'budget'" in err
