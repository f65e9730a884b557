"""Linux isolation primitives for the sample sandbox, over libc with ctypes.

Python 3.11 has no `os.unshare`, `mount` or `capset`, so the few system calls the sandbox needs
are wrapped here. Everything in this module runs inside the sandbox worker (see
`codemix.eval.sandbox.worker`), never in the harness process: a failed mount or unshare must not change
the harness. Each helper raises OSError with the failing call named, so the worker can record
which isolation layer the machine refused and why.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import resource
import signal
import socket
from collections.abc import Iterable

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 16384, 1 << 18, 1 << 21, 1 << 24
MNT_DETACH = 2
# Per-mount flags that a bind remount must repeat: inside a user namespace the kernel refuses a
# remount that would clear a flag the parent namespace locked (nosuid, nodev, noexec, atime).
_KEPT_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
                     "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME,
                     "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p)
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
_libc.unshare.argtypes = (ctypes.c_int,)
_libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def umount_lazy(target: str) -> None:
    _check(_libc.umount2(_b(target), MNT_DETACH), f"umount {target}")


def prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_child_subreaper() -> None:
    """Orphans of our descendants are re-parented to us, so the fallback sweep can find them."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Clear every capability of the calling process (used where no unprivileged uid exists to
    switch to: the root of a user namespace keeps full capabilities inside it otherwise)."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def write_id_maps(inside: int, outside_uid: int, outside_gid: int) -> None:
    """Map one id into a fresh user namespace (the only mapping an unprivileged process may
    write for itself); setgroups must be denied first or the gid map is refused."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{inside} {outside_uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{inside} {outside_gid} 1")


# The namespaces a worker enters after the user namespace, in this order (the mount namespace
# before the PID one: the worker mounts a fresh /proc for the PID namespace it then serves).
NAMESPACE_FLAGS = {"network-namespace": CLONE_NEWNET, "mount-namespace": CLONE_NEWNS,
                   "pid-namespace": CLONE_NEWPID, "ipc-namespace": CLONE_NEWIPC, "uts-namespace": CLONE_NEWUTS}


def enter_namespaces(skip: Iterable[str] = ()) -> dict[str, OSError | None]:
    """Unshare a user namespace first when not root (it lets an ordinary user create the
    others), then each of NAMESPACE_FLAGS, leaving out the layers in `skip`: {layer: None when
    entered, else the kernel's refusal}. The harness's probe and the workers both go through
    here, so "supported" and "used" are decided by the same calls."""
    skip = set(skip)
    outcome: dict[str, OSError | None] = {}
    if os.geteuid() != 0 and "user-namespace" not in skip:
        try:
            uid, gid = os.geteuid(), os.getegid()
            unshare(CLONE_NEWUSER)
            write_id_maps(0, uid, gid)
            outcome["user-namespace"] = None
        except OSError as e:
            outcome["user-namespace"] = e
    for name, flag in NAMESPACE_FLAGS.items():
        if name in skip:
            continue
        try:
            unshare(flag)
            outcome[name] = None
        except OSError as e:
            outcome[name] = e
    return outcome


# ---------------------------------------------------------------- filesystem view

def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mount_points() -> list[tuple[str, int]]:
    """(mount point, flags a bind remount must keep) for every mount, parents first."""
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            flags = 0
            for opt in fields[5].split(","):
                flags |= _KEPT_MOUNT_FLAGS.get(opt, 0)
            points.append((_unescape(fields[4]), flags))
    return points


def remount_all_readonly() -> list[str]:
    """Make every mount of this (private) mount namespace read-only; returns the mount points
    that could be neither remounted nor detached (empty on success).

    MS_BIND is essential: a plain MS_REMOUNT|MS_RDONLY would change the file system's superblock
    and make it read-only for the whole machine, not just for this namespace."""
    failed = []
    for point, kept in mount_points():
        try:
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | kept)
        except OSError:
            try:
                umount_lazy(point)
            except OSError:
                failed.append(point)
    return failed


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outermost(paths: Iterable[str]) -> list[str]:
    """Existing real paths, without those inside another one (they come along with it)."""
    real = sorted({os.path.realpath(k) for k in paths if os.path.exists(k)})
    return [k for k in real if not any(o != k and _is_under(k, o) for o in real)]


def _cover_and_bind_back(target: str, options: str, keep: list[str], readonly: bool) -> None:
    """Mount a fresh tmpfs over `target`, then bind back, read-only, the paths of `keep` that
    lie under it (held open first: once the tmpfs covers `target` they have no name)."""
    inside = [k for k in keep if _is_under(k, target) and k != target]
    held = {k: os.open(k, os.O_PATH) for k in inside}
    try:
        mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
        for k, fd in held.items():
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(k, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(k), mode=0o755, exist_ok=True)
                open(k, "w").close()
            mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            mount(None, k, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
        if readonly:
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    finally:
        for fd in held.values():
            os.close(fd)


def hide_directories(hide: Iterable[str], keep: Iterable[str]) -> list[str]:
    """Mount an empty read-only tmpfs over each directory of `hide` (home directories: caches,
    tokens, keys), then bind back, read-only, the paths of `keep` that lie under one of them
    (the Python installation, which pyenv and the like put under $HOME). Returns what was
    hidden."""
    hide = [h for h in dict.fromkeys(os.path.realpath(h) for h in hide) if os.path.isdir(h)]
    keep = _outermost(keep)
    hidden = []
    for home in hide:
        if any(h != home and _is_under(home, h) for h in hide):
            continue  # covered by an outer hidden directory
        _cover_and_bind_back(home, "size=1m,mode=0755", keep, readonly=True)
        hidden.append(home)
    return hidden


def hide_files(files: Iterable[str], scratch: str) -> list[str]:
    """Bind an empty read-only file over each existing file of `files`; returns what was hidden.

    The empty file is made on `scratch` (the worker's private /tmp) and unlinked at once: the
    bind mounts keep it alive, and no path a sample can reach leads to it except the hidden
    names, which are read-only. An empty regular file rather than /dev/null: a device node needs
    a mount without nodev, which a user namespace cannot grant."""
    files = [f for f in dict.fromkeys(os.path.realpath(f) for f in files) if os.path.isfile(f)]
    if not files:
        return []
    empty = os.path.join(scratch, f".empty-{os.getpid()}")
    os.close(os.open(empty, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444))
    try:
        for f in files:
            mount(empty, f, None, MS_BIND)
            mount(None, f, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    finally:
        os.unlink(empty)
    return files


def private_tmp(size_mb: int, keep: Iterable[str]) -> None:
    """A fresh, size-limited, writable tmpfs on /tmp for the samples' scratch directories. A
    Python installation that lives under /tmp (a CI virtual environment, say) is bound back
    read-only, or the workers could no longer import what they run with."""
    _cover_and_bind_back("/tmp", f"size={int(size_mb)}m,mode=0755", _outermost(keep), readonly=False)


# ---------------------------------------------------------------- IPC objects

IPC_RMID, MSG_INFO, SHM_INFO, SEM_INFO = 0, 12, 14, 19
_libc.shmctl.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_libc.msgctl.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_libc.semctl.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_ipc_info = (ctypes.c_int * 16)()  # large enough for struct shm_info, msginfo and seminfo
_IPC_QUERIES = ((_libc.shmctl, (0, SHM_INFO, _ipc_info), 0), (_libc.msgctl, (0, MSG_INFO, _ipc_info), 0),
                (_libc.semctl, (0, 0, SEM_INFO, _ipc_info), 7))


def _system_v_objects() -> int:
    """How many System V objects this IPC namespace holds, from three *_INFO calls (~3 us; reading
    the three /proc/sysvipc tables takes ~25 us): shm_info.used_ids, msginfo.msgpool (queues
    in use) and seminfo.semusz (sets in use)."""
    count = 0
    for call, args, index in _IPC_QUERIES:
        count += _ipc_info[index] if call(*args) >= 0 else 1  # a failed query: look at the tables
    return count


def mount_mqueue(target: str) -> None:
    """The POSIX message queues of this IPC namespace as files under `target` (listing and
    unlinking them there is mq_open's namespace, seen from outside)."""
    os.makedirs(target, mode=0o700, exist_ok=True)
    mount("mqueue", target, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def remove_ipc_objects(mqueue_dir: str | None) -> int:
    """Remove every System V shared memory segment, message queue and semaphore set of this IPC
    namespace, and every POSIX message queue where its mqueue file system is mounted at
    `mqueue_dir`; returns how many. Only for an IPC namespace of the worker's own, and after the
    sample's processes are dead (a segment still attached would live on until detached)."""
    removed = 0
    tables = (("shm", lambda i: _libc.shmctl(i, IPC_RMID, None)), ("msg", lambda i: _libc.msgctl(i, IPC_RMID, None)),
              ("sem", lambda i: _libc.semctl(i, 0, IPC_RMID, None)))
    for table, remove in tables if _system_v_objects() else ():  # most samples leave none
        with open(f"/proc/sysvipc/{table}", "rb") as f:
            rows = f.read().splitlines()[1:]  # header, then "key id perms ..." per object
        for row in rows:
            remove(int(row.split()[1]))
            removed += 1
    if mqueue_dir is not None:
        for name in os.listdir(mqueue_dir):
            os.unlink(os.path.join(mqueue_dir, name))
            removed += 1
    return removed


# ---------------------------------------------------------------- limits and seccomp

def apply_rlimits(limits: dict[str, int]) -> None:
    """`limits` maps RLIMIT names (without the prefix) to a value used as soft and hard limit;
    CPU gets a hard limit one second above the soft one so SIGXCPU arrives first."""
    for name, value in limits.items():
        which = getattr(resource, f"RLIMIT_{name.upper()}")
        hard = value + 1 if name.upper() == "CPU" else value
        resource.setrlimit(which, (value, hard))


# Syscalls a test program never needs and that kernel exploits and escapes are made of. Most
# already fail without privileges; the filter also holds where the process keeps capabilities
# (root of a user namespace) and where no network namespace is available.
_DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "bpf", "perf_event_open", "keyctl", "add_key",
    "request_key", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "open_by_handle_at",
    "name_to_handle_at", "fanotify_init", "move_mount", "open_tree", "fsopen", "fsmount",
)


def build_seccomp_filter():
    """A libseccomp filter (not yet loaded) that denies, with EPERM, every socket() (network
    sockets, and Unix sockets too: connecting to one needs no write access to the read-only
    file system, and an agent's or a daemon's socket may be reachable), socketpair() other
    than AF_UNIX (multiprocessing's anonymous pairs still work), namespace creation and the
    syscalls above; raises ImportError or OSError when seccomp cannot be used here."""
    import pyseccomp as sc

    filt = sc.SyscallFilter(defaction=sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    filt.add_rule(eperm, "socket")
    filt.add_rule(eperm, "socketpair", sc.Arg(0, sc.NE, socket.AF_UNIX))
    for flag in (CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWIPC, CLONE_NEWUTS):
        filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    # clone3 passes its flags in a struct a filter cannot inspect; ENOSYS makes glibc fall back
    # to clone, which the rules above do inspect (the same choice container runtimes make).
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for name in _DENIED_SYSCALLS:
        try:
            filt.add_rule(eperm, name)
        except (OSError, ValueError, RuntimeError):
            pass  # unknown on this architecture or libseccomp version
    return filt


# ---------------------------------------------------------------- processes

def fast_fork():
    """fork(2) straight from libc, skipping CPython's after-fork hooks.

    Measured here: os.fork() children of this server take ~220 page faults and ~0.7 ms of CPU
    before running a line of the sample, most of it in `threading`'s Python-level after-fork
    hook (re-creating locks, walking thread sets), which touches and so copies pages shared with
    the server; a libc fork takes ~45 faults and ~0.2 ms. The hooks only repair state of other
    threads, and this server has none (checked here; otherwise os.fork is used). The one hook
    with a visible effect, random's reseeding, the server redoes before every fork."""
    import ctypes

    if len(os.listdir("/proc/self/task")) != 1:
        return os.fork
    libc_fork = ctypes.PyDLL(None, use_errno=True).fork  # PyDLL: the GIL stays held
    libc_fork.restype = ctypes.c_int
    libc_fork.argtypes = ()

    def fork() -> int:
        pid = libc_fork()
        if pid < 0:
            raise OSError(ctypes.get_errno(), "fork failed")
        return pid

    return fork


def descendants(root: int) -> list[int]:
    """Every process below `root`, from /proc (the fallback sweep when there is no PID namespace)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found
