"""What happens inside one sample's process, between fork and exit.

The sandbox worker forks a child per sample; the child inherits what the worker set up once
(scrubbed environment, rlimits, no_new_privs, seccomp), locks itself down further (own process
group, closed descriptors, CPU and process limits, unprivileged uid) and runs the test program.

How a verdict is decided (the default, in-process mode). Right after the lock-down the child
draws a 128-bit nonce and writes READY_MARK + nonce to the result pipe (descriptor 3), before a
line of the program runs. The worker counts the sample as passed only if that same nonce arrives
on the pipe a second time and no FAIL_MARK does. The second copy is written by `run_sealed`
alone, and only when the program returned normally with no trace function installed. Against the
program, in the same interpreter:
  * the nonce is never in the program text, the environment, a module or a frame's locals: from
    the moment it is drawn it sits in a one-element list that `run_sealed` pops onto the
    interpreter's value stack before calling exec (Python cannot read a frame's value stack);
    when the program raises, the stack is unwound and the nonce is gone, so no path that
    follows a failure can write it (replacing os._exit, raising SystemExit from a handler, a
    sys.stdout whose flush() writes to descriptor 3: none of them finds a nonce to write);
  * the functions that write it (os.write, sys.gettrace) are taken before the program runs,
    also onto the value stack, so a program that rebinds os.write or os._exit changes nothing;
  * the program's module frame has two Python callers here, `start` and `run_sealed`, holding
    the sample's own code and descriptors, then the worker's serve loop and main, whose
    variables no longer name the server (its compile cache holds reference solutions and
    other samples' programs) or the request (codemix.eval.sandbox.worker.serve); codemix's
    modules are not in sys.modules (the worker dropped them before serving);
  * jumping over the tests needs a trace function (`frame.f_lineno` can only be set from a
    'line' trace event or, on 3.12+, a sys.monitoring callback). An audit hook, which a program
    cannot remove, refuses sys.settrace from any thread but the main one, refuses to replace or
    remove a trace function once one is installed, and refuses sys.monitoring callbacks; a
    trace function still installed when the program returns turns the pass into a failure.
    sys.settrace(None) with no trace function installed stays allowed (doctest does it).

Limits of this mode, stated plainly: code in the same interpreter can still dig a secret out of
memory (gc.get_referents on a frame shows its value stack, ctypes reads any address, the audit
hook itself is reachable through gc), and an object whose __eq__ always returns True satisfies
`assert candidate(x) == y`. The nonce proves "the tests ran to the end" against programs that
stop early, print things or fiddle with the harness's Python objects, not against a program
written to read the interpreter's memory. The strict verdict mode (eval/scoring/strict.py)
evaluates the checks outside the sample's process and is the real guarantee.
"""

from __future__ import annotations

import _thread
import builtins
import fcntl
import os
import resource
import signal
import sys
import types

from codemix.eval.sandbox import isolation as iso

RESULT_FD = 3
# The data channel (Job.data_bytes > 0): a write-only pipe whose contents come back to the
# harness as RunResult.data; closed in samples that were not given one.
DATA_FD = 4
FAIL_MARK = b"\x00F"   # followed by "ExcType: message" when the program raised
SETUP_MARK = b"\x00E"  # followed by the reason the sandbox could not be set up
READY_MARK = b"\x00R"  # followed by the nonce, written before the program runs
NONCE_HEX = 32         # 128 random bits as hex: never contains a mark's NUL byte
TRACE_LEFT_ON = FAIL_MARK + b"a trace function was installed (sys.settrace) when the program ended: tracing can skip the tests"
SETUP_FAILED_STATUS = 70
MAX_MESSAGE = 2000
# Audit events that install or change a trace or monitoring callback (3.12+ raises sys.settrace
# for settrace_all_threads and PyEval_SetTrace* too).
_TRACE_EVENTS = frozenset({"sys.settrace", "sys.monitoring.register_callback"})


def describe_exception(exc: BaseException, program: str) -> str:
    """`ExcType: message (line N: source)`, the line being the last one inside the program. The
    exception is the program's: its __str__ (or its class's __name__) may raise, and then the
    type's real name stands alone."""
    name = type.__dict__["__name__"].__get__(type(exc))
    try:
        text = str(exc)
        message = f"{name}: {text}" if text else name
    except BaseException:
        return name + " (its message could not be read: str() raised)"
    if len(message) > 500:
        message = message[:500] + "..."
    tb, lineno = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<sample>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    if lineno is None and isinstance(exc, SyntaxError):
        lineno = exc.lineno
    if isinstance(lineno, int):
        lines = program.splitlines()
        source = lines[lineno - 1].strip()[:160] if 0 < lineno <= len(lines) else ""
        message += f" (line {lineno}: {source})" if source else f" (line {lineno})"
    return message


def _failure_message(exc: BaseException, program: str) -> str:
    if isinstance(exc, SystemExit):
        try:
            code = repr(exc.code)
        except BaseException:
            code = "..."
        return f"SystemExit({code}): the program exited before the tests finished"
    try:
        return describe_exception(exc, program)
    except BaseException:  # anything of the program's that still raised while being described
        return type.__dict__["__name__"].__get__(type(exc))


