"""The sandboxed executor: verdicts, pass evidence, output capture, isolation layers detected here,
time limits and retries, worker failures. The hostile battery is in test_executor_hostile.py."""

import os
import signal
import time

import pytest

from codemix.eval.sandbox.executor import (
    FULL_SPEED,
    SAMPLE_UID_BASE,
    Executor,
    Job,
    Limits,
    RunResult,
    worth_retrying,
)

TESTS_PASS = "def f(x):\n    return x + 1\n\nassert f(1) == 2\n"


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=2) as ex:
        yield ex


def run_one(executor, program, timeout=5.0):
    ((_, result),) = list(executor.run([Job("x", program, timeout)]))
    return result


def test_verdicts_and_messages(executor):
    cases = {
        "pass": (TESTS_PASS, "passed", ""),
        "assert": ("assert 1 == 2, 'one is not two'\n", "failed", "AssertionError: one is not two (line 1:"),
        "exception": ("def f():\n    return 1 / 0\nf()\n", "failed", "ZeroDivisionError: division by zero (line 2: return 1 / 0)"),
        "syntax": ("def f(:\n", "failed", "SyntaxError"),
        "segfault": ("import ctypes\nctypes.string_at(0)\n", "failed", "killed by SIGSEGV"),
    }
    got = dict(executor.run(Job(k, prog, 5.0) for k, (prog, _, _) in cases.items()))
    for name, (_, verdict, message) in cases.items():
        assert got[name].verdict == verdict, (name, got[name])
        assert message in got[name].error, (name, got[name].error)
        assert not got[name].retried


