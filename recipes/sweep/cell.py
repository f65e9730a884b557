"""Run one sweep cell (or the sweep's reference evaluation) from its directory, under its lock.

Every launcher ends here: the local one in-process or as `python -m codemix.recipes.sweep.cell DIR`,
the Slurm one as a submitit job. The cell's directory holds all it needs (recipe.yaml,
cell.json), so a cell runs the same wherever it lands. Outcomes:

    done     ran now, or was already up to date (status.json says done for this cell key)
    failed   the pipeline raised; status.json has the one-line error, error.txt the traceback
    running  another launcher holds the cell's lock: left alone
    blocked  it depends on a unit that is not done yet (the reference of a random-init model)

In a Slurm job, a warning of the time limit (USR2) or a stop (SIGTERM) ends the process instead,
once status.json says requeued or failed (launchers/slurm_job.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codemix.core.artifacts import atomic_write_json, atomic_write_text, utc_now
from codemix.core.errors import CodemixError
from codemix.core.locks import LockHeld, locked
from codemix.recipes.sweep.launchers.slurm_job import JobContext

OUTCOMES = ("done", "failed", "running", "blocked")
EXIT_CODES = {"done": 0, "failed": 1, "running": 75, "blocked": 76}  # 75 = EX_TEMPFAIL


class _Tee(io.TextIOBase):
    """Write to the cell's log file and (unless quiet) to the original stream. A progress bar's
    redraws (text with a carriage return; bars are drawn only on a terminal) go to the terminal
    alone: in log.txt every redraw would stand as text of its own. Once the cell is over its log
    is closed, and whatever still holds this stream (a library's cached reference) writes to the
    original stream only, instead of failing on the closed file."""

    def __init__(self, log, echo):
        self._log, self._echo = log, echo
        self._after_bar = False

    def write(self, s: str) -> int:
        if not self._log.closed:
            if "\r" in s:
                self._after_bar = True
            elif self._after_bar and not s.strip():
                self._after_bar = False  # the newline that ends a finished bar
            else:
                self._after_bar = False
                self._log.write(s)
                self._log.flush()
        if self._echo is not None:
            self._echo.write(s)
        return len(s)

    def flush(self) -> None:
        if not self._log.closed:
            self._log.flush()
        if self._echo is not None:
            self._echo.flush()

    def isatty(self) -> bool:  # progress bars redraw in place only on a terminal
        return self._echo is not None and self._echo.isatty()


def _stream_handlers() -> list[logging.StreamHandler]:
    loggers = [logging.getLogger()] + [lg for lg in list(logging.Logger.manager.loggerDict.values())
                                       if isinstance(lg, logging.Logger)]
    # A handler whose stream is a property (logging's last-resort handler) reads sys.stderr at
    # each write already: nothing to move.
    return [h for lg in loggers for h in lg.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(getattr(type(h), "stream", None), property)]


def _repoint_handlers(moves: list[tuple[Any, Any]]) -> None:
    """Point every logging handler that writes to one stream of a (from, to) pair at the other.
    A library creates its handler once, on the sys.stderr of that moment (transformers: on its
    first warning, also binding the handler's flush to that stream): created during one cell it
    would keep writing to that cell's log after it is closed, and a later cell's warning became
    "--- Logging error --- ValueError: I/O operation on closed file" instead of a line in the
    later cell's log."""
    for handler in _stream_handlers():
        for old, new in moves:
            if handler.stream is old:
                if getattr(handler.__dict__.get("flush"), "__self__", None) is old:
                    handler.flush = new.flush
                handler.setStream(new)
                break


@contextlib.contextmanager
def tee_to_log(log_path: Path, quiet: bool) -> Iterator[None]:
    """stdout, stderr and the logging handlers that write to them go to the cell's log (and to
    the terminal unless quiet) for the body; all are put back after it."""
    old_out, old_err = sys.stdout, sys.stderr
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"\n=== {utc_now()} pid {os.getpid()} on {socket.gethostname()}\n")
        out, err = _Tee(log, None if quiet else old_out), _Tee(log, None if quiet else old_err)
        _repoint_handlers([(old_err, err), (old_out, out)])
        sys.stdout, sys.stderr = out, err
        try:
            yield
        finally:
            sys.stdout, sys.stderr = old_out, old_err
            _repoint_handlers([(err, old_err), (out, old_out)])


def _status(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def _is_done(directory: Path, key: str) -> bool:
    st = _status(directory)
    return st.get("status") == "done" and st.get("key") == key and (directory / "summary.json").is_file()


def _link_mixture(directory: Path, target_rel: str) -> Path:
    """cells/<name>/mix -> ../../mixes/<hash>: the cell's pipeline reads and checks it as its own."""
    link = directory / "mix"
    target = (directory / target_rel).resolve()
    target.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        if os.readlink(link) == target_rel:
            return target
        link.unlink()
    elif link.exists():
        return link  # a mixture the cell built itself before sharing existed: keep it, it is still checked
    tmp = directory / f".mix.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target_rel, target_is_directory=True)
    tmp.replace(link)
    return target


def run_unit(directory: str | os.PathLike, *, quiet: bool = False, job: JobContext | None = None) -> str:
    """Run the unit in `directory` unless it is done or held; returns its outcome. `job`: the
    Slurm job it runs in (watching its signals), told when the cell is running, so that a signal
    then is recorded (requeued, or failed) while the cell still holds its lock."""
    from codemix.recipes.loader import load_recipe

    directory = Path(directory)
    try:
        with locked(directory, what=f"codemix sweep: {directory.parent.name}/{directory.name}"):
            # Read only under the lock: another launcher may be (re)writing it until then.
            meta = json.loads((directory / "cell.json").read_text())
            if _is_done(directory, meta["key"]):
                return "done"
            dep = meta.get("depends_on")
            if dep and not _dependency_done(directory / dep):
                return "blocked"
            t0, cpu0 = time.time(), _cpu_seconds()
            (directory / "error.txt").unlink(missing_ok=True)
            carried = job.carried(_status(directory), meta["key"]) if job is not None else {}
            atomic_write_json(directory / "status.json", {"status": "running", "key": meta["key"], "started": utc_now(),
                                                          "host": socket.gethostname(), "pid": os.getpid(), **carried})
            if job is not None:
                job.arm(directory, meta["key"], carried, t0)
            try:
                with tee_to_log(directory / "log.txt", quiet):
                    recipe, path = load_recipe(str(directory / "recipe.yaml"))
                    _run(directory, meta, recipe, path)
            except Exception as e:  # noqa: BLE001 - one cell's failure must not stop the others
                if job is not None:
                    job.disarm()
                message = str(e) if isinstance(e, CodemixError) else f"{type(e).__name__}: {e}"
                atomic_write_text(directory / "error.txt", traceback.format_exc())
                atomic_write_json(directory / "status.json", {
                    "status": "failed", "key": meta["key"], "error": message.splitlines()[0] if message else type(e).__name__,
                    "wall_s": round(time.time() - t0, 2), "finished": utc_now(), "host": socket.gethostname(), **carried})
                return "failed"
            if job is not None:
                job.disarm()
            atomic_write_json(directory / "status.json", {
                "status": "done", "key": meta["key"], **_wall_times(directory, t0),
                "cpu_s": round(_cpu_seconds() - cpu0, 2), "finished": utc_now(),
                "host": socket.gethostname(), **carried})
            return "done"
    except LockHeld:
        return "running"


def _run(directory: Path, meta: dict[str, Any], recipe, path: Path) -> None:
    from codemix.recipes.pipeline import run_mix, run_recipe
    from codemix.recipes.sweep.runner import run_reference

    if meta.get("role") == "reference":
        run_reference(recipe, path)
        return
    mixture = None
    if meta.get("mix"):
        shared = _link_mixture(directory, meta["mix"])
        # Cells with the same mixture wait here for whichever builds it first; then the
        # mixture is up to date for all of them, and the pipeline takes it as built here.
        with locked(shared, what=f"codemix sweep {meta['sweep']}: mixture for {meta['name']}", wait=True):
            mixture = run_mix(recipe)
    if meta.get("train_launch") and recipe.train is not None:
        _train_in_processes(directory / "recipe.yaml", meta["train_launch"])
    run_recipe(recipe, path, mixture=mixture)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its waited-for children (the sandbox's
    workers, a multi-process train stage): what a proxy -> target study counts as compute, since
    wall time depends on how many cells shared the machine. One cell runs per process at a time
    (in-process only when the launcher runs cells one by one), so the difference is the cell's."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _wall_times(directory: Path, t0: float) -> dict[str, Any]:
    """{wall_s} of this run of the cell; when its training resumed from a checkpoint in this run,
    also {wall_s_total} (this run plus the training time of the earlier runs it continued) and
    {resumed_from_step}: a resumed cell's own clock counts only the part after the resume."""
    wall = round(time.time() - t0, 2)
    times: dict[str, Any] = {"wall_s": wall}
    manifest_path = directory / "train" / "manifest.json"
    try:
        if manifest_path.stat().st_mtime < t0:
            return times  # trained in an earlier run: nothing of this run's clock is missing
        train = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return times
    if train.get("resumed_from_step") and train.get("wall_s_total") is not None and train.get("wall_s") is not None:
        times.update(wall_s_total=round(wall + train["wall_s_total"] - train["wall_s"], 2),
                     resumed_from_step=train["resumed_from_step"])
    return times


def _train_in_processes(recipe_path: Path, launch: dict[str, Any]) -> None:
    """The train stage as `codemix train --num-processes N` (its own launcher: accelerate on GPUs,
    torchrun on CPU); the pipeline then finds the training up to date and goes on to eval."""
    import subprocess

    cmd = [sys.executable, "-m", "codemix", "train", str(recipe_path), "--num-processes", str(launch["processes"])]
    if launch.get("accelerate_config"):
        cmd += ["--accelerate-config", launch["accelerate_config"]]
    env = dict(os.environ)
    print(f"[sweep] training in {launch['processes']} processes: {' '.join(cmd[1:])}", flush=True)
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:  # through sys.stdout, so the cell's log.txt gets it too
            sys.stdout.write(line)
    if proc.returncode != 0:
        raise CodemixError(f"training in {launch['processes']} processes failed (exit status {proc.returncode}); "
                           "see log.txt; re-running the sweep resumes from the last checkpoint")


def _dependency_done(dep_dir: Path) -> bool:
    try:
        key = json.loads((dep_dir / "cell.json").read_text())["key"]
    except (OSError, ValueError, KeyError):
        return False
    return _is_done(dep_dir, key)


def record_crash(directory: str | os.PathLike, message: str) -> bool:
    """After a unit's process died without a word (killed, out of memory, Slurm time limit):
    mark it failed with `message` if nobody holds it now and it was left "running". True if marked."""
    directory = Path(directory)
    try:
        with locked(directory, what="codemix sweep: recording a crash"):
            st = _status(directory)
            if st.get("status") != "running":
                return False
            atomic_write_json(directory / "status.json", {**st, "status": "failed", "error": message,
                                                          "finished": utc_now()})
            return True
    except LockHeld:
        return False


def run_unit_job(directory: str, settings: dict[str, Any] | None = None) -> str:
    """The submitit entry point (module-level so it pickles by reference). `settings`:
    {max_requeues, time} of sweep.slurm. In a Slurm job, USR2 and SIGTERM are the cell's to
    handle for the whole run (slurm_job.JobContext)."""
    job = JobContext.from_env(settings)
    if job is None:  # submitit's local executor: no Slurm signals to expect
        return run_unit(directory, quiet=False)
    with job.watch():
        return run_unit(directory, quiet=False, job=job)


def main(argv: list[str] | None = None) -> int:
    """`python -m codemix.recipes.sweep.cell DIR [--quiet]`: the local launcher's subprocess."""
    argv = sys.argv[1:] if argv is None else argv
    outcome = run_unit(argv[0], quiet="--quiet" in argv)
    return EXIT_CODES[outcome]


if __name__ == "__main__":
    raise SystemExit(main())
