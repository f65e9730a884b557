"""The sandboxed executor: a pool of long-lived sandbox workers that run test programs.

`Executor(workers=N)` starts N `codemix.eval.sandbox.worker` processes (one per core by default), each
of which isolates itself once and forks a fresh child per program. One harness thread per
worker feeds it from a shared queue, so a worker sitting in a 3 s timeout never stalls the
others. A program that times out is queued once more (at the back, so the retry runs under
different load) before its timeout counts; a worker that dies or stops answering is killed,
restarted, and the program it held is reported as `error`.

    with Executor(workers=2) as ex:
        for key, result in ex.run([Job("a", program, timeout=3.0)]):
            print(key, result.verdict, result.error)

Verdicts:
    passed   the program ran to its end: the child wrote the per-sample nonce a second time and
             no failure mark (never exit status alone; see codemix.eval.sandbox.child for what
             this proves against a hostile program, and what it does not)
    failed   it raised (assertion or any other exception, message kept), exited early
             (sys.exit, os._exit), or was killed by a signal (segfault, ...)
    timeout  the wall-clock limit or the CPU-time limit was hit (after one retry, unless the
             program spent the whole limit on the CPU: see `worth_retrying`)
    error    the sandbox could not run it: setup failed in the child, or the worker died

Determinism: by default every worker runs under PYTHONHASHSEED=0 and reseeds `random` with 0
before every sample, so set iteration order, `max(set(s), key=s.count)` on a tie, and unseeded
`random` calls come out the same in every run, worker and machine (paired comparisons of
mixtures rely on it). `hash_seed="random"` gives every worker its own random hash seed and every
sample 128 fresh bits of `random` state, as a fresh interpreter would.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import json
import os
import pwd
import queue
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from pathlib import Path

from codemix.core.errors import CodemixError
from codemix.eval.sandbox import environment, hidden_paths

VERDICTS = ("passed", "failed", "timeout", "error")
# Layers a caller may switch off (to reproduce a machine without them, or to debug); rlimits,
# the process group and no_new_privs are always on.
OPTIONAL_LAYERS = ("user-namespace", "network-namespace", "mount-namespace", "pid-namespace",
                   "ipc-namespace", "uts-namespace", "seccomp", "unprivileged-uid", hidden_paths.LAYER)
_HEADER = struct.Struct(">I")
# Samples of worker i run as uid/gid SAMPLE_UID_BASE + i: far above login (1000+) and
# subordinate-id (100000+) ranges, so no real account shares it. One uid per worker matters
# because RLIMIT_NPROC counts the processes of a uid: with a shared uid one sample's fork bomb
# would eat the process budget of the samples running beside it.
SAMPLE_UID_BASE = 1_900_000_000
# How long past its own time limit the harness waits for a worker's answer before declaring
# it hung (the worker enforces the limit itself; this only catches a wedged worker).
_ANSWER_GRACE_S = 20.0
_START_TIMEOUT_S = 60.0
_PIPELINE = 2  # requests queued per worker: one running, one waiting
# A timed-out program that got at least this share of its time limit as CPU time ran at full
# speed for the whole limit (an infinite loop): more time under less load would not finish it,
# so it is not retried. On this 2-core machine a calm infinite loop gets 0.98-1.0 of its 3 s
# limit; one sharing a core with another busy process gets about 0.5 and is retried.
FULL_SPEED = 0.9
HASH_SEED_MAX = 4294967295  # PYTHONHASHSEED's range
_EMPTY = object()


def _get_nowait(q: queue.Queue):
    try:
        return q.get_nowait()
    except queue.Empty:
        return _EMPTY


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-sample resource limits (rlimits) and worker scratch space."""
    memory_mb: int = 4096      # address space; 4 GiB as in EvalPlus
    file_size_mb: int = 64     # largest file a sample may write
    open_files: int = 256
    processes: int = 64        # per uid (threads count too)
    scratch_mb: int = 256      # tmpfs holding the samples' scratch directories (per worker)
    output_kib: int = 64       # stdout+stderr kept per sample; the rest is read and dropped
    error_chars: int = 1000    # verdict messages are cut here

    def rlimits(self) -> dict[str, int]:
        return {"as": self.memory_mb << 20, "fsize": self.file_size_mb << 20,
                "nofile": self.open_files, "nproc": self.processes, "core": 0}