# Programs up to this size are compiled by the worker before the fork: compiling in the child
# costs ~0.3 ms more, the compiler's first use there copying ~110 pages shared with the worker.
# Larger ones (EvalPlus programs carry their test inputs) compile in the child, under the limits.
COMPILE_IN_WORKER_MAX = 256 * 1024


def compile_program(program: str):
    """(code, None) or (None, error message) for a program compiled in the worker."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings would reach the harness's terminal
            return compile(program, "<sample>", "exec"), None
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
        return None, describe_exception(e, program)


def sample_environment(workdir: str, hash_seed: int | None = None) -> dict[str, str]:
    """The whole environment a sample sees: no variable of the harness survives (tokens, keys,
    proxies); HOME and TMPDIR point at its own scratch directory; with a fixed hash seed,
    PYTHONHASHSEED, so Python processes the sample starts hash as it does."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)
    return env


def prepare_server(workdir: str, rlimits: dict[str, int], seccomp_filter, *,
                   hash_seed: int | None = None) -> None:
    """Everything that is the same for every sample, done once in the worker so the children
    inherit it through fork instead of paying for it (a child's setup is ~0.1 ms this way):
    environment, Python's std streams and tempdir, rlimits that cannot hurt the worker itself,
    no_new_privs, the seccomp filter and the trace guard (all inherited and irreversible)."""
    import tempfile

    os.environ.clear()
    os.environ.update(sample_environment(workdir, hash_seed))
    tempfile.tempdir = workdir
    sys.argv = [""]
    for stream in (sys.stdout, sys.stderr):
        # Line-buffered, so what a crashing sample printed last still reaches the pipe.
        stream.reconfigure(line_buffering=True, errors="backslashreplace")
    iso.apply_rlimits(rlimits)
    iso.set_no_new_privs()
    if seccomp_filter is not None:
        seccomp_filter.load()
    install_trace_guard()


def reseed_random(seed: int | None = None) -> None:
    """Called by the worker right before every fork, so each child starts from a known state and
    never from the worker's sequence or a sibling's: `seed` (then every sample draws what
    `random.seed(seed)` gives: the same verdicts in every run), or, with None, 128 fresh bits,
    as a fresh interpreter would. The plain random.seed() reads 2.5 KB from the kernel's RNG;
    seeding the C generator directly costs ~15 us in the worker, where the child paid ~95 us (the
    state's pages are shared with the worker: writing them there means copying)."""
    random = sys.modules.get("random")
    if random is None:  # not imported: a child importing it seeds itself from the kernel
        return
    import _random

    _random.Random.seed(random._inst, int.from_bytes(os.urandom(16), "little") if seed is None else seed)
    random._inst.gauss_next = None


class Sample:
    """What the child needs from the worker: the sample's own program and descriptors, nothing
    of the worker's (the child's callers must not hold more than this)."""

    __slots__ = ("program", "code", "workdir", "out_w", "res_w", "data_w", "cpu_seconds", "processes",
                 "uid", "gid", "drop_caps")

    def __init__(self, program: str, code, *, workdir: str, out_w: int, res_w: int, data_w: int | None,
                 cpu_seconds: int, processes: int, uid: int | None, gid: int | None, drop_caps: bool):
        self.program, self.code, self.workdir = program, code, workdir
        self.out_w, self.res_w, self.data_w = out_w, res_w, data_w
        self.cpu_seconds, self.processes = cpu_seconds, processes
        self.uid, self.gid, self.drop_caps = uid, gid, drop_caps


def _place_descriptors(sample: Sample) -> None:
    """stdout/stderr -> the output pipe, RESULT_FD -> the result pipe, DATA_FD -> the data pipe
    (or nothing), every other descriptor closed (the worker's pipes to the harness above all)."""
    data_w = sample.data_w
    if data_w is not None and data_w <= DATA_FD:
        data_w = fcntl.fcntl(data_w, fcntl.F_DUPFD, DATA_FD + 1)  # out of the dup2s' way
    os.dup2(sample.out_w, 1)  # descriptor 0 is already /dev/null in the worker
    os.dup2(sample.out_w, 2)
    os.dup2(sample.res_w, RESULT_FD)
    if data_w is not None:
        os.dup2(data_w, DATA_FD)
    os.closerange(RESULT_FD + 1 if data_w is None else DATA_FD + 1, 1 << 20)


