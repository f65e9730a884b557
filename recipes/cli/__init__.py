"""`codemix`: one console script, one subcommand per stage. Each subcommand lives in its own
module (`recipes/cli/<name>.py`) with `register(parser)` and `run(args) -> int`, a thin layer
over the Python API (`codemix.api`); this file only builds the parser and enforces the error contract:

    a user error (CodemixError) -> one line `codemix: error: ...` on stderr, exit status 2;
    `--debug` shows the traceback instead.

Nothing heavy is imported here, so `codemix --help` answers in well under a second.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from codemix import __version__

COMMANDS = {
    "mix": "Build the training mixture of a recipe.",
    "train": "Fine-tune a model on a recipe's mixture (builds the mixture first if needed).",
    "score": "Execute code samples against a benchmark's tests and report pass@k.",
    "eval": "Generate completions with a checkpoint or model and score them.",
    "run": "Run every stage a recipe declares (mix -> train -> eval), skipping up-to-date ones.",
    "sweep": "Run every cell of a recipe's sweep: grid (locally or on Slurm), skipping finished cells.",
    "validate": "Validate recipe files (or list the bundled ones).",
    "compare": "Paired comparison of two results.json of one benchmark (bootstrap CI, McNemar).",
    "report": "Tables, paired statistics and plots over sweep or run directories.",
    "diversity": "Measure how diverse a mixture, recipe's mixture or data file is (table, diversity.json, 2-D map).",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors follow the same contract
        self.print_usage(sys.stderr)
        print(f"codemix: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """The arguments every recipe-driven command takes."""
    p.add_argument("recipe", help="recipe file, or the name of a bundled recipe (e.g. smoke)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value with a dotted key, e.g. --set mix.budget=2000 (repeatable)")


def _wait_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def add_guard_args(p: argparse.ArgumentParser) -> None:
    """--wait / --keep: what a stage does when its directory is busy or holds other inputs' outputs."""
    p.add_argument("--wait", nargs="?", type=_wait_seconds, const=True, default=False, metavar="SECONDS",
                   help="if another process is working in an output directory, wait for it (for at most "
                        "SECONDS if given) instead of stopping at once")
    p.add_argument("--keep", action="store_true",
                   help="refuse to replace outputs built from other inputs (default: replace them, saying what changed)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="codemix", description="Instruction tuning for code generation: mix, train, evaluate.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"codemix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        module = _command_module(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks for errors")
        module.register(p)
        p.set_defaults(_module=module)
    return parser


def _command_module(name: str):
    try:
        return importlib.import_module(f"codemix.recipes.cli.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"codemix.recipes.cli.{name}":
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    from codemix.core.errors import CodemixError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except CodemixError as e:
        if args.debug:
            raise
        print(f"codemix: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        message = os_error_message(e)
        if message is None or args.debug:
            raise
        print(f"codemix: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("codemix: interrupted (finished work is kept; re-run to resume)", file=sys.stderr)
        return 130


# OS errors that are the environment's or the user's to fix, not bugs: full disk or quota, a file
# over the size limit, a read-only or forbidden location. Anything else keeps its traceback.
_ENVIRONMENT_ERRNOS = {"ENOSPC": "free some space or write elsewhere", "EDQUOT": "the disk quota is used up",
                       "EFBIG": "the file size limit (ulimit -f) or the filesystem's maximum was reached",
                       "EROFS": "the filesystem is read-only; choose another output directory",
                       "EACCES": "check the permissions or choose another output directory",
                       "EPERM": "check the permissions (or immutable attributes) or choose another output directory"}


def os_error_message(e: OSError) -> str | None:
    """One line naming the path and the cause, for the errnos above; None for the others."""
    import errno
    import os

    name = errno.errorcode.get(e.errno or -1)
    if name not in _ENVIRONMENT_ERRNOS:
        return None
    path = e.filename if e.filename is not None else "(path unknown)"
    target = f" -> {e.filename2}" if e.filename2 is not None else ""
    return f"{path}{target}: {e.strerror or os.strerror(e.errno)} ({_ENVIRONMENT_ERRNOS[name]})"


if __name__ == "__main__":
    sys.exit(main())
