"""Sweeps: `config` (the `sweep:` section), `runner` (expansion into cells, sweep.json, the run
loop), `cell` (running one cell, as every launcher does) and `launchers/` (local, slurm)."""