@pytest.mark.parametrize("early_exit", ["import sys\nsys.exit(0)\n", "exit(0)\n", "raise SystemExit\n",
                                        "import os\nos._exit(0)\n", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"])
def test_exiting_before_the_tests_is_never_a_pass(executor, early_exit):
    # The tests below would fail; exit status 0 alone must not count as a pass.
    result = run_one(executor, TESTS_PASS.replace("assert f(1) == 2", early_exit + "assert f(1) == 3"))
    assert result.verdict == "failed"
    assert "before the tests finished" in result.error


def test_printing_the_exit_marker_or_writing_to_the_result_pipe_cannot_forge_a_pass(executor):
    forge = ("import os\nprint('passed')\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b'0' * 32)\n"
             "    except OSError:\n        pass\nos._exit(0)\n")
    assert run_one(executor, forge).verdict == "failed"
    # nor pose as a sandbox failure ("error" is reserved for the harness's own problems)
    fake_error = "import os\nos.write(3, b'\\x00Esandbox broke')\nos._exit(70)\n"
    assert run_one(executor, fake_error).verdict == "failed"


def test_output_is_captured_but_kept_small(executor):
    # 200 MiB of output: read and dropped by the worker, not kept; the sample still passes.
    program = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(200):\n    sys.stdout.write(chunk)\n" + TESTS_PASS
    result = run_one(executor, program, timeout=30.0)
    assert result.verdict == "passed"
    # Output tail of a crashing sample shows up in its message.
    crash = run_one(executor, "print('last words')\nimport os\nos._exit(3)\n")
    assert crash.verdict == "failed" and "exited with status 3" in crash.error and "last words" in crash.error


def test_isolation_layers_detected_here(executor):
    detail = executor.layer_detail
    assert set(executor.layers) == {k for k, v in detail.items() if v == "used"}
    for always in ("rlimits", "process-group", "no-new-privs"):
        assert always in executor.layers
    # Every layer the machine supports is in force (the executor refuses to start otherwise)...
    for layer, state in executor.supported.items():
        if state == "supported":
            assert layer in executor.layers, (layer, detail.get(layer))
    if os.geteuid() == 0:  # ...and as root, Linux lets the worker unshare and mount: that is every layer
        assert "unprivileged-uid" in executor.layers
        for layer in ("network-namespace", "mount-namespace", "pid-namespace", "ipc-namespace", "ipc-cleanup",
                      "read-only-filesystem", "hidden-home", "hidden-source-tree", "private-tmp", "seccomp"):
            assert layer in executor.layers, (layer, detail.get(layer))


def test_sample_runs_unprivileged_in_its_own_empty_scratch_dir(executor):
    probe = ("import os, tempfile\n"
             "assert os.listdir('.') == [], os.listdir('.')\n"          # fresh every time
             "open('leftover.txt', 'w').write('x' * 1000)\n"            # the dir is writable
             "assert os.environ['HOME'] == os.getcwd() == tempfile.gettempdir()\n"
             "assert sorted(os.environ) == ['HOME', 'LANG', 'LC_ALL', 'PATH', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'PYTHONIOENCODING', 'TMPDIR']\n"
             "assert os.environ['PYTHONHASHSEED'] == '0'\n"
             "import sys\nassert sys.stdin.read() == ''\n")
    if os.geteuid() == 0:
        probe += f"assert {SAMPLE_UID_BASE} <= os.getuid() < {SAMPLE_UID_BASE} + 64, os.getuid()\n"
    results = dict(executor.run(Job(i, probe, 5.0) for i in range(6)))
    assert {r.verdict for r in results.values()} == {"passed"}, results


def test_timeouts_are_retried_once_and_do_not_block_other_workers(executor):
    # A sample that sleeps through its limit used no CPU: it may have been starved by load, so
    # it gets a second try (a waiting sample and a starved one look the same from outside).
    start = time.monotonic()
    jobs = [Job("sleep", "import time\ntime.sleep(100)\n", 1.0)] + [Job(i, TESTS_PASS, 1.0) for i in range(40)]
    results = dict(executor.run(jobs))
    elapsed = time.monotonic() - start
    slept = results.pop("sleep")
    assert slept.verdict == "timeout" and slept.retried and "wall-clock limit of 1 s" in slept.error
    assert 1.9 < slept.duration_s < 3.5  # two attempts of ~1 s
    assert slept.cpu_s < 0.2
    assert {r.verdict for r in results.values()} == {"passed"}
    assert elapsed < 4.0  # the 40 quick ones ran on the other worker meanwhile


def test_a_loop_that_used_its_whole_limit_at_full_speed_is_not_retried(executor):
    # The rule itself, on the numbers the worker reports...
    assert not worth_retrying(RunResult("timeout", "", 3.0, cpu_s=2.97), 3.0)   # a calm infinite loop
    assert not worth_retrying(RunResult("timeout", "", 1.6, cpu_s=4.0), 3.0)    # threads hit RLIMIT_CPU
    assert worth_retrying(RunResult("timeout", "", 3.0, cpu_s=1.4), 3.0)        # got half a core: load
    assert not worth_retrying(RunResult("timeout", "", 6.0, cpu_s=1.4, retried=True), 3.0)
    assert not worth_retrying(RunResult("passed", "", 0.1, cpu_s=0.1), 3.0)
    # ...and end to end: the loop is retried exactly when it got less than FULL_SPEED of a core
    # (a shared machine decides which; both branches are checked against the measured CPU time).
    loop = run_one(executor, "while True:\n    pass\n", timeout=1.0)
    assert loop.verdict == "timeout"
    if loop.retried:
        assert 1.9 < loop.duration_s < 3.5 and loop.cpu_s < FULL_SPEED * 1.0 + 1.1
    else:
        assert 0.9 < loop.duration_s < 1.5 and FULL_SPEED * 1.0 <= loop.cpu_s <= loop.duration_s + 0.05


def test_cpu_time_of_the_sample_is_measured(executor):
    burn = run_one(executor, "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\n")
    assert burn.verdict == "passed" and 0.28 < burn.cpu_s < burn.duration_s + 0.05
    # CPU time of the processes it started counts too (reaped by the worker after the sample)
    kids = run_one(executor, "import os, time\nif os.fork() == 0:\n    t = time.process_time()\n"
                             "    while time.process_time() - t < 0.3:\n        pass\n    os._exit(0)\nos.wait()\n")
    assert kids.verdict == "passed" and kids.cpu_s > 0.28
    nap = run_one(executor, "import time\ntime.sleep(0.3)\n")
    assert nap.verdict == "passed" and nap.cpu_s < 0.1 and nap.duration_s > 0.3


def test_cpu_limit_is_a_timeout_too():
    # A CPU-time limit below the wall-clock one: burning CPU in threads hits RLIMIT_CPU first.
    with Executor(workers=1, retry_timeouts=False) as ex:
        program = ("import threading\ndef spin():\n    while True:\n        pass\n"
                   "for _ in range(4):\n    threading.Thread(target=spin, daemon=True).start()\n"
                   "import time\ntime.sleep(60)\n")
        result = run_one(ex, program, timeout=1.5)
    assert result.verdict == "timeout"


def test_a_dead_worker_is_replaced_and_its_sample_reported_as_error():
    with Executor(workers=1) as ex:
        assert run_one(ex, TESTS_PASS).verdict == "passed"
        worker_pid = ex.worker_pids()[0]
        # kill the worker while it runs a sample (from outside: the harness side of a crash)
        gen = ex.run([Job("victim", "import time\ntime.sleep(5)\n", 10.0), Job("after", TESTS_PASS, 10.0)])
        time.sleep(0.5)
        os.kill(ex.worker_pids()[0], signal.SIGKILL)
        results = dict(gen)
        assert results["victim"].verdict == "error" and "worker died" in results["victim"].error
        assert results["after"].verdict == "passed"
        assert ex.restarts == 1 and ex.worker_pids()[0] != worker_pid


def test_limits_are_applied():
    limits = Limits(memory_mb=512, file_size_mb=1, open_files=32)
    with Executor(workers=1, limits=limits) as ex:
        got = dict(ex.run([
            Job("mem", "x = bytearray(600 << 20)\n", 5.0),
            Job("fsize", "open('f', 'wb').write(b'0' * (2 << 20))\n", 5.0),
            Job("nofile", "fs = [open('/dev/null') for _ in range(40)]\n", 5.0),
        ]))
    assert got["mem"].verdict == "failed" and "MemoryError" in got["mem"].error
    # Python ignores SIGXFSZ, so the limit shows as EFBIG on the write
    assert got["fsize"].verdict == "failed" and "File too large" in got["fsize"].error
    assert got["nofile"].verdict == "failed" and "Too many open files" in got["nofile"].error


def test_random_starts_from_the_hash_seed_in_every_sample(executor):
    # Forked from one worker, samples would continue its random sequence unless reseeded: with
    # the default seed 0 each one starts where random.seed(0) starts, so its draws never
    # depend on what ran before it.
    import random

    first = random.Random(0).random()
    program = f"import random\nassert random.random() == {first!r}\nrandom.random()\n"
    results = dict(executor.run(Job(i, program, 5.0) for i in range(20)))
    assert {r.verdict for r in results.values()} == {"passed"}


# MBPP/480 as StarCoder answered it: "brilliant girl" has 3 i's and 3 l's, and which one max()
# returns is whichever the set yields first, decided by the string-hash seed.
TIE = ("def get_max_occuring_char(s):\n    return max(set(s), key=s.count)\n\n"
       "assert get_max_occuring_char('data') == 'a'\nassert get_max_occuring_char('create') == 'e'\n"
       "assert get_max_occuring_char('brilliant girl') == 'i'\n")
# Fails with the set's iteration order in its message: a fingerprint of the hash seed.
SET_ORDER = "import random\nraise AssertionError(repr((list({'w%d' % i for i in range(16)}), random.random())))\n"


def test_a_hash_dependent_verdict_is_the_same_in_every_run():
    import subprocess
    import sys

    verdicts, orders = set(), set()
    for _ in range(5):  # fresh workers each time: under random hash seeds these would differ
        with Executor(workers=2) as ex:
            assert ex.hash_seed == 0
            got = dict(ex.run([Job(("tie", i), TIE, 5.0) for i in range(4)]
                              + [Job(("order", i), SET_ORDER, 5.0) for i in range(4)]))
        verdicts |= {r.verdict for k, r in got.items() if k[0] == "tie"}
        orders |= {r.error for k, r in got.items() if k[0] == "order"}
    assert len(verdicts) == 1 and len(orders) == 1, (verdicts, orders)
    # The semantics of PYTHONHASHSEED=0 and random.seed(0): a user reproduces a verdict with
    # `PYTHONHASHSEED=0 python program.py` (plus the seed call).
    here = subprocess.run([sys.executable, "-c", "import random\nrandom.seed(0)\n" + SET_ORDER],
                          env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert orders.pop().split(" (line")[0] in here.stderr


def test_hash_seed_random_restores_per_worker_seeds():
    orders = set()
    for _ in range(2):
        with Executor(workers=2, hash_seed="random") as ex:
            assert ex.hash_seed == "random"
            orders |= {r.error for _, r in ex.run(Job(i, SET_ORDER, 5.0) for i in range(8))}
    # 4 workers with their own hash seeds, 8 samples with fresh random state each
    assert len(orders) >= 4, orders
    probe = "import os\nassert 'PYTHONHASHSEED' not in os.environ\n"
    with Executor(workers=1, hash_seed="random") as ex:
        assert run_one(ex, probe).verdict == "passed"
    for bad in (-1, 2 ** 32, "0", True, 1.5):
        with pytest.raises(ValueError, match="hash seed"):
            Executor(workers=1, hash_seed=bad)


def test_without_the_strong_layers_it_still_works_and_says_so(tmp_path):
    from codemix.eval.sandbox.executor import OPTIONAL_LAYERS

    with Executor(workers=1, disable=OPTIONAL_LAYERS) as ex:
        assert sorted(ex.layers) == ["no-new-privs", "process-group", "rlimits", "subreaper-sweep"]
        assert ex.layer_detail["read-only-filesystem"].startswith("unavailable")
        pidfile = tmp_path / "daemon.pid"
        daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                  f"        open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n        time.sleep(1000)\n"
                  "    os._exit(0)\nos.wait()\nwhile not os.path.exists(" + repr(str(pidfile)) + "):\n    time.sleep(0.01)\n")
        got = dict(ex.run([Job("pass", TESTS_PASS, 5.0), Job("fail", "assert False\n", 5.0),
                           Job("loop", "while True:\n    pass\n", 0.5), Job("daemon", daemon, 5.0)]))
        assert {k: r.verdict for k, r in got.items()} == {"pass": "passed", "fail": "failed", "loop": "timeout",
                                                         "daemon": "passed"}
        with pytest.raises(ProcessLookupError):  # the fallback sweep found the double-forked daemon
            os.kill(int(pidfile.read_text()), 0)


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv") or not os.path.exists("/usr/bin/python3"),
                    reason="needs root to start a worker as an unprivileged user (setpriv) and a system python3")
def test_rootless_worker_uses_a_user_namespace():
    # The same worker started as `nobody` (with the system Python: ours lives under /root):
    # a user namespace replaces root's privileges for the other namespaces.
    prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    with Executor(workers=1, python="/usr/bin/python3", command_prefix=prefix) as ex:
        assert ex.layer_detail["user-namespace"] == "used", ex.layer_detail
        for layer in ("network-namespace", "mount-namespace", "pid-namespace", "read-only-filesystem"):
            assert layer in ex.layers
        probes = {
            "caps": "st = open('/proc/self/status').read()\nassert 'CapEff:\\t0000000000000000' in st\n",
            "ro": "try:\n    open('/work/pwned', 'w')\n    ok = False\nexcept OSError:\n    ok = True\nassert ok\n",
            "net": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\nexcept OSError:\n    pass\nelse:\n    raise AssertionError\n",
            "fail": "assert 1 == 2\n",
        }
        got = {k: r.verdict for k, r in ex.run(Job(k, p, 5.0) for k, p in probes.items())}
    assert got == {"caps": "passed", "ro": "passed", "net": "passed", "fail": "failed"}
