"""Recipes and a local cluster for the Slurm launcher's tests.

`LocalSlurm` drives tests/helpers/local_slurm.sh (a single-node Slurm, with or without
accounting); `mix_sweep` and `train_sweep` write the tiny sweeps the tests submit: mixture-only
cells (about a second each) and mix -> train -> eval cells of a 1-layer, 32-wide random llama
(about 20 s each, most of it importing torch and transformers)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

SCRIPT = Path(__file__).with_name("local_slurm.sh")


def mix_sweep(tmp: Path, *, cells: int = 2, slurm: dict | None = None, name: str = "slmix") -> Path:
    """A sweep of mixture-only cells over general_fraction."""
    data = {"name": name, "seed": 1, "output_dir": str(tmp / "out"),
            "mix": {"budget": 100, "general_fraction": 0.25,
                    "sources": [{"name": "pyfuncs", "path": "builtin:pyfuncs", "domain": "code"},
                                {"name": "texttasks", "path": "builtin:texttasks", "domain": "general"}],
                    "decontaminate": {"enabled": False}},
            "sweep": {"grid": {"mix.general_fraction": [round(0.1 * (i + 1), 2) for i in range(cells)]},
                      "slurm": {"time": "10", "cpus_per_task": 1, "mem": "1G", "poll_s": 1, **(slurm or {})}}}
    return _write(tmp, name, data)


def train_sweep(tmp: Path, *, seeds: list[int], max_steps: int = 4, save_steps: int = 100,
                include_base: bool = False, slurm: dict | None = None, name: str = "sltrain") -> Path:
    """mix -> train -> eval cells (one per seed) of a tiny random-init llama, scored on two
    pyfuncs problems; include_base adds the sweep's shared reference (the baseline's random start)."""
    data = {"name": name, "seed": 7, "output_dir": str(tmp / "out"),
            "mix": {"budget": 240, "general_fraction": 0.25,
                    "sources": [{"name": "pyfuncs", "path": "builtin:pyfuncs", "domain": "code"},
                                {"name": "texttasks", "path": "builtin:texttasks", "domain": "general"}],
                    "decontaminate": {"enabled": False}},
            "train": {"model": {"init": "random",
                                "arch": {"arch": "llama", "hidden_size": 32, "layers": 1, "heads": 2,
                                         "max_position_embeddings": 2048},
                                "tokenizer": {"kind": "bpe", "vocab_size": 400}},
                      "method": "full", "learning_rate": 0.003, "max_steps": max_steps, "per_device_batch_size": 8,
                      "max_length": 128, "logging_steps": max(1, min(50, max_steps)), "save_steps": save_steps,
                      "report_to": ["none"]},
            "eval": {"benchmarks": ["pyfuncs"], "tasks": ["pyfuncs/0", "pyfuncs/1"], "max_new_tokens": 16,
                     "batch_size": 8, "workers": 1, "include_base": include_base},
            "sweep": {"grid": {"seed": seeds},
                      "slurm": {"time": "10", "cpus_per_task": 1, "mem": "2G", "poll_s": 1, **(slurm or {})}}}
    return _write(tmp, name, data)


def _write(tmp: Path, name: str, data: dict) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class LocalSlurm:
    """The single-node cluster of local_slurm.sh, in one accounting mode at a time."""

    def __init__(self, state_dir: Path | None = None):
        self.env = dict(os.environ)
        if state_dir is not None:
            self.env["CODEMIX_SLURM_DIR"] = str(state_dir)
        self.conf = Path(self.env.get("CODEMIX_SLURM_DIR", "/tmp/codemix-slurm")) / "etc" / "slurm.conf"
        self.accounting: bool | None = None

    @staticmethod
    def unavailable() -> str | None:
        """Why a local cluster cannot be started here, or None."""
        if os.geteuid() != 0:
            return "starting a local Slurm needs root (tests/helpers/local_slurm.sh)"
        missing = [b for b in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(b) is None
                   and not Path(f"/usr/sbin/{b}").exists()]
        if missing:
            return f"Slurm is not installed ({', '.join(missing)} missing; run tests/helpers/local_slurm.sh install as root)"
        return None

    def start(self, accounting: bool) -> None:
        args = ["start"] + ([] if accounting else ["--no-accounting"])
        proc = subprocess.run(["bash", str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=240)
        if proc.returncode != 0:
            raise RuntimeError(f"local_slurm.sh {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        self.accounting = accounting

    def stop(self) -> str:
        proc = subprocess.run(["bash", str(SCRIPT), "stop"], env=self.env, capture_output=True, text=True, timeout=240)
        return proc.stdout + proc.stderr

    def run(self, *cmd: str) -> str:
        """A Slurm client command against this cluster; its stdout."""
        env = {**self.env, "SLURM_CONF": str(self.conf)}
        return subprocess.run(list(cmd), env=env, capture_output=True, text=True, timeout=60, check=True).stdout

    def cancel_all(self) -> None:
        """Cancel every job of this cluster and wait until the queue is empty (<= 30 s)."""
        import time

        jobs = sorted(set(self.run("squeue", "-h", "-o", "%A").split()))
        if jobs:
            self.run("scancel", *jobs)
        deadline = time.monotonic() + 30
        while self.run("squeue", "-h", "-o", "%A").strip() and time.monotonic() < deadline:
            time.sleep(0.5)

    def job_field(self, job: str, field: str) -> str:
        for token in self.run("scontrol", "-o", "show", "job", job).split():
            if token.startswith(f"{field}="):
                return token.split("=", 1)[1]
        return ""
