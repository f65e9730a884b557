"""Reading code samples to score.

Accepted forms:
- a JSONL file of rows `{"task_id", "completion"}` (appended to the problem's prompt,
  human-eval style) or `{"task_id", "solution"}` (a whole program, EvalPlus style; wins when a
  row has both), any number of rows per task, optionally with `sample_index` and `note` (why a
  codemix sample holds no program: prompt_too_long, no_code);
- bigcode-evaluation-harness `generations.json`: a JSON list (one entry per problem, in the
  benchmark's problem order, possibly only the first N) of lists of whole programs;
- a directory of `TASK/N.py` files (EvalPlus layout: TASK is the task id with "/" replaced by
  "_", or nested directories spelling the task id), each file a whole program.
Every problem in the input names its file and line (or path).

A samples file can come from anywhere and the scorer may run as root, so what is read is bounded:
- only regular files are read. A FIFO or a device (/dev/zero) given as the samples file or
  found in a samples directory is an error: one blocks forever, the other fills memory.
- a samples directory holds no symbolic links: a link is refused, never followed, so a sample
  cannot make the scorer read a file outside the directory (/etc/shadow) and quote it in
  results.jsonl. Files are opened relative to their directory's descriptor with O_NOFOLLOW, so a
  link swapped in after the listing is refused too.
- one sample holds at most MAX_SAMPLE_BYTES of program text, one JSONL line MAX_LINE_BYTES.
- text must be Unicode. A lone surrogate (`"\\ud800"` in JSON, from a writer that mis-encoded a
  character) is refused when the row is read, naming it: no program file can hold it, and
  escaping or replacing it would score a program the model did not write, a verdict that would
  depend on that choice without anyone seeing it.
- two files of one sample (`0.py` and `00.py`) are an error naming both.
A malformed JSONL row is an error naming `file:line`; given a `skipped_rows` list (`codemix score
--skip-bad-rows`), it is recorded there (line, problem) and the other rows are scored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from codemix.core.errors import CodemixError
from codemix.core.jsonl import iter_json_lines
from codemix.eval.benchmarks.problem import Problem, normalise_task_id

# Why a sample holds no program; such samples fail without being run, and results count them.
PROMPT_TOO_LONG = "prompt_too_long"   # the prompt left no room in the model's context
NO_CODE = "no_code"                   # nothing to run: no code in the response, or an empty sample
NOTES = {PROMPT_TOO_LONG: "prompt longer than the model's context, not generated",
         NO_CODE: "no code in the sample"}

# A generated sample is at most max_new_tokens (512 by default, rarely over 4,096) tokens of ~4
# bytes: under 16 KB. 4 MiB is 250 times that, and bounds the memory one hostile sample takes.
MAX_SAMPLE_BYTES = 4 << 20
# A codemix row carries the program up to three times (solution, completion, response); JSON
# escapes grow code by ~10%, by up to 6x for control characters. 64 MiB covers a row of three
# 4 MiB programs at 5x, and is what one line of a file with no newlines (a device, a blob) costs.
MAX_LINE_BYTES = 64 << 20
SKIP_HINT = "; --skip-bad-rows skips such rows and lists them"

_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: opening a FIFO must not wait for a writer
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class Sample:
    task_id: str
    index: int
    solution: str    # the whole program the tests run against
    origin: str      # file:line or path, for messages
    note: str | None = None  # PROMPT_TOO_LONG / NO_CODE: fails without being run

    @property
    def solution_hash(self) -> str:
        return hashlib.sha256(self.solution.encode("utf-8")).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class SkippedRow:
    line: int
    problem: str


class _BadRow(Exception):
    def __init__(self, problem: str, *, skippable_hint: bool = True) -> None:
        super().__init__(problem)
        self.hint = skippable_hint


def samples_hash(path: str | os.PathLike) -> str:
    """sha256 of a samples file, or of a directory's relative paths and file contents in sorted
    order (the same value codemix.core.artifacts.sha256_dir gives a directory without links)."""
    p = Path(path)
    if _input_kind(p) == "file":
        with open_regular(p) as f:
            return _sha256_stream(f.fileno())
    h = hashlib.sha256()
    for rel, fd in _walk(p):
        if fd is not None:
            h.update(os.fsencode(str(rel)))
            h.update(_sha256_stream(fd).encode())
    return h.hexdigest()


def read_samples(path: str | os.PathLike, benchmark: str, problems: dict[str, Problem], *,
                 skipped_rows: list[SkippedRow] | None = None) -> list[Sample]:
    """The samples in `path`, checked against `problems` (task id -> Problem). With
    `skipped_rows`, malformed JSONL rows are recorded there instead of failing the file."""
    p = Path(path)
    if _input_kind(p) == "dir":
        samples = _read_dir(p, benchmark, problems)
    elif _is_json_list(p):
        samples = _read_bigcode(p, benchmark, problems)
    else:
        samples = _read_jsonl(p, benchmark, problems, skipped_rows)
    if not samples:
        bad = f" ({len(skipped_rows)} bad rows skipped)" if skipped_rows else ""
        raise CodemixError(f"samples: {show_path(p)} contains no samples{bad}")
    return samples


def show_path(path: str | os.PathLike) -> str:
    """A path as printable text: bytes of a file name that are not UTF-8 shown as \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file (a link to one is followed: the user
    named it); anything else is a CodemixError, decided on the opened descriptor."""
    try:
        fd = os.open(path, _FILE_FLAGS)
    except OSError as e:
        raise CodemixError(f"samples: {show_path(path)}: {e.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise CodemixError(_not_regular(path, mode))
    return os.fdopen(fd, "rb")


def _input_kind(p: Path) -> str:
    """"dir" or "file" for the samples path the user named."""
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise CodemixError(f"samples: {show_path(p)} does not exist") from None
    except OSError as e:
        raise CodemixError(f"samples: {show_path(p)}: {e.strerror}") from None
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    raise CodemixError(_not_regular(p, mode))


def _not_regular(path: str | os.PathLike, mode: int) -> str:
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a directory" if stat.S_ISDIR(mode) else "not a regular file")
    return f"samples: {show_path(path)} is {kind}; only regular files are read as samples"


def _sha256_stream(fd: int) -> str:
    h = hashlib.sha256()
    while block := os.read(fd, 1 << 20):
        h.update(block)
    return h.hexdigest()


def _read_bounded(fd: int, limit: int) -> bytes:
    """At most limit + 1 bytes: one more than the limit says the file is over it."""
    chunks, size = [], 0
    while size <= limit and (block := os.read(fd, min(1 << 20, limit + 1 - size))):
        chunks.append(block)
        size += len(block)
    return b"".join(chunks)


def _walk(root: Path) -> Iterator[tuple[PurePosixPath, int | None]]:
    """(path under root, open descriptor) of every regular file and (path, None) of every
    directory, depth first in sorted order. A symbolic link or a special file anywhere is a
    CodemixError naming it; nothing is followed."""
    current = PurePosixPath()
    stack: list[tuple[int, PurePosixPath, Iterator[str]]] = []
    try:
        top = os.open(root, _DIR_FLAGS)  # the root itself may be a link: the user named it
        stack.append((top, current, iter(sorted(os.listdir(top)))))
        while stack:
            dir_fd, rel, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                os.close(dir_fd)
                continue
            current = rel / name
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise CodemixError(_link_refused(root / current))
            if stat.S_ISDIR(mode):
                yield current, None
                sub = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
                stack.append((sub, current, iter(sorted(os.listdir(sub)))))
            elif stat.S_ISREG(mode):
                fd = os.open(name, _FILE_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
                try:
                    mode = os.fstat(fd).st_mode  # what was opened, not what was listed
                    if not stat.S_ISREG(mode):
                        raise CodemixError(_not_regular(root / current, mode))
                    yield current, fd
                finally:
                    os.close(fd)
            else:
                raise CodemixError(_not_regular(root / current, mode))
    except OSError as e:
        import errno

        if e.errno == errno.ELOOP:  # O_NOFOLLOW met a link swapped in after the listing
            raise CodemixError(_link_refused(root / current)) from None
        raise CodemixError(f"samples: {show_path(root / current)}: {e.strerror}") from None
    finally:
        for dir_fd, _, _ in stack:
            os.close(dir_fd)


def _link_refused(path: Path) -> str:
    return (f"samples: {show_path(path)} is a symbolic link; a samples directory must hold regular files only "
            "(links are not followed: one could point at any file on this machine)")


def _unknown_task(tid: str, benchmark: str, problems: dict[str, Problem]) -> str:
    return f"task_id {tid!r} is not a {benchmark} task (ids look like {next(iter(problems))!r})"


def _text_problem(text: str, field: str) -> str | None:
    """Why `text` cannot be a sample's program text, or None."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as e:
        return (f"{field} holds a lone surrogate {text[e.start]!r} at character {e.start}, which is not Unicode "
                "text: no program file can hold it (the file's writer mis-encoded a character)")
    if size > MAX_SAMPLE_BYTES:
        return f"{field} is {size:,} bytes, over the limit of {MAX_SAMPLE_BYTES:,} for one sample"
    return None


