"""The sandbox worker: a long-lived process that isolates itself once and forks a fresh child
for every sample (started by `codemix.eval.sandbox.executor`, one per core).

Start-up, paid once per worker instead of once per sample:
  1. join the cgroups the harness named (a test guard), die with the harness (PDEATHSIG);
  2. unshare network, mount, PID, IPC and UTS namespaces (as root), or a user namespace first
     and then those (as an ordinary user); each refusal is recorded, nothing is fatal;
  3. fork the server: with a PID namespace it is PID 1 there, so after every sample one
     kill(-1, SIGKILL) ends every process the sample left behind (double forks and setsid
     included: all of them live in this namespace) and, should the server die, the kernel
     kills the whole namespace;
  4. in the private mount namespace: a fresh /proc, every mount read-only, a size-limited
     tmpfs on /tmp for the samples' scratch directories, empty tmpfs over home directories and
     over the checkout codemix runs from (with the Python installation and the samples' import
     path bound back read-only where they live under one), empty read-only directories and
     files over the problem sources of the benchmark being scored (tests and reference
     solutions: codemix.eval.sandbox.hidden_paths), the IPC namespace's mqueue file system (to
     remove the POSIX message queues a sample leaves);
  5. pre-import the usual standard library, build the seccomp filter, run a self-test sample,
     report the layers to the harness and serve requests: per request, fork a child
     (codemix.eval.sandbox.child), wait for it, kill whatever it left, remove the IPC objects it
     left (the worker's IPC namespace is its own: all of them are the sample's) and answer.
Protocol on the inherited stdin/stdout pipes: codemix.eval.sandbox.protocol.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import select
import shutil
import signal
import sys
import time

from codemix.eval.sandbox import child, environment, protocol
from codemix.eval.sandbox import isolation as iso
from codemix.eval.sandbox.hidden_paths import LAYER
from codemix.eval.sandbox.protocol import Bounded, Capped

# Modules HumanEval/MBPP programs and their tests import. Imported once here they cost nothing
# per sample (the fork shares them); imported in each child, typing alone takes ~5 ms. But every
# page and mapping of the worker is copied by each fork and torn down at each child's exit:
# modules that programs rarely import stay out. Measured in the worker (anon memory, mappings):
# dataclasses (imports inspect) 1.2 MB, subprocess 0.55 MB + 10, hashlib 0.55 MB + 16 (libcrypto),
# statistics 0.37 MB + 10, datetime 0.33 MB + 6; without them a trivial sample runs ~10% faster
# (1.30-1.39 ms against 1.47-1.57 ms per sample and worker), and the few programs that import
# one of them pay 1-3 ms for it (HumanEval: hashlib in 1 of 164 tasks, the others in none).
PREIMPORT = (
    "math", "cmath", "re", "string", "collections", "collections.abc", "itertools",
    "functools", "heapq", "bisect", "operator", "typing", "random", "fractions",
    "decimal", "copy", "json", "array", "io", "time", "struct",
    "textwrap", "numbers", "enum", "tempfile", "ctypes", "socket", "threading",
)
SELF_TEST = "import colorsys\nassert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)\n"
# Compiled programs kept by the worker (see Server._compile): a few suffice for the repeats of
# consecutive samples, and a small cache keeps the memory every fork copies small.
_COMPILED_KEEP = 4


class _Launch:
    """A sample between launch and finish: what the child gets, and the worker's ends."""

    def __init__(self, sample: child.Sample, timeout: float, out_r: int, res_r: int, data_r: int | None,
                 data_bytes: int):
        self.sample, self.timeout, self.data_bytes = sample, timeout, data_bytes
        self.out_r, self.res_r, self.data_r = out_r, res_r, data_r
        # CPU time of the sample: every process of it ends reaped by this server (PID 1 of the
        # namespace, or the subreaper), so the children's rusage grows by exactly its total.
        self.cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.start = time.monotonic()


