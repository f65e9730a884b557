"""Forging a pass in the default (in-process) verdict mode: every attack here scored `passed` on
HumanEval/0 before the child kept the nonce off its frames (see codemix.eval.sandbox.child); each
must score `failed` now. Also: what a sample can reach of the worker, and IPC objects that would
outlive a sample. Hostile programs, so they run only inside a cgroup guard (never bare)."""

import textwrap
import time
from pathlib import Path

import pytest

from codemix.eval.benchmarks import load_problems
from codemix.eval.sandbox.executor import Executor, Job
from helpers.sandbox_guard import CgroupGuard, guard_or_skip

# Finds a 32-hex-digit bytes object (the nonce's shape) in the locals of every calling frame,
# looking into containers and objects three levels deep.
STEAL = '''
def _nonce_like(v):
    return isinstance(v, bytes) and len(v) == 32 and all(c in b"0123456789abcdef" for c in v)
def _search(obj, depth=0, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 3:
        return None
    seen.add(id(obj))
    if _nonce_like(obj):
        return obj
    if isinstance(obj, dict):
        inner = list(obj.values())
    elif isinstance(obj, (list, tuple, set)):
        inner = list(obj)
    else:
        try:
            inner = list(vars(obj).values())
        except TypeError:
            inner = []
        slots = getattr(type(obj), "__slots__", ())
        inner += [getattr(obj, s, None) for s in ([slots] if isinstance(slots, str) else slots)]
    for v in inner:
        found = _search(v, depth + 1, seen)
        if found is not None:
            return found
def _steal():
    f = sys._getframe()
    while f is not None:
        found = _search(dict(f.f_locals))
        if found is not None:
            return found
        f = f.f_back
'''
# A trace function that jumps check() from its second line to its last one (the completion returns
# True once, for the first assert, and False after: only HumanEval/0's last assert wants False).
JUMP = '''
import sys
def tracer(frame, event, arg):
    if frame.f_code.co_name == "check":
        if event == "line" and frame.f_lineno == frame.f_code.co_firstlineno + 2:
            frame.f_lineno = max(line for _, _, line in frame.f_code.co_lines() if line is not None)
        if event == "return" and REMOVE:
            try:
                sys.settrace(None)
            except RuntimeError:
                pass
        return tracer
    return None if event == "call" else tracer
if getattr(sys, "_armed", False):
    return False
sys._armed = True
sys.settrace(tracer)
sys._getframe(1).f_trace = tracer
return True
'''
ATTACKS = {
    "os._exit replaced, then return False": ("import os\nos._exit = lambda *a: None\nreturn False\n", "AssertionError"),
    "os._exit replaced, then SystemExit(0)": ("import os\nos._exit = lambda *a: None\nraise SystemExit(0)\n",
                                              "SystemExit(0)"),
    "sys.stdout whose flush() writes the nonce": ("import os, sys\n" + STEAL + textwrap.dedent('''
        class Out:
            def write(self, s):
                return len(s)
            def flush(self):
                n = _steal()
                if n is not None:
                    os.write(3, n)
        sys.stdout = Out()
        return False
        '''), "AssertionError"),
    "frames walked up to the nonce": ("import os, sys\n" + STEAL + textwrap.dedent('''
        n = _steal()
        if n is not None:
            os.write(3, n)
            os._exit(0)
        return False
        '''), "AssertionError"),
    "settrace jumps check() to its last line": ("REMOVE = False\n" + JUMP, "a trace function was installed"),
    "settrace jumps, then removes itself": ("REMOVE = True\n" + JUMP, "a trace function was installed"),
    "the exception's __str__ raises": ("class Weird(Exception):\n    def __str__(self):\n        raise ValueError\n"
                                       "raise Weird()\n", "Weird (its message could not be read"),
}


@pytest.fixture(scope="module")
def guarded():
    """One worker (consecutive samples share it, and its compile cache), inside a cgroup guard."""
    for guard in guard_or_skip("codemix-test-forgery"):
        with Executor(workers=1, retry_timeouts=False, join_cgroups=guard.dirs) as ex:
            yield ex, guard


@pytest.fixture(scope="module")
def humaneval_0():
    return next(p for p in load_problems("humaneval") if p.task_id == "HumanEval/0")


def run(executor, program, timeout=10.0):
    ((_, result),) = list(executor.run([Job("x", program, timeout)]))
    return result


@pytest.mark.parametrize("name", list(ATTACKS))
def test_a_forged_pass_is_a_failure(guarded, humaneval_0, name):
    body, message = ATTACKS[name]
    program = humaneval_0.test_program(humaneval_0.prompt + textwrap.indent(body, "    "))
    result = run(guarded[0], program)
    assert result.verdict == "failed" and message in result.error, (name, result)