def _lock_down(sample: Sample) -> None:
    # Own process group for the fallback kill. Not setsid: with the scheduler's autogroups on, a
    # new session costs ~0.5 ms; the worker has no controlling terminal anyway.
    os.setpgid(0, 0)
    os.chdir(sample.workdir)
    os.umask(0o077)
    # Per sample: CPU time depends on the sample's timeout; RLIMIT_NPROC is checked against the
    # uid the child is about to become (the worker's own forks must not be limited).
    resource.setrlimit(resource.RLIMIT_CPU, (sample.cpu_seconds, sample.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (sample.processes, sample.processes))
    if sample.uid is not None:
        os.setgroups([])
        os.setresgid(sample.gid, sample.gid, sample.gid)
        os.setresuid(sample.uid, sample.uid, sample.uid)
    elif sample.drop_caps:
        iso.drop_capabilities()


def install_trace_guard() -> None:
    """The audit hook described in the module docstring, installed once in the worker (before
    gc.freeze, so the children inherit it at no cost). Its state is bound in this closure, not
    looked up in globals a program can rebind."""
    gettrace, get_ident, main_thread, watched = sys.gettrace, _thread.get_ident, _thread.get_ident(), _TRACE_EVENTS

    def guard(event, args):
        if event in watched and (event != "sys.settrace" or get_ident() != main_thread or gettrace() is not None):
            raise RuntimeError(f"{event} refused in the sandbox (tracing can skip the tests): only "
                               "sys.settrace from the main thread with no trace function installed is allowed")

    sys.addaudithook(guard)


def start(sample: Sample) -> None:
    """Body of the forked child; never returns. A failure to lock down ends the process with
    SETUP_FAILED_STATUS and a message, before a line of the program runs."""
    redirected = False
    try:
        _place_descriptors(sample)
        redirected = True
        _lock_down(sample)
        gettrace = sys.gettrace  # taken before the program runs, like os.write and os._exit below
        nonce = os.urandom(NONCE_HEX // 2).hex().encode()
        sealed = [nonce]
        os.write(RESULT_FD, READY_MARK + nonce)  # last step: a setup failure cannot follow it
        del nonce
    except BaseException as e:
        # Before the redirection descriptor 3 may be anything of the worker's (even its pipe to
        # the harness): write to the result pipe by its original number then.
        try:
            os.write(RESULT_FD if redirected else sample.res_w,
                     SETUP_MARK + f"{type(e).__name__}: {e}".encode()[:MAX_MESSAGE])
        finally:
            os._exit(SETUP_FAILED_STATUS)
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    code, program = sample.code, sample.program
    del sample
    try:
        if code is None:
            code = compile(program, "<sample>", "exec")
    except BaseException as e:
        _report_failure(e, program)
    run_sealed(code, module.__dict__, program, os.write, gettrace, os._exit, sealed)


def run_sealed(code, namespace: dict, program: str, write, gettrace, exit_, sealed: list) -> None:
    """Run the program and, only if it returned normally with no trace function installed,
    write the nonce a second time. Never returns.

    The one statement in the `try` is evaluated left to right: `write`, the descriptor, the
    nonce (popped out of `sealed`, which is then empty), TRACE_LEFT_ON and `gettrace` are all
    pushed onto the value stack BEFORE exec starts the program, so nothing the program does to
    this frame's locals or to module globals changes what is written; `exec(...) or ()` is
    the empty argument list of gettrace, evaluated by running the program."""
    try:
        write(RESULT_FD, (sealed.pop(), TRACE_LEFT_ON)[gettrace(*(exec(code, namespace) or ())) is not None])
    except BaseException as e:
        _report_failure(e, program)
    exit_(0)


def _report_failure(exc: BaseException, program: str) -> None:
    """The mark first (the message below may run the program's code: its exception's __str__),
    then the message, then exit. Never returns."""
    try:
        os.write(RESULT_FD, FAIL_MARK)
        os.write(RESULT_FD, _failure_message(exc, program).encode("utf-8", "replace")[:MAX_MESSAGE])
    except BaseException:
        pass
    for stream in (sys.__stdout__, sys.__stderr__):  # what the program printed last, for the output tail
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(1)


def verdict(status: int | None, result: bytes, output_tail: str, timeout: float) -> tuple[str, str]:
    """(verdict, message) from the child's wait status (None: killed at the deadline), what
    reached the result pipe (its head and tail) and the end of its output."""
    ran = result.startswith(READY_MARK) and len(result) >= len(READY_MARK) + NONCE_HEX
    if ran:
        nonce, after = result[len(READY_MARK): len(READY_MARK) + NONCE_HEX], result[len(READY_MARK) + NONCE_HEX:]
        if nonce in after and FAIL_MARK not in after:
            return "passed", ""
    if status is None:
        return "timeout", f"wall-clock limit of {timeout:g} s exceeded"
    signum = -os.waitstatus_to_exitcode(status) if os.WIFSIGNALED(status) else 0
    if signum == signal.SIGXCPU:
        return "timeout", "CPU time limit exceeded"
    if result.startswith(SETUP_MARK):  # no READY_MARK first: the program never ran
        return "error", "sandbox setup failed: " + _after(result, SETUP_MARK)
    if ran and FAIL_MARK in result:
        return "failed", _after(result, FAIL_MARK)
    if signum:
        try:
            how = f"killed by {signal.Signals(signum).name}"
        except ValueError:  # real-time signals have no name
            how = f"killed by signal {signum}"
        if signum == signal.SIGXFSZ:
            how += " (file size limit)"
    else:
        how = f"exited with status {os.waitstatus_to_exitcode(status)}"
    return "failed", f"{how} before the tests finished" + (f"; output: ...{output_tail}" if output_tail else "")


def _after(data: bytes, mark: bytes) -> str:
    return data.rsplit(mark, 1)[1].decode("utf-8", "replace")
