"""A griffe extension that gives the API reference the installed package's names.

setup.py installs the top-level folders `mixing/`, `finetune/`, `eval/` and `recipes/` as
`codemix.mixing`, ... (`package_dir`), but griffe reads source trees statically and finds only
`codemix/core` under `codemix/`. When `codemix` is loaded, this loads each of those folders and
hangs it under `codemix` with its installed name, so `::: codemix.mixing.pipeline` resolves from a
fresh clone without importing anything (no torch at docs-build time). The folder list is read
from setup.py's `LAYERS`, so a new layer cannot be missing here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import griffe


def layers_from_setup(setup_py: Path) -> tuple[str, ...]:
    """The `LAYERS = (...)` tuple of setup.py, read without running setup.py."""
    for node in ast.parse(setup_py.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "LAYERS" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError(f"{setup_py}: no LAYERS tuple (the package-dir mapping this extension mirrors)")


class PackageDirMap(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        if pkg.name != "codemix" or pkg.filepath is None:
            return
        repo = Path(str(pkg.filepath)).resolve().parent.parent
        for layer in layers_from_setup(repo / "setup.py"):
            module = loader.load(str(repo / layer), try_relative_path=True, find_stubs_package=False)
            # Loaded as the top-level package `layer`; re-parented, every object under it gets
            # its installed path (codemix.mixing.pipeline.build_mixture, ...).
            loader.modules_collection.del_member(layer)
            pkg.set_member(layer, module)
