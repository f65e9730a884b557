"""The package layering the design card promises: mixing <- finetune <- eval <- recipes, no
cycles, and heavy libraries imported lazily (inside functions) in the CLI's import path."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["mixing", "finetune", "eval", "recipes"]  # each may import only packages to its left
HEAVY = {"torch", "transformers", "datasets", "peft", "trl", "accelerate", "pyarrow", "matplotlib"}


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", LAYERS)
def test_packages_import_only_lower_layers(package):
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    forbidden = set(LAYERS) - allowed
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & forbidden)
        for p in (ROOT / package).rglob("*.py")
        if _imports(p) & forbidden
    }
    assert not offenders, f"{package} imports higher layers: {offenders}"


def test_cli_modules_import_heavy_libraries_lazily():
    cli_modules = [ROOT / "recipes" / "cli.py", *sorted((ROOT / "recipes").glob("cmd_*.py")),
                   ROOT / "recipes" / "loader.py", ROOT / "mixing" / "errors.py", ROOT / "mixing" / "artifacts.py", ROOT / "mixing" / "progress.py", ROOT / "mixing" / "jsonl.py"]
    offenders = {p.name: sorted(_imports(p, top_level_only=True) & HEAVY) for p in cli_modules
                 if _imports(p, top_level_only=True) & HEAVY}
    assert not offenders, f"heavy imports at module level in the CLI path: {offenders}"


def test_modules_stay_readable_sized():
    # The style guide asks for modules of about 100-400 lines; 600 is the hard ceiling here.
    too_long = {str(p.relative_to(ROOT)): n for p in ROOT.glob("*/*.py")
                if p.parts[-2] in LAYERS and (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not too_long, f"split these modules: {too_long}"
