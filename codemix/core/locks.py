"""Per-directory exclusive locks: one process at a time works a stage or sweep-cell directory.

`locked(dir, what=...)` takes `fcntl.flock(LOCK_EX | LOCK_NB)` on `<dir>/.lock`. flock belongs to
the open file description, so the kernel drops it the moment the holder dies (SIGKILL, OOM,
node reboot on a local disk): a stale lock file never blocks anyone, and nobody has to clean up
pids. After acquiring, the holder writes who it is (pid, host, start time, what it does) into
the file so a second process can say exactly who is in the way.

Within one process the same directory may be locked again (a sweep cell holds its directory while
the pipeline locks the stages below it, and a stage may call another stage): re-entry only bumps
a counter, because a second flock on a new file description of the same file would deadlock
against ourselves.

Caveat: flock over NFS is emulated with POSIX locks on Linux >= 2.6.12 (works across nodes with
NFSv4 / lockd); on filesystems without lock support flock raises ENOLCK, reported as a
CodemixError naming the directory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from codemix.core.errors import CodemixError

LOCK_NAME = ".lock"
_POLL_S = 0.2  # how often a waiting process retries; a stage lasts seconds to hours, so 0.2 s is free

# Directories this process holds: resolved path -> (fd, depth). Guarded because a launcher may
# lock cells from threads.
_held: dict[str, tuple[int, int]] = {}
_held_guard = threading.RLock()


class LockHeld(CodemixError):
    """Another live process holds the directory's lock."""

    def __init__(self, directory: str | os.PathLike, holder: dict | None):
        self.directory = str(directory)
        self.holder = holder or {}
        super().__init__(_describe(self.directory, self.holder))


def _describe(directory: str, holder: dict) -> str:
    pid = holder.get("pid", "?")
    host = holder.get("host", "?")
    since = holder.get("started", "?")
    with contextlib.suppress(ValueError, TypeError):
        since = _dt.datetime.fromisoformat(since).astimezone().strftime("%H:%M")
    what = holder.get("what")
    tail = f" ({what})" if what else ""
    return (f"{directory} is in use by pid {pid} on host {host} since {since}{tail}; "
            "wait for it or stop it")


def _read_holder(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else {}
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _try_flock(fd: int, directory: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise CodemixError(f"cannot lock {directory}: {e.strerror or e} "
                           "(does this filesystem support file locks?)") from None


def _open_lock_file(directory: Path) -> int:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: truncating before we hold the lock would wipe the holder's info.
        return os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CodemixError(f"cannot create the lock file in {directory}: {e.strerror or e}") from None


@contextlib.contextmanager
def locked(directory: str | os.PathLike, *, what: str, wait: float | bool = False) -> Iterator[None]:
    """Hold `<directory>/.lock` exclusively for the body.

    wait=False: raise LockHeld at once if another process holds it; wait=True: wait as long as
    it takes; a number: wait that many seconds, then raise LockHeld.
    """
    directory = Path(directory)
    key = str(directory.resolve())
    with _held_guard:
        if key in _held:  # re-entry from this process: never deadlock on ourselves
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            _release(key)
        return

    fd = _open_lock_file(directory)
    try:
        deadline = None if wait is True else time.monotonic() + (0.0 if wait is False else float(wait))
        while not _try_flock(fd, directory):
            if deadline is not None and time.monotonic() >= deadline:
                raise LockHeld(directory, _read_holder(directory / LOCK_NAME))
            time.sleep(_POLL_S)
    except BaseException:
        os.close(fd)
        raise
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "what": what}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
    with _held_guard:
        _held[key] = (fd, 1)
    try:
        yield
    finally:
        _release(key)


def _release(key: str) -> None:
    with _held_guard:
        fd, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1)
            return
        del _held[key]
    # Leave the file in place (removing it would race with a waiter that already opened it and
    # would then hold a lock on an unlinked inode); just clear the holder info.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
    os.close(fd)  # closing the only description of this open releases the flock


def lock_holder(directory: str | os.PathLike) -> dict | None:
    """The live holder's info ({pid, host, started, what}), or None when nobody holds the lock."""
    directory = Path(directory)
    key = str(directory.resolve()) if directory.exists() else None
    with _held_guard:
        if key is not None and key in _held:
            return _read_holder(directory / LOCK_NAME) or {"pid": os.getpid(), "host": socket.gethostname()}
    path = directory / LOCK_NAME
    try:
        # O_RDWR, not O_RDONLY: over NFS flock is emulated with POSIX locks, and an exclusive
        # POSIX lock needs a descriptor open for writing.
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CodemixError(f"cannot read the lock file {path}: {e.strerror or e}") from None
    try:
        if _try_flock_shared_probe(fd, directory):
            return None
        return _read_holder(path) or {}
    finally:
        os.close(fd)


def _try_flock_shared_probe(fd: int, directory: Path) -> bool:
    """True when the lock is free: take it non-blocking and let it go again at once."""
    if not _try_flock(fd, directory):
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True
