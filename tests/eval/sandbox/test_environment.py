"""What samples can import and read, and the layers the machine supports: samples import what the
environment codemix runs in imports (a virtual environment's packages, not its base
interpreter's), never codemix itself from the checkout, and cannot read the checkout; a layer
the machine supports that a worker cannot put in force stops the executor unless weaker
isolation was accepted (codemix.eval.sandbox.environment)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codemix.core.errors import CodemixError
from codemix.eval.sandbox import environment
from codemix.eval.sandbox.executor import OPTIONAL_LAYERS, Executor, Job

REPO = Path(__file__).resolve().parents[3]
# Runs an executor in another interpreter, from the checkout (codemix is not installed there):
# argv = repo, {key: program}; prints the layers, the workers' import path and the results (the
# data channel carries what a sample reports).
HARNESS = '''
import json, sys
repo, programs = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, repo)
import codemix
codemix.__path__.append(repo)  # eval/, mixing/, ... resolve under codemix as an install maps them
from codemix.eval.sandbox.executor import Executor, Job
with Executor(workers=1) as ex:
    got = dict(ex.run(Job(k, p, 20.0, data_bytes=1 << 16) for k, p in programs.items()))
    print(json.dumps({"layers": ex.layers, "supported": ex.supported, "sys_path": ex.sys_path,
                      "results": {k: [r.verdict, r.error, r.data.decode()] for k, r in got.items()}}))
'''
REPORT_PATH = "import json, os, sys\nos.write(4, json.dumps(sys.path).encode())\n"
NO_CODEMIX = ("try:\n    import codemix\n    found = codemix.__file__\nexcept ImportError:\n    found = None\n"
              "assert found is None, found\n")
NO_CHECKOUT = (f"import os\nfor name in ('setup.py', 'tests', '.git'):\n"
               f"    assert not os.path.exists(os.path.join({str(REPO)!r}, name)), name\n")


def run_harness(python: str, programs: dict[str, str], cwd: Path) -> dict:
    done = subprocess.run([python, "-c", HARNESS, str(REPO), json.dumps(programs)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_samples_import_this_environment_and_not_the_checkout(tmp_path):
    with Executor(workers=1) as ex:
        got = dict(ex.run([
            Job("venv-only", "import pyseccomp\n", 10.0),  # in /work/venv, not in its base interpreter
            Job("no-codemix", NO_CODEMIX, 10.0),
            Job("no-checkout", NO_CHECKOUT, 10.0),
            Job("path", REPORT_PATH, 10.0, data_bytes=1 << 16),
        ]))
        assert {k: r.verdict for k, r in got.items()} == dict.fromkeys(got, "passed"), got
        assert json.loads(got["path"].data) == ex.sys_path
        assert ex.layer_detail["hidden-source-tree"] == "used"
    assert all(p and not p.startswith(str(REPO) + os.sep) and p != str(REPO) for p in ex.sys_path), ex.sys_path
    assert any(p.endswith("site-packages") and p.startswith(sys.prefix) for p in ex.sys_path)


def test_the_import_path_drops_the_cwd_and_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    path = ["", ".", str(tmp_path), str(REPO), str(REPO / "tests"), "relative-dir", site, site]
    assert environment.source_tree() == str(REPO)
    assert environment.samples_import_path(path) == [str(tmp_path / "relative-dir"), site]


def test_a_fresh_virtual_environment_gives_samples_its_packages(tmp_path):
    """A venv without system site packages whose base interpreter lacks two packages it has."""
    base = getattr(sys, "_base_executable", sys.executable)
    if subprocess.run([base, "-c", "import pyseccomp"], capture_output=True).returncode == 0:
        pytest.skip("the base interpreter has pyseccomp: the environments cannot be told apart")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet",
                          "pyseccomp", "toolz"], capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        pytest.skip(f"cannot install into a fresh venv here: {pip.stderr.strip().splitlines()[-1:]}")
    out = run_harness(python, {"venv-packages": "import pyseccomp, toolz\n", "no-codemix": NO_CODEMIX,
                               "no-checkout": NO_CHECKOUT, "path": REPORT_PATH}, cwd=tmp_path)
    verdicts = {k: v[0] for k, v in out["results"].items()}
    assert verdicts == dict.fromkeys(verdicts, "passed"), out["results"]
    assert json.loads(out["results"]["path"][2]) == out["sys_path"]
    assert str(venv / "lib") in " ".join(out["sys_path"]) and str(REPO) not in out["sys_path"]
    if out["supported"].get("seccomp") == "supported":  # pyseccomp imports in the worker too
        assert "seccomp" in out["layers"], out["layers"]


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3")
                    or os.path.realpath("/usr/bin/python3") == os.path.realpath(sys.executable),
                    reason="needs a system python3 other than this interpreter")
def test_the_system_python_gives_samples_its_own_packages(tmp_path):
    out = run_harness("/usr/bin/python3", {"path": REPORT_PATH, "no-codemix": NO_CODEMIX}, cwd=tmp_path)
    assert {k: v[0] for k, v in out["results"].items()} == {"path": "passed", "no-codemix": "passed"}, out
    sample_path = json.loads(out["results"]["path"][2])
    system = subprocess.run(["/usr/bin/python3", "-c", "import json, sys; print(json.dumps(sys.path))"],
                            capture_output=True, text=True, cwd=tmp_path, check=True)
    assert sample_path == [p for p in json.loads(system.stdout) if p]  # its dist-packages included


@pytest.fixture
def worker_without_site_packages(monkeypatch):
    """The harness's path without site-packages: the workers cannot import pyseccomp, as in a
    venv whose workers once got the base interpreter's path."""
    here = Executor.__init__.__globals__["environment"].probe(sys.executable, [], 0)
    if here["layers"].get("seccomp") != "supported":
        pytest.skip(f"seccomp not supported here ({here['layers'].get('seccomp')})")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "site-packages" not in p])
    monkeypatch.delenv(environment.ALLOW_WEAKER_ENV, raising=False)


def test_a_supported_layer_missing_in_a_worker_stops_the_executor(worker_without_site_packages):
    with pytest.raises(CodemixError) as failure:
        Executor(workers=1)
    message = str(failure.value)
    assert "seccomp" in message and "--allow-weaker-isolation seccomp" in message and "\n" not in message


def test_weaker_isolation_can_be_accepted(worker_without_site_packages, monkeypatch):
    with Executor(workers=1, allow_weaker=["seccomp"]) as ex:
        assert "seccomp" not in ex.layers and ex.layer_detail["seccomp"].startswith("unavailable")
        assert list(ex.run([Job("x", "assert True\n", 5.0)]))[0][1].verdict == "passed"
    monkeypatch.setenv(environment.ALLOW_WEAKER_ENV, "all")
    with Executor(workers=1) as ex:
        assert "seccomp" not in ex.layers


def test_unknown_layers_are_refused(monkeypatch):
    with pytest.raises(CodemixError, match="unknown isolation layer.*seccom"):
        environment.allowed_weaker(["seccom"], OPTIONAL_LAYERS)
    monkeypatch.setenv(environment.ALLOW_WEAKER_ENV, "pid-namespace,nonsense")
    with pytest.raises(CodemixError, match=f"{environment.ALLOW_WEAKER_ENV}=.*nonsense"):
        Executor(workers=1)


def test_the_cli_flag_is_checked_up_front(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "    return False\n"}) + "\n")
    done = subprocess.run([sys.executable, "-m", "codemix", "score", "--benchmark", "humaneval", "--samples",
                           str(samples), "--allow-weaker-isolation", "seccomp,bogus"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("codemix: error:") and "bogus" in done.stderr
