"""Which paths the sandbox workers hide so that a sample cannot read the answer key.

A benchmark's problem file holds the tests and the reference solutions: a sample that opens it
can look up the expected values and pass, strict verdict mode included (the comparison happens
outside the sample, but against values the sample could have copied). The scorer therefore
hands the executor the problem sources of the benchmark it scores (`Executor(hide=...)`): the
workers mount an empty read-only tmpfs over each directory and an empty read-only file over each
file, once per worker in their private mount namespace (codemix.eval.sandbox.isolation), so a
sample pays nothing for it.

Two rules keep this from breaking the samples themselves:
- a hidden path never holds what the samples run with (the interpreter, the import path, the
  workers' /tmp): the executor refuses one that does (`check_hide`), and the scorer hides a
  problem file's directory only when nothing of the sort lives in it, else just the file
  (`file_or_its_directory`);
- the harness itself keeps reading the problems: only the workers' mount namespaces change.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from codemix.eval.sandbox.environment import HIDDEN_PROBLEM_FILES as LAYER  # noqa: F401 (re-exported: the layer's name, used by the worker and the executor)

# Where the Hugging Face libraries keep downloaded data sets and Hub files (MBPP and the EvalPlus
# sets read from the Hub land there). The defaults lie under the home directory, which the
# workers hide anyway; these variables may point anywhere.
HF_CACHE_VARIABLES = ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE")
# The workers' scratch file system (codemix.eval.sandbox.isolation.private_tmp): covering it would
# leave the samples no place to run.
WORKER_TMP = "/tmp"


def is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def hugging_face_caches(environ: Mapping[str, str] | None = None) -> list[str]:
    """The Hugging Face cache directories this environment names that exist (real paths)."""
    environ = os.environ if environ is None else environ
    dirs = [environ[v] for v in HF_CACHE_VARIABLES if environ.get(v)]
    if environ.get("XDG_CACHE_HOME"):
        dirs.append(os.path.join(environ["XDG_CACHE_HOME"], "huggingface"))
    dirs.append(os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    found = (os.path.realpath(os.path.expanduser(d)) for d in dirs)
    return [d for d in dict.fromkeys(found) if os.path.isdir(d)]


def needed_paths(python: str, import_path: Iterable[str]) -> list[str]:
    """What the samples run with, as real paths: the interpreter's directory and prefixes, the
    samples' import path and the workers' /tmp. None of it may be hidden."""
    # The directory named by `python` too (a virtual environment's bin/, where the interpreter
    # is a link): a sample starting sys.executable goes through it.
    paths = [os.path.dirname(os.path.realpath(python)), os.path.dirname(os.path.abspath(python)), WORKER_TMP,
             *import_path]
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        paths += [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths if p))


def check_hide(hide: Iterable[str | os.PathLike], needed: Iterable[str]) -> list[str]:
    """`hide` as existing real paths, without duplicates and without paths inside another one;
    ValueError for a path that holds (or is) something the samples need. A path that does not
    exist has nothing to read and is dropped."""
    needed = list(needed)
    real = []
    for path in hide:
        p = os.path.realpath(os.fspath(path))
        if not os.path.exists(p):
            continue
        held = next((n for n in needed if is_under(n, p)), None)
        if held is not None:
            raise ValueError(f"hide: {p} holds {held}, which the samples need; hide the files inside it instead")
        real.append(p)
    real = sorted(set(real))
    return [p for p in real if not any(o != p and is_under(p, o) for o in real)]


def file_or_its_directory(path: str | os.PathLike, keep_visible: Iterable[str]) -> str:
    """The directory of problem file `path` (its sibling files, a sanitized variant say, hold the
    same tests), unless that directory holds any of `keep_visible` (what the samples run with,
    the samples file, the output directory) or is the file system's root: then the file alone."""
    real = os.path.realpath(os.fspath(path))
    directory = os.path.dirname(real)
    if directory == "/" or any(is_under(os.path.realpath(k), directory) for k in keep_visible):
        return real
    return directory