class Server:
    def __init__(self, cfg: dict, layers: dict[str, str]):
        self.cfg, self.layers = cfg, layers
        self.pid_namespace = os.getpid() == 1
        self.uid = self.gid = None
        self.drop_caps = "user-namespace" in layers and layers["user-namespace"] == "used"
        # In an IPC namespace of its own, whatever IPC objects exist after a sample are the
        # sample's: they are removed (remove_ipc_objects), POSIX message queues where the
        # namespace's mqueue file system could be mounted (mqueue_dir).
        self.ipc_cleanup = layers.get("ipc-namespace") == "used"
        self.mqueue_dir: str | None = None
        self.scratch = ""
        self.workdir = ""
        self.own_scratch = False
        self.fork = os.fork
        self._compiled: dict[str, tuple] = {}
        # None: a random hash seed (the interpreter's own) and fresh `random` state per sample.
        seed = cfg.get("hash_seed", "random")
        self.random_seed: int | None = None if seed == "random" else int(seed)

    # ------------------------------------------------------------ one-time set-up

    def setup(self) -> None:
        L = self.layers
        if L.get("mount-namespace") == "used":
            self._setup_filesystem()
        else:
            for name in ("read-only-filesystem", "private-tmp", "hidden-home", "hidden-source-tree"):
                L[name] = "unavailable: no mount namespace"
            self._hide_problem_files([])
            # Scratch space on the shared file system instead of a private tmpfs; removed when
            # the server ends (main), traversable for the samples' uid.
            import tempfile

            self.scratch = tempfile.mkdtemp(prefix="codemix-sandbox-")
            os.chmod(self.scratch, 0o711)
            self.own_scratch = True
        # One scratch directory per worker, emptied after every sample: a constant path lets
        # the environment (HOME, TMPDIR) be set once here instead of in every child.
        self.workdir = os.path.join(self.scratch, f"sample-w{self.cfg['index']}")
        if not self.pid_namespace:
            iso.set_child_subreaper()
            L["subreaper-sweep"] = "used"
        # Root of the machine, not of our own user namespace (where uid 0 maps to the caller).
        real_root = os.geteuid() == 0 and not self.drop_caps
        if real_root and self.cfg.get("sample_uid") is not None:
            self.uid = self.gid = int(self.cfg["sample_uid"])
            L["unprivileged-uid"] = "used"
        elif real_root:
            L["unprivileged-uid"] = "unused: switched off by the caller"
        else:
            L["unprivileged-uid"] = "unused: not root (samples run as the calling user)"
        seccomp_filter = None
        if "seccomp" in self.cfg.get("disable", ()):
            L["seccomp"] = "unused: switched off by the caller"
        else:
            try:
                seccomp_filter = iso.build_seccomp_filter()
            except Exception as e:  # no libseccomp / pyseccomp: the other layers still apply
                L["seccomp"] = f"unavailable: {type(e).__name__}: {e}"
        for name in PREIMPORT:
            try:
                __import__(name)
            except ImportError:
                pass
        rlimits = {k: v for k, v in self.cfg["rlimits"].items() if k != "nproc"}
        child.prepare_server(self.workdir, rlimits, seccomp_filter, hash_seed=self.random_seed)
        if seccomp_filter is not None:
            L["seccomp"] = "used"
        if self.ipc_cleanup:
            L["ipc-cleanup"] = "used" if self.mqueue_dir else "partial: System V objects only (no mount namespace for the POSIX message queues)"
        L["rlimits"] = "used"
        L["no-new-privs"] = "used"
        L["process-group"] = "used"
        self.fork = iso.fast_fork()
        self._self_test()

    def _setup_filesystem(self) -> None:
        L = self.layers
        iso.mount(None, "/", None, iso.MS_REC | iso.MS_PRIVATE)  # nothing propagates back out
        if self.pid_namespace:
            iso.mount("proc", "/proc", "proc", iso.MS_NOSUID | iso.MS_NODEV | iso.MS_NOEXEC)
        failed = iso.remount_all_readonly()
        L["read-only-filesystem"] = "used" if not failed else f"partial: still writable {failed}"
        keep = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                os.path.dirname(os.path.realpath(sys.executable))]
        keep += [p for p in sys.path if p and os.path.exists(p)]
        # Looked up before /tmp is replaced: a checkout under /tmp (a CI clone) then vanishes
        # with the old /tmp, which hides it as well as the tmpfs below would.
        source = [d for d in self.cfg.get("hide_source", []) if os.path.isdir(d)]
        iso.private_tmp(int(self.cfg["scratch_mb"]), keep)
        self.scratch = "/tmp"
        L["private-tmp"] = "used"
        if self.ipc_cleanup:
            self.mqueue_dir = f"/tmp/.mqueue-w{self.cfg['index']}"
            iso.mount_mqueue(self.mqueue_dir)
        hidden = iso.hide_directories(self.cfg["hide"], keep)
        L["hidden-home"] = "used" if hidden else "unused: no home directory found"
        # The repository codemix runs from, where it is not an installed package location
        # (codemix.eval.sandbox.environment.source_tree): its tests, data and git history.
        if source:
            still_visible = [d for d in source if os.path.isdir(d)]
            if still_visible:
                iso.hide_directories(still_visible, keep)
            L["hidden-source-tree"] = "used"
        else:
            L["hidden-source-tree"] = "unused: codemix runs from an installed package"
        self._hide_problem_files(keep)

    def _hide_problem_files(self, keep: list[str]) -> None:
        """The problem sources of the benchmark being scored (codemix.eval.sandbox.hidden_paths):
        an empty read-only tmpfs over each directory, an empty read-only file over each file.
        Checked after mounting: a path still readable stops the worker instead of serving."""
        L, paths = self.layers, self.cfg.get("hide_problems", [])
        if LAYER in self.cfg.get("disable", ()):
            L[LAYER] = "unused: switched off by the caller"
        elif not paths:
            L[LAYER] = "unused: no problem files to hide"
        elif L.get("mount-namespace") != "used":
            L[LAYER] = "unavailable: no mount namespace"
        else:
            iso.hide_directories([p for p in paths if os.path.isdir(p)], keep)
            iso.hide_files([p for p in paths if os.path.isfile(p)], self.scratch)
            readable = [p for p in paths if os.path.exists(p)
                        and (os.listdir(p) if os.path.isdir(p) else os.path.getsize(p))]
            if readable:
                raise RuntimeError(f"problem files still readable after hiding them: {readable}")
            L[LAYER] = "used"

    def _self_test(self) -> None:
        """Run one sample through the whole path. If it fails only with the uid switch (the
        interpreter unreadable for that uid, e.g. under a private home without a mount
        namespace), run without the switch rather than fail every sample, and say so: the
        harness decides whether that weaker isolation is acceptable."""
        result = self.run({"program": SELF_TEST, "timeout": 10})
        if result["verdict"] != "passed" and self.uid is not None:
            reason = result["error"]
            self.uid = self.gid = None
            result = self.run({"program": SELF_TEST, "timeout": 10})
            if result["verdict"] == "passed":
                self.layers["unprivileged-uid"] = f"unavailable: self-test failed as uid: {reason}"
        if result["verdict"] != "passed":
            raise RuntimeError(f"sandbox self-test failed: {result['verdict']}: {result['error']}")

    # ------------------------------------------------------------ per sample

    def run(self, request: dict) -> dict:
        """One sample start to end (the self-test's path; `serve` runs the same steps, but forks
        in its own frame so the child can drop the references a program could reach)."""
        launched = self.launch(request)
        if isinstance(launched, dict):
            return launched
        pid = self.fork()
        if pid == 0:
            try:
                child.start(launched.sample)
            finally:
                os._exit(child.SETUP_FAILED_STATUS)
        return self.finish(launched, pid)

    def launch(self, request: dict) -> _Launch | dict:
        """Everything up to the fork: the compiled program, its scratch directory and pipes; or
        the answer itself when the program does not compile."""
        timeout = float(request["timeout"])
        program, code = request["program"], None
        if len(program) <= child.COMPILE_IN_WORKER_MAX:
            code, error = self._compile(program)
            if code is None:  # does not compile: nothing to run
                return {"verdict": "failed", "error": error[: int(self.cfg["error_chars"])],
                        "duration_s": 0.0, "cpu_s": 0.0, "output_bytes": 0}
        child.reseed_random(self.random_seed)
        os.mkdir(self.workdir, 0o700)
        if self.uid is not None:
            os.chown(self.workdir, self.uid, self.gid)
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        data_bytes = int(request.get("data_bytes", 0))
        data_r, data_w = os.pipe() if data_bytes > 0 else (None, None)
        sample = child.Sample(program, code, workdir=self.workdir, out_w=out_w, res_w=res_w, data_w=data_w,
                              cpu_seconds=int(timeout) + 1, processes=int(self.cfg["rlimits"]["nproc"]),
                              uid=self.uid, gid=self.gid, drop_caps=self.drop_caps)
        return _Launch(sample, timeout, out_r, res_r, data_r, data_bytes)

    def finish(self, launched: _Launch, pid: int) -> dict:
        """Wait for the child, clean up after it, and give the answer for the harness."""
        sample, timeout = launched.sample, launched.timeout
        for w in (sample.out_w, sample.res_w, sample.data_w):
            if w is not None:
                os.close(w)
        out, res = Capped(int(self.cfg["output_bytes"]) // 2), Capped(4096)
        # The output and data pipes are watched while the child runs (they may fill up); the
        # result pipe (the nonce twice, or a short message) is read once everything is dead.
        watched: dict[int, Capped | Bounded] = {launched.out_r: out}
        data = None
        if launched.data_r is not None:
            data = watched[launched.data_r] = Bounded(launched.data_bytes)
        status = self._wait(pid, launched.start + timeout, watched)
        duration = time.monotonic() - launched.start
        self._kill_everything(pid)
        if self.ipc_cleanup:
            iso.remove_ipc_objects(self.mqueue_dir)
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = launched.cpu_before
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        self._drain({**watched, launched.res_r: res})
        for r in (launched.out_r, launched.res_r, launched.data_r):
            if r is not None:
                os.close(r)
        try:
            os.rmdir(self.workdir)  # ~10 us against ~50 for rmtree: most samples write nothing there
        except OSError:
            shutil.rmtree(self.workdir, ignore_errors=True)
        # Should anything be left, the next sample's os.mkdir fails and the worker is replaced.
        tail = out.last(300).decode("utf-8", "replace").strip()
        # The head holds READY_MARK and the nonce, the tail what was written last.
        result = bytes(res.head) + res.last(4096) if res.total > res.cap else bytes(res.head)
        verdict, error = child.verdict(status, result, tail, timeout)
        answer = {"verdict": verdict, "error": error[: int(self.cfg["error_chars"])],
                  "duration_s": round(duration, 4), "cpu_s": round(cpu, 4), "output_bytes": out.total}
        if data is not None:
            if data.total > data.cap and verdict in ("passed", "failed"):
                answer["verdict"], answer["error"] = "failed", f"data channel over {data.cap} bytes"
            answer["data"] = protocol.encode_bytes(bytes(data.head))
        return answer

    def _compile(self, program: str):
        """compile_program, remembering the last few results: samples of one task often repeat
        word for word (low temperature, reference solutions), and a HumanEval test program takes
        ~0.2 ms to compile. Code objects are immutable and only ever run in the children."""
        hit = self._compiled.get(program)
        if hit is None:
            hit = child.compile_program(program)
            if len(self._compiled) >= _COMPILED_KEEP:
                del self._compiled[next(iter(self._compiled))]  # oldest first
            self._compiled[program] = hit
        return hit

    def _wait(self, pid: int, deadline: float, streams: dict[int, Capped | Bounded]) -> int | None:
        """Collect output until the child exits (its wait status) or the deadline (None)."""
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None  # kernels before 5.3: poll every 10 ms instead
        open_fds = list(streams)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                watch = open_fds + ([pidfd] if pidfd is not None else [])
                ready = select.select(watch, [], [], left if pidfd is not None else min(left, 0.01))[0]
                for fd in ready:
                    if fd == pidfd:
                        continue
                    data = os.read(fd, 1 << 16)
                    if data:
                        streams[fd].add(data)
                    else:
                        open_fds.remove(fd)
                if pidfd is None or pidfd in ready:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        return status
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _kill_everything(self, pid: int) -> None:
        """Leave no process of the sample alive and reap all of them."""
        if self.pid_namespace:
            # As PID 1 of our own namespace, kill(-1) reaches exactly the processes of this
            # namespace except ourselves; a task with a fatal signal pending cannot finish a
            # fork, so the loop ends when waitpid finds no children at all.
            assert os.getpid() == 1  # kill(-1) anywhere else would hit the whole machine
            while True:
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    return
        # Fallback: the sample's process group, then everything re-parented to us (we are a
        # subreaper) until nothing is left.
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for _ in range(1000):
            pids = iso.descendants(os.getpid())
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            while True:
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
            if not pids:
                return
            time.sleep(0.001)

    @staticmethod
    def _drain(streams: dict[int, Capped | Bounded]) -> None:
        """Read what the dead processes left in the pipes (the nonce may be there)."""
        for fd, sink in streams.items():
            while select.select([fd], [], [], 0.05)[0]:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                sink.add(data)


def _unshare_all(layers: dict[str, str], disable: list[str]) -> None:
    """Enter every namespace the kernel grants us, one by one, recording refusals."""
    off = "unused: switched off by the caller"
    entered = iso.enter_namespaces(skip=disable)
    if os.geteuid() == 0:
        layers["user-namespace"] = "unused: running as root, samples switch to an unprivileged uid"
    elif "user-namespace" in disable:
        layers["user-namespace"] = off
    for name, refused in entered.items():
        layers[name] = "used" if refused is None else f"unavailable: {refused}"
    for name in iso.NAMESPACE_FLAGS:
        if name in disable:
            layers[name] = off


def _start(cfg: dict, request_fd: int, response_fd: int) -> Server:
    """Everything before serving: the import path, the namespaces, the server (forked as PID 1
    of the new PID namespace), its set-up; then the hello to the harness."""
    environment.set_import_path(cfg["sys_path"])
    layers: dict[str, str] = {}
    _unshare_all(layers, cfg.get("disable", []))
    if layers["pid-namespace"] == "used":
        server_pid = os.fork()  # becomes PID 1 of the new namespace
        if server_pid:
            os.close(request_fd)
            os.close(response_fd)
            status = os.waitpid(server_pid, 0)[1]
            os._exit(max(0, os.waitstatus_to_exitcode(status)))
        iso.set_parent_death_signal(signal.SIGKILL)
    server = Server(cfg, layers)
    try:
        server.setup()
    except Exception as e:
        import traceback

        where = traceback.extract_tb(e.__traceback__)[-1]
        protocol.send(response_fd, {"fatal": f"{type(e).__name__}: {e} (at {os.path.basename(where.filename)}:"
                                    f"{where.lineno} {where.line})", "layers": layers})
        os._exit(3)
    # After the set-up: an import the worker itself misses must not run the .pth files' code
    # here, where every sample's fork would copy what it loads.
    if cfg.get("site_dirs"):
        sys.meta_path.append(environment.DeferredPthCode(cfg["site_dirs"]))
    # codemix's modules leave sys.modules here, once (the worker imports nothing more): a program
    # importing codemix gets the installed package afresh or an ImportError, never the worker's
    # module objects (their functions keep their globals alive).
    for name in [n for n in sys.modules if n == "codemix" or n.startswith("codemix.")]:
        del sys.modules[name]
    protocol.send(response_fd, {"layers": layers, "pid": os.getpid()})
    return server


def serve(box: list, request_fd: int, response_fd: int) -> None:
    """Answer requests until the harness closes the pipe.

    The fork happens in this frame: in the child it is a Python caller of the program's module
    frame, so no variable here may hold the server (its compile cache holds reference
    solutions and other samples' programs) or the request by then, and main holds neither. The
    child moves the server from `held` onto this frame's value stack, where it stays referenced
    (freeing it and its cache would copy ~20 pages shared with the worker: ~0.1 ms a sample)
    but no variable of any frame names it."""
    server = box.pop()
    fork = server.fork
    while (request := protocol.receive(request_fd)) is not None:
        launched = server.launch(request)
        if isinstance(launched, dict):
            protocol.send(response_fd, launched)
            continue
        pid = fork()
        if pid == 0:
            try:
                held = [server]
                del server, request
                (held.pop(), child.start(launched.sample))  # child.start never returns
            finally:
                os._exit(child.SETUP_FAILED_STATUS)
        protocol.send(response_fd, server.finish(launched, pid))


def main() -> int:
    cfg = json.loads(sys.argv[1])
    for procs in cfg.get("cgroups", []):  # first: the guard must hold everything below
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    iso.set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != cfg["harness_pid"]:
        return 1  # the harness died before PDEATHSIG was armed
    request_fd, response_fd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    box = [_start(cfg, request_fd, response_fd)]
    scratch = box[0].scratch if box[0].own_scratch else None
    del cfg
    gc.collect()
    gc.freeze()  # keep the pre-imported objects' pages shared with the forked children
    try:
        serve(box, request_fd, response_fd)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
