"""codemix: instruction tuning for code generation — mix code and general-domain data at exact
ratios, fine-tune, score on HumanEval/MBPP in a sandbox, and compare mixtures with paired
statistics.

One import package over the project's folders: `codemix.mixing`, `codemix.finetune`,
`codemix.eval`, `codemix.recipes`, and `codemix.core` (infrastructure every layer uses).
Nothing heavy is imported here: the sandbox workers and `codemix --help` import this package.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("codemix")
except _PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"
