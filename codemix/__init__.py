"""codemix: instruction tuning for code generation — mix code and general-domain data at exact
ratios, fine-tune, score on HumanEval/MBPP in a sandbox, and compare mixtures with paired
statistics.

The Python API mirrors the `codemix` commands (see `codemix.api`)::

    import codemix

    result = codemix.run("smoke", overrides=["train.max_steps=20"])
    print(result.trained["humaneval"]["pass_at_k"])

One import package over the project's folders: `codemix.mixing`, `codemix.finetune`,
`codemix.eval`, `codemix.recipes`, and `codemix.core` (infrastructure every layer uses).
`import codemix` stays cheap (no torch, transformers, datasets or pydantic): the API's names are
imported on first use.
"""

from __future__ import annotations

import os as _os
from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

from codemix.core.errors import CodemixError

try:
    __version__ = _version("codemix")
except _PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# A source checkout keeps the layers beside this folder (mixing/, finetune/, eval/, recipes/);
# installed, they are inside it. From a checkout (`python -m codemix` in the repository root, whose
# own codemix/ comes first on sys.path) the layers are found through the checkout's root.
_here = _os.path.dirname(__file__)
_root = _os.path.dirname(_here)
if not _os.path.isdir(_os.path.join(_here, "mixing")) and _os.path.isfile(_os.path.join(_root, "setup.py")) \
        and _os.path.isfile(_os.path.join(_root, "mixing", "__init__.py")):
    __path__.append(_root)

_API = {
    "load_recipe": "codemix.api.stages", "validate": "codemix.api.stages", "mix": "codemix.api.stages",
    "train": "codemix.api.stages", "evaluate": "codemix.api.stages", "score": "codemix.api.stages",
    "run": "codemix.api.stages", "sweep": "codemix.api.studies", "report": "codemix.api.studies",
    "compare": "codemix.api.studies", "diversity": "codemix.api.studies", "Recipe": "codemix.recipes.schema",
}
_RESULTS = ("Comparison", "DiversityResult", "EvalResult", "MixResult", "ReportResult", "RunResult",
            "ScoreResult", "SweepResult", "TrainResult", "ValidationResult")
_API.update(dict.fromkeys(_RESULTS, "codemix.api.results"))

__all__ = ["CodemixError", "__version__", *_API]

if TYPE_CHECKING:  # the names `__getattr__` provides, for type checkers and IDEs ("X as X": re-exported)
    from codemix.api.results import Comparison as Comparison
    from codemix.api.results import DiversityResult as DiversityResult
    from codemix.api.results import EvalResult as EvalResult
    from codemix.api.results import MixResult as MixResult
    from codemix.api.results import ReportResult as ReportResult
    from codemix.api.results import RunResult as RunResult
    from codemix.api.results import ScoreResult as ScoreResult
    from codemix.api.results import SweepResult as SweepResult
    from codemix.api.results import TrainResult as TrainResult
    from codemix.api.results import ValidationResult as ValidationResult
    from codemix.api.stages import evaluate as evaluate
    from codemix.api.stages import load_recipe as load_recipe
    from codemix.api.stages import mix as mix
    from codemix.api.stages import run as run
    from codemix.api.stages import score as score
    from codemix.api.stages import train as train
    from codemix.api.stages import validate as validate
    from codemix.api.studies import compare as compare
    from codemix.api.studies import diversity as diversity
    from codemix.api.studies import report as report
    from codemix.api.studies import sweep as sweep
    from codemix.recipes.schema import Recipe as Recipe


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(_import_module(_API[name]), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module 'codemix' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