def test_honest_samples_keep_their_verdicts(guarded, humaneval_0):
    p = humaneval_0
    doctest_main = "\nif __name__ == '__main__':\n    import doctest\n    doctest.testmod()\n"
    got = dict(guarded[0].run([
        Job("reference", p.test_program(p.canonical_solution), 10.0),
        # doctest restores the trace function it found (None) with sys.settrace: still allowed
        Job("doctest", p.test_program(p.canonical_solution + doctest_main), 10.0),
        Job("wrong", p.test_program(p.prompt + "    return False\n"), 10.0),
    ]))
    assert {k: r.verdict for k, r in got.items()} == {"reference": "passed", "doctest": "passed", "wrong": "failed"}


def test_nothing_of_the_worker_is_reachable_from_the_frames(guarded):
    marker = "codemix-cache-probe-" + "41ab"
    # The first program is compiled by the worker and stays in its cache; the second, run next
    # by the same worker, searches its callers' variables (and what they hold, code objects'
    # constants included) for the first's text, a server, a request (a dict with the program and
    # its timeout), and codemix in sys.modules.
    assert run(guarded[0], f"PROGRAM_TEXT = {marker!r}\n").verdict == "passed"
    search = textwrap.dedent('''
        import sys
        marker = "codemix-cache-probe-" + str(41) + "ab"  # not folded into one constant of this code
        found = []
        def visit(obj, where, depth, seen):
            if id(obj) in seen or depth > 5 or obj is globals() or isinstance(obj, type(sys)):
                return  # this program's own namespace, and modules: what the frames hold is the question
            seen.add(id(obj))
            if isinstance(obj, str):
                if marker in obj:
                    found.append(where)
                return
            if type(obj).__name__ == "Server" or (isinstance(obj, dict) and {"program", "timeout"} <= obj.keys()):
                found.append(where + ": " + type(obj).__name__)
            if isinstance(obj, dict):
                inner = list(obj.items())
            elif isinstance(obj, (list, tuple, set, frozenset)):
                inner = list(enumerate(obj))
            elif type(obj).__name__ == "code":
                inner = list(enumerate(obj.co_consts))
            else:
                try:
                    inner = list(vars(obj).items())
                except TypeError:
                    inner = []
                slots = getattr(type(obj), "__slots__", ())
                inner += [(s, getattr(obj, s, None)) for s in ([slots] if isinstance(slots, str) else slots)]
            for key, value in inner:
                visit(value, where + "/" + str(key)[:30], depth + 1, seen)
        f, seen = sys._getframe().f_back, set()
        while f is not None:
            visit(dict(f.f_locals), f.f_code.co_name, 0, seen)
            f = f.f_back
        found += [name for name in sys.modules if name.startswith("codemix")]
        assert not found, found
        ''')
    result = run(guarded[0], search)
    assert result.verdict == "passed", result.error


LEAVE_IPC = '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
IPC_CREAT = 0o1000
for i in range(3):  # 3 x 150 MB, touched so the memory is really held
    sid = libc.shmget(0x5eed0 + i, 150 << 20, IPC_CREAT | 0o666)
    assert sid >= 0, os.strerror(ctypes.get_errno())
    addr = libc.shmat(sid, None, 0)
    assert addr not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())
    ctypes.memset(addr, 1, 150 << 20)
assert libc.msgget(0x5eed9, IPC_CREAT | 0o666) >= 0
assert libc.semget(0x5eeda, 1, IPC_CREAT | 0o666) >= 0
assert libc.mq_open(b"/codemix-test-queue", os.O_CREAT | os.O_RDWR, 0o600, None) >= 0, os.strerror(ctypes.get_errno())
'''
FIND_IPC = '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmget.argtypes = (ctypes.c_int, ctypes.c_size_t, ctypes.c_int)
found = [k for k in range(3) if libc.shmget(0x5eed0 + k, 0, 0o666) >= 0]
found += ["msg"] if libc.msgget(0x5eed9, 0o666) >= 0 else []
found += ["sem"] if libc.semget(0x5eeda, 0, 0o666) >= 0 else []
found += ["mqueue"] if libc.mq_open(b"/codemix-test-queue", os.O_RDWR) >= 0 else []
found += [t for t in ("shm", "msg", "sem") if open("/proc/sysvipc/" + t).read().splitlines()[1:]]
assert not found, found
'''


def _held_mb(guard: CgroupGuard) -> float:
    """Memory charged to the guard (cgroup v2), else the machine's shared memory (Shmem)."""
    current = [d / "memory.current" for d in guard.dirs if (d / "memory.current").exists()]
    if current:
        return int(current[0].read_text()) / 2**20
    shmem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("Shmem:"))
    return int(shmem.split()[1]) / 1024


def test_ipc_objects_do_not_outlive_the_sample(guarded):
    executor, guard = guarded
    before = _held_mb(guard)
    assert run(executor, LEAVE_IPC, timeout=30.0).verdict == "passed"
    # The next sample (same worker) finds none of them, by key or in the kernel's tables...
    assert run(executor, FIND_IPC).verdict == "passed"
    # ...and the 450 MB of segments are free again (removed while no process holds them).
    deadline = time.monotonic() + 5
    while _held_mb(guard) - before > 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _held_mb(guard) - before < 100, (before, _held_mb(guard))
