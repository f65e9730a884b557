"""Shared test fixtures. Tests never reach the Hub: the offline flags below make any attempt
fail fast. Sample data comes from a directory with the layout of ../shared/data (its README):
CODEMIX_TEST_DATA if set, else ../shared/data. Where a file is missing there, the files that have
a Hub equivalent are rebuilt from the Hub once per session (tests/data_fetch.py, in a subprocess:
the test process itself stays offline) into the normal HF cache and a session directory; where
that fails too (offline, HF_HUB_OFFLINE=1 set by the user), the tests that need the file skip
with one reason. Nothing is ever copied into the repository.

At the end of the session the repository must not hold new untracked files: no test writes
outside its tmp dir (checked with `git status --porcelain` where git and a work tree exist)."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
# Decided before the defaults below: did the user (not this file) switch the Hub off?
USER_OFFLINE = next((v for v in OFFLINE_VARS if os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")),
                    None)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CODEMIX_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CODEMIX_TEST_DATA") or (REPO_ROOT / ".." / "shared" / "data")).resolve()
# sha256 of the shared files (../shared/data/README.md): tests that need the exact bytes or rows
# (a file hash, a row count of a sample) check it.
ORIGINAL_SHA256 = {
    "mbpp/mbpp.jsonl": "0b7004a79cd62d9ec7ecdd5a6e5f0ef1210ff00b286df3c5d5b57bf38c58e19a",
    "mbpp/sanitized-mbpp.json": "8ac32b2799150228e2d745aed09c870b7e4444246d4727d1004576207ef40769",
    "instructions/code_alpaca_2k.json": "9cb7352683bd2f530ce81eff7f8d58ccbe1a4bdf28afebbe9f80ec687256066d",
    "instructions/alpaca_seed_tasks.jsonl": "7779004fa198fdf27cf70a159363879d8a26c53329e11b436af17b3941875f48",
    "instructions/self_instruct_user_oriented.jsonl": "81d60a117db495cecedecd9193504fd07c5b5a42f6699ef6b0f9da10fc22f42e",
    "instructions/t0_templates_sample.jsonl": "30d0729f6b08ad535a9000f3f7aef2cb9acbfceb755578b49d99fd59d0c95e9a",
}
FETCH_TIMEOUT_S = 600


class _TestData:
    """`data_file(rel)`: the path of a test data file, from SHARED_DATA or rebuilt from the Hub."""

    def __init__(self, fetched_dir: Path) -> None:
        self.fetched_dir = fetched_dir
        self.failures: dict[str, str] = {}

    def _fetch(self, rel: str) -> Path | None:
        target = self.fetched_dir / rel
        if target.is_file():
            return target
        if rel in self.failures:
            return None
        from helpers.data_fetch import BUILDERS

        if rel not in BUILDERS:
            self.failures[rel] = "it has no Hugging Face Hub equivalent"
            return None
        if USER_OFFLINE:
            self.failures[rel] = f"{USER_OFFLINE} is set, so it cannot be fetched from the Hugging Face Hub"
            return None
        from codemix.mixing.hub import hub_host, resolve_host

        unreachable = resolve_host(hub_host())
        if unreachable:
            self.failures[rel] = f"the Hugging Face Hub cannot be reached ({unreachable})"
            return None
        env = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARS}
        try:
            proc = subprocess.run([sys.executable, str(Path(__file__).parent / "helpers" / "data_fetch.py"),
                                   str(self.fetched_dir), rel], env=env, capture_output=True, text=True,
                                  timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.failures[rel] = f"fetching it from the Hugging Face Hub took over {FETCH_TIMEOUT_S} s"
            return None
        if not target.is_file():
            self.failures[rel] = f"fetching it from the Hugging Face Hub failed ({proc.stderr.strip()[-300:]})"
            return None
        return target

    def __call__(self, rel: str, exact: bool = False) -> Path:
        path = SHARED_DATA / rel
        if not path.is_file():
            path = self._fetch(rel)
        if path is None:
            pytest.skip(f"test data {rel} is not in {SHARED_DATA} (set CODEMIX_TEST_DATA to a copy of "
                        f"shared/data) and {self.failures[rel]}")
        if exact and hashlib.sha256(path.read_bytes()).hexdigest() != ORIGINAL_SHA256[rel]:
            pytest.skip(f"needs the exact shared-data copy of {rel} (sha256 {ORIGINAL_SHA256[rel][:12]}); "
                        f"the copy at {path} was rebuilt from the Hub")
        return path


@pytest.fixture(scope="session")
def data_file(tmp_path_factory) -> _TestData:
    return _TestData(tmp_path_factory.mktemp("hub-data"))


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """CODEMIX_CACHE_DIR under the test's tmp dir: nothing cached by one test is seen by another."""
    monkeypatch.setenv("CODEMIX_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def humaneval_problems():
    """HumanEval's problems by task id."""
    from codemix.eval.benchmarks import load_problems

    return {p.task_id: p for p in load_problems("humaneval")}


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module's tests (`pytestmark = pytest.mark.usefixtures(...)`).
    These tests check behaviour, not speed. On the shared 2-core machine two intra-op threads
    ran a tiny model ~6x slower than one whenever another process held a core (measured: 39 s
    against 6.4 s for the same 60 steps), and one thread is still deterministic."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    if has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


# ---------------------------------------------------------------- nothing written into the repo

# Ignored files that running Python and pytest make anywhere; everything else new is a leftover
# (runs/ is ignored too, but a test that writes there still shows as a new path).
_CACHE_PARTS = ("__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", ".egg-info")


def _untracked() -> set[str] | None:
    """Untracked and ignored paths in the repository per git (caches left out), or None where git
    cannot be asked."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--ignored", "--untracked-files=all"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = {line[3:] for line in out.splitlines() if line[:2] in ("??", "!!")}
    return {p for p in paths if not any(part in p for part in _CACHE_PARTS) and not p.endswith(".pyc")}


def pytest_sessionstart(session):
    session.config._codemix_untracked_before = _untracked()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_codemix_untracked_before", None)
    if before is None or hasattr(session.config, "workerinput"):  # no git, or an xdist worker
        return
    after = _untracked() or set()
    new = sorted(after - before)
    if new:
        shown = ", ".join(new[:5]) + (f" (+{len(new) - 5} more)" if len(new) > 5 else "")
        print(f"\nERROR: the test suite wrote into the repository: {shown}; tests must write only under their "
              "tmp dir (run CLI tests with monkeypatch.chdir(tmp_path))", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