def _read_jsonl(path: Path, benchmark: str, problems: dict[str, Problem],
                skipped_rows: list[SkippedRow] | None) -> list[Sample]:
    shown = show_path(path)

    def bad_row(lineno: int, problem: str, hint: bool = True) -> None:
        if skipped_rows is None:
            raise CodemixError(f"{shown}:{lineno}: {problem}{SKIP_HINT if hint else ''}")
        skipped_rows.append(SkippedRow(lineno, problem))

    samples: list[Sample] = []
    seen: dict[tuple[str, int], str] = {}
    next_index: dict[str, int] = {}
    for lineno, row in iter_json_lines(path, max_line_bytes=MAX_LINE_BYTES, on_bad_row=bad_row):
        where = f"{shown}:{lineno}"
        try:
            sample = _row_sample(row, where, benchmark, problems, seen, next_index)
        except _BadRow as e:
            bad_row(lineno, str(e), e.hint)
            continue
        seen[sample.task_id, sample.index] = where
        next_index[sample.task_id] = max(next_index.get(sample.task_id, 0), sample.index + 1)
        samples.append(sample)
    return samples


def _row_sample(row: dict, where: str, benchmark: str, problems: dict[str, Problem],
                seen: dict[tuple[str, int], str], next_index: dict[str, int]) -> Sample:
    if "task_id" not in row:
        raise _BadRow("row has no task_id")
    try:
        tid = normalise_task_id(benchmark, row["task_id"])
    except ValueError:  # an MBPP id of thousands of digits: int() refuses it
        tid = None
    if tid not in problems:
        # Not a row to skip: usually the samples answer another benchmark than --benchmark.
        raise _BadRow(_unknown_task(str(row["task_id"])[:100], benchmark, problems), skippable_hint=False)
    note = row.get("note") if row.get("note") in NOTES else None
    if isinstance(row.get("solution"), str):
        field, text = "solution", row["solution"]
    elif isinstance(row.get("completion"), str):
        field, text = "completion", row["completion"]
    elif "solution" in row or "completion" in row:
        raise _BadRow("'solution'/'completion' must be a string")
    else:
        raise _BadRow("row has neither 'completion' nor 'solution'")
    problem = _text_problem(text, field)
    if problem:
        raise _BadRow(problem)
    solution = text if field == "solution" else problems[tid].solution_from_completion(text)
    note = note or (NO_CODE if not text.strip() else None)
    index = row.get("sample_index", next_index.get(tid, 0))
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise _BadRow(f"sample_index must be a non-negative integer, got {index!r}")
    if (tid, index) in seen:
        raise _BadRow(f"sample {index} of {tid} already given at {seen[tid, index]}")
    return Sample(tid, index, solution, where, note)


