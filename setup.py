"""Package discovery for the one import package `codemix` (all metadata is in pyproject.toml).

The repository keeps the project's layout (`mixing/`, `finetune/`, `eval/`, `recipes/` at the top
level) while the installed distribution has a single top-level package: each folder is mapped
under `codemix` (`codemix.mixing`, ...) and every sub-package below it is found by discovery, so
a new sub-package cannot be left out of the wheel (tests/test_packaging.py builds one and checks).
"""

from setuptools import find_packages, setup

LAYERS = ("mixing", "finetune", "eval", "recipes")

packages = ["codemix", *(f"codemix.{p}" for p in find_packages("codemix"))]
for layer in LAYERS:
    packages += [f"codemix.{p}" for p in find_packages(".", include=[layer, f"{layer}.*"])]

setup(
    packages=packages,
    package_dir={"codemix": "codemix", **{f"codemix.{layer}": layer for layer in LAYERS}},
)
