"""The distribution holds the whole package: setup.py discovers every sub-package, the sdist
carries every module and bundled file, the wheel built from that sdist has them all under one
top-level package, `codemix/`, and the installed package resolves every module to its source.

Building the sdist and then the wheel from it (what pip and `python -m build` do) takes ~2 s of
CPU on 2 cores; it runs on a copy of the sources in a tmp dir so the repository's build/ folder
(which holds a strict editable install's link tree) is never touched."""

import importlib.util
import runpy
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parents[1]
# Installed name -> source folder; the package root `codemix/` holds `core/` and `api/` itself.
LAYERS = {"codemix": ROOT / "codemix", "codemix.mixing": ROOT / "mixing", "codemix.finetune": ROOT / "finetune",
          "codemix.eval": ROOT / "eval", "codemix.recipes": ROOT / "recipes"}
SOURCES = ["setup.py", "pyproject.toml", "README.md", "codemix", "mixing", "finetune", "eval", "recipes"]


def _source_files() -> dict[str, Path]:
    """{path inside the wheel: source file} for every file the distribution must ship: every
    module, and every file of the package folders that is not Python (bundled recipes, configs,
    reference CSVs, py.typed). Layers below `codemix/` are listed through their own folder."""
    out = {}
    for name, folder in LAYERS.items():
        for p in folder.rglob("*"):
            if not p.is_file() or "__pycache__" in p.parts or p.suffix == ".pyc":
                continue
            rel = p.relative_to(folder)
            if name == "codemix" and rel.parts[0] in ("mixing", "finetune", "eval", "recipes"):
                continue  # a build leftover; the layers come from their own folders
            out["/".join([*name.split("."), *rel.parts])] = p
    return out


def _package_dirs() -> dict[str, Path]:
    """{installed package name: folder} for every folder that holds an __init__.py."""
    out = {}
    for name, folder in LAYERS.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            out[".".join([name, *rel.parts])] = init.parent
    return out


def test_setup_discovers_every_package_directory(monkeypatch):
    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    monkeypatch.chdir(ROOT)  # setup.py discovers relative to where the build runs: the project root
    runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    assert sorted(captured["packages"]) == sorted(_package_dirs())
    assert {name: ROOT / folder for name, folder in captured["package_dir"].items()} == LAYERS


def test_every_folder_with_modules_is_a_package():
    # A folder of modules without __init__.py is importable from the source tree (a namespace
    # package) but find_packages skips it: the wheel would silently lack it.
    loose = sorted(str(d.relative_to(ROOT)) for folder in LAYERS.values() for d in [folder, *folder.rglob("*")]
                   if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
                   and not (d / "__init__.py").is_file())
    assert not loose, f"add an __init__.py to: {loose}"


def test_installed_package_resolves_every_module_to_its_source():
    """What pytest and the commands import is this checkout's code, and nothing is missing: a
    strict editable install (`--config-settings editable_mode=strict`) links the files that
    existed when it was made, so a module added since is missing until it is re-run."""
    missing, elsewhere = [], []
    for installed, source in _source_files().items():
        if not installed.endswith(".py"):
            continue
        module = installed.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            missing.append(module)
        elif Path(spec.origin).resolve() != source.resolve():
            elsewhere.append(f"{module} -> {spec.origin}")
    assert not missing, (f"not importable: {missing[:5]}; re-run the install "
                         "(pip install -e '.[dev]' --config-settings editable_mode=strict)")
    assert not elsewhere, f"imported from another copy, not this checkout: {elsewhere[:5]}"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist, wheel built from that sdist) of a copy of the sources."""
    root = tmp_path_factory.mktemp("dist")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    code = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    proc = subprocess.run([sys.executable, "-c", code, str(root / "sdist")], cwd=src, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sdist = root / "sdist" / proc.stdout.strip().splitlines()[-1]
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "-w", str(root / "wheel"), str(sdist)], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (root / "wheel").glob("codemix-*.whl")
    return sdist, wheel


def test_wheel_holds_every_module_and_bundled_file(built):
    _, wheel = built
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(set(_source_files()) - names)
    assert not missing, f"missing from the wheel: {missing[:10]}"
    for expected in ("codemix/py.typed", "codemix/recipes/data/smoke.yaml", "codemix/recipes/data/accelerate/ddp.yaml",
                     "codemix/recipes/data/references/paper-code-mix.csv", "codemix/api/__init__.py"):
        assert expected in names


def test_wheel_has_one_top_level_package(built):
    _, wheel = built
    z = zipfile.ZipFile(wheel)
    tops = {n.split("/")[0] for n in z.namelist()}
    (dist_info,) = [t for t in tops if t.endswith(".dist-info")]
    assert tops == {"codemix", dist_info}
    # RECORD is what `pip show -f codemix` lists and `pip uninstall` removes.
    record = z.read(f"{dist_info}/RECORD").decode().splitlines()
    assert {line.split("/")[0] for line in record if line} == {"codemix", dist_info}
    assert z.read(f"{dist_info}/top_level.txt").decode().split() == ["codemix"]
    entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    assert "codemix = codemix.recipes.cli:main" in entry_points


def test_sdist_holds_every_module_and_bundled_file(built):
    sdist, _ = built
    with tarfile.open(sdist) as tar:
        names = {"/".join(n.split("/")[1:]) for n in tar.getnames()}
    expected = {str(p.relative_to(ROOT)) for p in _source_files().values()}
    missing = sorted(expected - names)
    assert not missing, f"missing from the sdist: {missing[:10]}"
    assert {"setup.py", "pyproject.toml", "README.md"} <= names