def _is_json_list(path: Path) -> bool:
    """A .json file whose first non-blank character opens a list (bigcode's generations.json)."""
    if not path.name.endswith(".json"):
        return False
    with open_regular(path) as f:
        head = f.read(4096).decode("utf-8", errors="replace").lstrip()
    return head.startswith("[")


def _read_bigcode(path: Path, benchmark: str, problems: dict[str, Problem]) -> list[Sample]:
    import json

    shown = show_path(path)
    try:
        with open_regular(path) as f:
            data = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CodemixError(f"{shown}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        reason = e.msg.removesuffix(" at").removesuffix(" starting")
        raise CodemixError(f"{shown}:{e.lineno}: invalid JSON ({reason} at column {e.colno})") from None
    except RecursionError:
        raise CodemixError(f"{shown}: invalid JSON (nested deeper than the parser's recursion limit)") from None
    order = list(problems)
    if not all(isinstance(g, list) and all(isinstance(x, str) for x in g) for g in data):
        raise CodemixError(f"{shown}: expected bigcode-evaluation-harness generations: a JSON list (one entry per "
                           "problem, in order) of lists of programs")
    if len(data) > len(order):
        raise CodemixError(f"{shown}: {len(data)} entries, but {benchmark} has {len(order)} problems "
                           "(generations are matched to problems by position)")
    samples = []
    for i, programs in enumerate(data):
        for j, program in enumerate(programs):
            where = f"{shown}[{i}][{j}]"
            problem = _text_problem(program, "the program")
            if problem:
                raise CodemixError(f"{where}: {problem}")
            samples.append(Sample(order[i], j, program, where, NO_CODE if not program.strip() else None))
    return samples


def _read_dir(root: Path, benchmark: str, problems: dict[str, Problem]) -> list[Sample]:
    by_dirname = {tid.replace("/", "_"): tid for tid in problems}
    samples = []
    seen: dict[tuple[str, int], str] = {}
    for rel, fd in _walk(root):
        if rel.suffix != ".py":
            continue
        shown = show_path(root / rel)
        if fd is None:
            raise CodemixError(f"samples: {shown} is a directory; a sample is a regular file TASK/N.py")
        task_dir = str(rel.parent)
        tid = by_dirname.get(task_dir) or normalise_task_id(benchmark, task_dir)
        if tid not in problems:
            raise CodemixError(f"{shown}: {_unknown_task(show_path(task_dir), benchmark, problems)}")
        if not re.fullmatch(r"[0-9]+", rel.stem):
            raise CodemixError(f"{shown}: sample files are named N.py (N = sample index)")
        index = int(rel.stem)
        if (tid, index) in seen:
            raise CodemixError(f"{seen[tid, index]} and {shown} are both sample {index} of {tid}; keep one")
        seen[tid, index] = shown
        data = _read_bounded(fd, MAX_SAMPLE_BYTES)
        if len(data) > MAX_SAMPLE_BYTES:
            raise CodemixError(f"{shown}: over the limit of {MAX_SAMPLE_BYTES:,} bytes for one sample")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CodemixError(f"{shown}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        samples.append(Sample(tid, index, text, shown, NO_CODE if not text.strip() else None))
    return samples