@dataclasses.dataclass(frozen=True)
class Job:
    """`program` is the text or a function returning it (built only when a worker takes the
    job, so a long queue does not hold every program in memory)."""
    key: Hashable
    program: str | Callable[[], str]
    timeout: float
    # > 0: the program gets a write-only pipe on descriptor 4 (child.DATA_FD) and what it writes
    # there, up to this many bytes, comes back as RunResult.data (more fails the sample).
    data_bytes: int = 0

    def text(self) -> str:
        return self.program() if callable(self.program) else self.program


@dataclasses.dataclass
class RunResult:
    verdict: str
    error: str
    duration_s: float
    retried: bool = False
    cpu_s: float = 0.0  # user+system time of every process of the program (both attempts)
    data: bytes = b""   # what the program wrote to the data channel (Job.data_bytes > 0)


def worth_retrying(result: RunResult, timeout: float) -> bool:
    """A timeout is retried once, unless the program used its whole limit at full speed.

    A program near its limit on a loaded machine may finish when run again under other load;
    one that spent >= FULL_SPEED of the limit on the CPU (or hit the CPU-time limit) would
    time out again, and retrying it only doubles what an infinite loop costs."""
    return result.verdict == "timeout" and not result.retried and result.cpu_s < FULL_SPEED * timeout


def check_hash_seed(hash_seed: int | str) -> int | str:
    """`hash_seed` as the executor takes it: an int in PYTHONHASHSEED's range or "random"."""
    if hash_seed == "random":
        return hash_seed
    if isinstance(hash_seed, bool) or not isinstance(hash_seed, int) or not 0 <= hash_seed <= HASH_SEED_MAX:
        raise ValueError(f"hash seed must be an integer in [0, {HASH_SEED_MAX}] or 'random', got {hash_seed!r}")
    return hash_seed


