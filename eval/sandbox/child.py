"""What happens inside one sample's process, between fork and exit.

The sandbox worker forks a child per sample; the child inherits what the worker set up once
(scrubbed environment, rlimits, no_new_privs, seccomp), locks itself down further (own process
group, closed descriptors, CPU and process limits, unprivileged uid) and runs the test program.
The only way to a `passed` verdict is `run_program` reaching its end and writing the per-run
nonce to descriptor 3: the nonce never appears in the program text, in the environment or on
stdout, and exiting early in any way (`sys.exit`, `os._exit`, a signal) leaves it unwritten. Code inside the same interpreter can always dig a secret out of memory, so
the nonce proves "the tests ran to the end" against programs that stop early or print things,
not against a program written to attack this harness.
"""

from __future__ import annotations

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
READY_MARK = b"\x00R"  # written before the program runs: it cannot pose as a setup failure
SETUP_FAILED_STATUS = 70
MAX_MESSAGE = 2000


def describe_exception(exc: BaseException, program: str) -> str:
    """`ExcType: message (line N: source)`, the line being the last one inside the program."""
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(message) > 500:
        message = message[:500] + "..."
    tb, lineno = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<sample>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    if lineno is None and isinstance(exc, SyntaxError):
        lineno = exc.lineno
    if lineno is not None:
        lines = program.splitlines()
        source = lines[lineno - 1].strip()[:160] if 0 < lineno <= len(lines) else ""
        message += f" (line {lineno}: {source})" if source else f" (line {lineno})"
    return message


def _report(mark: bytes, text: str) -> None:
    try:
        os.write(RESULT_FD, mark + text.encode("utf-8", "replace")[:MAX_MESSAGE])
    except OSError:
        pass


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # the program may have closed or replaced them
            pass


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


def run_program(program: str, nonce: bytes, code=None) -> None:
    """Run the test program (`code`: already compiled) as a fresh `__main__`; never returns."""
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    try:
        exec(code if code is not None else compile(program, "<sample>", "exec"), module.__dict__)
    except SystemExit as e:
        _flush_std()
        _report(FAIL_MARK, f"SystemExit({e.code!r}): the program exited before the tests finished")
        os._exit(1)
    except BaseException as e:
        _flush_std()
        _report(FAIL_MARK, describe_exception(e, program))
        os._exit(1)
    _flush_std()
    # The evidence. os.write on the raw descriptor: nothing between here and the exit can be
    # intercepted by buffering, and os._exit skips atexit hooks and non-daemon threads.
    os.write(RESULT_FD, nonce)
    os._exit(0)


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
    no_new_privs and the seccomp filter (both inherited and irreversible)."""
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


def enter_sandbox_and_run(program: str, nonce: bytes, *, code, workdir: str, out_w: int, res_w: int,
                          data_w: int | None, cpu_seconds: int, processes: int, uid: int | None, gid: int | None,
                          drop_caps: bool) -> None:
    """Body of the forked child. Never returns: any failure to lock down ends the process with
    SETUP_FAILED_STATUS and a message, before a line of the program runs."""
    redirected = False
    try:
        # Own process group for the fallback kill. Not setsid: with the scheduler's autogroups
        # on, a new session costs ~0.5 ms; the worker has no controlling terminal anyway.
        os.setpgid(0, 0)
        if data_w is not None and data_w <= DATA_FD:
            data_w = fcntl.fcntl(data_w, fcntl.F_DUPFD, DATA_FD + 1)  # out of the dup2s' way
        os.dup2(out_w, 1)  # descriptor 0 is already /dev/null in the worker
        os.dup2(out_w, 2)
        os.dup2(res_w, RESULT_FD)
        redirected = True
        if data_w is not None:
            os.dup2(data_w, DATA_FD)
        # Everything else goes: the worker's request/response pipes to the harness above all.
        os.closerange(RESULT_FD + 1 if data_w is None else DATA_FD + 1, 1 << 20)
        os.chdir(workdir)
        os.umask(0o077)
        # Per sample: CPU time depends on the sample's timeout; RLIMIT_NPROC is checked against
        # the uid the child is about to become (the worker's own forks must not be limited).
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        if uid is not None:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        elif drop_caps:
            iso.drop_capabilities()
        os.write(RESULT_FD, READY_MARK)
    except BaseException as e:
        # Before the redirection descriptor 3 may be anything of the worker's (even its pipe to
        # the harness): write to the result pipe by its original number then.
        try:
            os.write(RESULT_FD if redirected else res_w,
                     SETUP_MARK + f"{type(e).__name__}: {e}".encode()[:MAX_MESSAGE])
        finally:
            os._exit(SETUP_FAILED_STATUS)
    run_program(program, nonce, code)


def verdict(status: int | None, result: bytes, nonce: bytes, output_tail: str,
            timeout: float) -> tuple[str, str]:
    """(verdict, message) from the child's wait status (None: killed at the deadline), what it
    wrote to the result pipe and the end of its output."""
    if nonce in result:
        return "passed", ""
    if status is None:
        return "timeout", f"wall-clock limit of {timeout:g} s exceeded"
    signum = -os.waitstatus_to_exitcode(status) if os.WIFSIGNALED(status) else 0
    if signum == signal.SIGXCPU:
        return "timeout", "CPU time limit exceeded"
    if result.startswith(SETUP_MARK):  # no READY_MARK first: the program never ran
        return "error", "sandbox setup failed: " + _after(result, SETUP_MARK)
    if FAIL_MARK in result:
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