def home_directories() -> list[str]:
    """Directories a sample must not read: the user's home, root's, /home, and the per-user
    runtime directories (agent and session-bus sockets)."""
    homes = {os.path.expanduser("~"), "/root", "/home", "/run/user"}
    try:
        homes.add(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        pass
    return sorted(h for h in homes if h and h != "/" and os.path.isdir(h))


class _Worker:
    """Harness side of one sandbox worker process."""

    def __init__(self, executor: Executor, index: int):
        self.executor, self.index = executor, index
        cfg = {
            "harness_pid": os.getpid(), "index": index,
            "sample_uid": None if "unprivileged-uid" in executor.disable else SAMPLE_UID_BASE + index,
            "disable": sorted(executor.disable),
            "rlimits": executor.limits.rlimits(), "scratch_mb": executor.limits.scratch_mb,
            "output_bytes": executor.limits.output_kib * 1024,
            "error_chars": executor.limits.error_chars,
            "hide": home_directories(),
            "hide_source": executor.hide_source,
            "hide_problems": executor.hidden_paths,
            "sys_path": executor.sys_path, "site_dirs": executor.site_dirs,
            "cgroups": [str(p) for p in executor.join_cgroups],
            "hash_seed": executor.hash_seed,
        }
        # The worker imports its three modules by location (environment.bootstrap), so neither
        # the repository nor the installed package's other modules go on sys.path.
        bootstrap = environment.bootstrap("worker", "main")
        # env: nothing of ours (tokens, keys) reaches the worker, so nothing can leak from it into
        # a sample; only the hash seed, which must be in place when the interpreter starts (its
        # string-hash secret is fixed then, and every forked sample inherits it). Not -I, which
        # would ignore PYTHONHASHSEED: -s (no user site) and the bootstrap's dropping of the
        # cwd entry from sys.path give the rest of what -I did, with no other PYTHON* set.
        # -S: no `site` at start-up, so the .pth files of site-packages do not run: here they
        # import certifi, pathlib, zipfile, importlib.resources and more, 4.3 MB of memory and
        # 67 mappings that every sample's fork would copy. The worker takes the harness's import
        # path instead (codemix.eval.sandbox.environment) and runs .pth code only for a sample
        # whose import would fail without it (codemix.eval.sandbox.worker._DeferredPthCode).
        env = {"PATH": "/usr/bin:/bin"}
        if executor.hash_seed != "random":
            env["PYTHONHASHSEED"] = str(executor.hash_seed)
        self.proc = subprocess.Popen(
            [*executor.command_prefix, executor.python, "-s", "-S", "-c", bootstrap, json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            cwd="/", start_new_session=True, close_fds=True)
        self.hello: dict | None = None
        self._buffer = bytearray()

    def read_hello(self) -> dict:
        """The worker's report of its layers, checked against what this machine supports."""
        hello = self._receive(_START_TIMEOUT_S)
        if hello is None:
            raise CodemixError(f"sandbox worker {self.index} did not start "
                               f"(exit status {self.proc.poll()})")
        if "fatal" in hello:
            raise CodemixError(f"sandbox worker {self.index} could not start: {hello['fatal']}")
        environment.check_worker_layers(self.index, hello["layers"], self.executor._required)
        self.hello = hello
        return hello

    def send(self, job: Job) -> bool:
        """Queue one program in the worker; False when the worker is gone."""
        try:
            self._send({"program": job.text(), "timeout": job.timeout, "data_bytes": int(job.data_bytes)})
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def receive_answer(self, timeout: float) -> dict | None:
        """The answer to the oldest queued program; None when the worker died or hung (it is
        then killed)."""
        answer = self._receive(timeout + _ANSWER_GRACE_S)
        if answer is None:
            self.kill()
        return answer

    def _send(self, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.proc.stdin.write(_HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()

    def _receive(self, timeout: float) -> dict | None:
        """The next message, or None on EOF or after `timeout` seconds. Bytes read past the
        message stay in the buffer: with pipelining the next answer may already be there."""
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout
        buf = self._buffer
        need = _HEADER.size
        while True:
            while len(buf) < need:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    return None
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return None
                buf += chunk
            if need == _HEADER.size:
                need += _HEADER.unpack(buf[:_HEADER.size])[0]
                continue
            message = json.loads(bytes(buf[_HEADER.size:need]))
            del buf[:need]
            return message

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # its server (PID 1 of the namespace) follows via PDEATHSIG
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # end of requests: the server exits
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class _Run:
    """One call of Executor.run: where its results go, and whether its caller gave up."""

    def __init__(self) -> None:
        self.results: queue.Queue = queue.Queue()
        self.cancelled = False


class Executor:
    """Pool of sandbox workers. `layers` / `layer_detail` say which isolation is in force.

    Each worker is owned by one harness thread that lives as long as the executor: it starts
    the worker (PDEATHSIG ties a process to the thread that forked it, so short-lived threads
    must not start workers), feeds it, and restarts it when it dies.

    `hash_seed`: PYTHONHASHSEED of the workers, also the seed `random` starts from in every
    sample (default 0: the same verdicts in every run); "random" for a random one per worker
    and fresh `random` state per sample.

    Isolation: every layer this machine supports (codemix.eval.sandbox.environment.probe) must be
    in force in every worker, or CodemixError names it. `disable` switches layers off; `allow_weaker`
    (default: the CODEMIX_ALLOW_WEAKER_ISOLATION variable, comma-separated or `all`) uses them
    where they work and accepts running on without them, as the `--allow-weaker-isolation` flag
    of `codemix score` and `codemix eval` does. `supported` holds what the probe found.

    `hide`: files and directories no sample may read (the problem sources of the benchmark being
    scored: codemix.eval.sandbox.hidden_paths), hidden in every worker's mount namespace at its
    start, so at no cost per sample. Unlike the probed layers this one is required whenever
    `hide` is not empty: with no mount namespace to hide them in, the executor refuses to start
    unless `hidden-problem-files` is switched off or accepted weaker. `hidden_paths` holds what
    is hidden."""

    def __init__(self, workers: int | None = None, limits: Limits | None = None, *,
                 retry_timeouts: bool = True, join_cgroups: Sequence[str | os.PathLike] = (),
                 disable: Sequence[str] = (), allow_weaker: Sequence[str] | None = None,
                 python: str = sys.executable, command_prefix: Sequence[str] = (), hash_seed: int | str = 0,
                 hide: Sequence[str | os.PathLike] = ()):
        self.hash_seed = check_hash_seed(hash_seed)
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self.limits, self.retry_timeouts = limits or Limits(), retry_timeouts
        self.join_cgroups = [Path(p) / "cgroup.procs" for p in join_cgroups]
        unknown = set(disable) - set(OPTIONAL_LAYERS)
        if unknown:
            raise ValueError(f"unknown isolation layer(s) {sorted(unknown)}; optional: {', '.join(OPTIONAL_LAYERS)}")
        self.disable, self.python, self.command_prefix = set(disable), python, list(command_prefix)
        self.allow_weaker = environment.allowed_weaker(allow_weaker, OPTIONAL_LAYERS)
        report = environment.probe(python, self.command_prefix, SAMPLE_UID_BASE)
        self.supported: dict[str, str] = report["layers"]
        self._required = environment.required_layers(self.supported, self.disable, self.allow_weaker)
        if os.path.realpath(python) == os.path.realpath(sys.executable):
            # Samples import what this process imports (minus its cwd and the repository).
            self.sys_path = environment.samples_import_path()
            self.site_dirs = environment.site_directories(self.sys_path)
        else:  # another interpreter: its own path, as its probe process saw it
            self.sys_path, self.site_dirs = report["sys_path"], report["site_dirs"]
        source = environment.source_tree()
        self.hide_source = [source] if source is not None else []
        self.hidden_paths: list[str] = []
        if hidden_paths.LAYER not in self.disable:
            needed = hidden_paths.needed_paths(python, self.sys_path)
            self.hidden_paths = hidden_paths.check_hide(hide, needed)
        if self.hidden_paths and hidden_paths.LAYER not in self.allow_weaker:
            self._required.add(hidden_paths.LAYER)
        self.restarts = 0
        self._workers: list[_Worker | None] = [None] * self.n_workers
        self._todo: queue.Queue = queue.Queue()
        started: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._serve, args=(i, started), daemon=True,
                                          name=f"codemix-sandbox-{i}") for i in range(self.n_workers)]
        for t in self._threads:
            t.start()
        hellos = [started.get() for _ in self._threads]
        errors = [h for h in hellos if isinstance(h, BaseException)]
        if errors:
            self.close()
            raise errors[0]
        self.layer_detail: dict[str, str] = hellos[0]["layers"]
        self.layers = [name for name, state in self.layer_detail.items() if state == "used"]

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers if w is not None]

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Hashable, RunResult]]:
        """Queue every job now; the returned iterator yields (key, result) in completion
        order. Abandoning the iterator cancels the jobs not yet started."""
        if not self._threads:
            raise RuntimeError("executor is closed")
        run, pending = _Run(), 0
        for job in jobs:
            self._todo.put((job, None, run))
            pending += 1
        return self._collect(run, pending)

    def _collect(self, run: _Run, pending: int) -> Iterator[tuple[Hashable, RunResult]]:
        try:
            while pending:
                item = run.results.get()
                if isinstance(item, BaseException):
                    raise item
                job, result = item
                if self.retry_timeouts and worth_retrying(result, job.timeout):
                    # Slow or noisy machines flip verdicts near the limit: one more try, queued
                    # at the back so it runs under different load.
                    self._todo.put((job, result, run))
                    continue
                pending -= 1
                yield job.key, result
        finally:
            run.cancelled = True  # queued jobs of an abandoned run are skipped

    def _serve(self, index: int, started: queue.Queue) -> None:
        try:
            worker = self._workers[index] = _Worker(self, index)
            hello = worker.read_hello()
        except BaseException as e:
            started.put(e)
            return
        started.put(hello)
        # Up to _PIPELINE requests sit in the worker, so it starts the next sample the moment
        # one ends instead of waiting for this thread to be scheduled (on a busy machine that
        # wait costs more than the sample itself).
        in_flight: collections.deque = collections.deque()
        closing = broken = False
        while True:
            while not (closing or broken) and len(in_flight) < _PIPELINE:
                item = self._todo.get() if not in_flight else _get_nowait(self._todo)
                if item is _EMPTY:
                    break
                if item is None:
                    closing = True
                elif not item[2].cancelled:
                    if worker.send(item[0]):
                        in_flight.append(item)
                    else:
                        self._todo.put(item)  # never reached the worker
                        broken = True
            if not in_flight:
                if closing:
                    break
                if broken:
                    worker = self._restart(index, worker)
                    broken = False
                continue
            job, first, run = in_flight.popleft()
            answer = worker.receive_answer(job.timeout)
            if answer is None:
                # Died or hung: this job gets the error, the ones queued behind it go back.
                answer = {"verdict": "error", "duration_s": 0.0,
                          "error": "sandbox worker died or hung; it was restarted"}
                while in_flight:
                    self._todo.put(in_flight.popleft())
                try:
                    worker = self._restart(index, worker)
                except BaseException as e:
                    run.results.put(e)
                    return
                broken = False
            if not run.cancelled:
                result = RunResult(answer["verdict"], answer.get("error", ""),
                                   float(answer.get("duration_s", 0.0)), retried=first is not None,
                                   cpu_s=float(answer.get("cpu_s", 0.0)),
                                   data=base64.b64decode(answer.get("data", "")))
                if first is not None:
                    result.duration_s += first.duration_s
                    result.cpu_s += first.cpu_s
                run.results.put((job, result))
        worker.close()

    def _restart(self, index: int, worker: _Worker) -> _Worker:
        worker.kill()
        self.restarts += 1
        worker = self._workers[index] = _Worker(self, index)
        worker.read_hello()
        return worker

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)
        for t in self._threads:
            t.join(timeout=60)
        for w in self._workers:
            if w is not None:
                w.kill()
        self._threads = []

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
