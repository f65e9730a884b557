"""What `codemix sweep` prints and writes for a user to read: paths relative to where it was
started (as every other command prints them), one `[mix]` line per cell, no progress-bar frames
in logs, the reference (the untrained base model) called `base`, and a resumed cell's time in
all next to this run's."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from codemix.recipes.cli import main
from codemix.recipes.schema import Recipe
from codemix.recipes.sweep.runner import run_reference, wall_text
from helpers.mixing import alpaca_rows, write_jsonl


def test_sweep_prints_relative_paths_one_mix_line_per_cell_and_no_bars(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEMIX_NO_PROGRESS", raising=False)  # bars off because stderr is no terminal
    code = write_jsonl(tmp_path / "code.jsonl", alpaca_rows(300, "code"))
    general = write_jsonl(tmp_path / "general.jsonl", alpaca_rows(300, "general"))
    recipe = {"name": "sw", "seed": 1, "output_dir": "out",
              "mix": {"budget": 100, "general_fraction": 0.1, "decontaminate": {"enabled": False},
                      "sources": [{"name": "code", "path": str(code), "domain": "code"},
                                  {"name": "general", "path": str(general), "domain": "general"}]},
              "sweep": {"grid": {"mix.general_fraction": [0, 0.2]}}}
    Path("sw.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    assert main(["sweep", "sw.yaml"]) == 0
    out, err = capsys.readouterr()
    assert "-> out\n" in out and "sweep: out/sweep.json" in out
    assert str(tmp_path) not in out + err.replace(str(code), "").replace(str(general), "")
    for cell in ("general_fraction=0", "general_fraction=0.2"):
        log = (tmp_path / "out" / "cells" / cell / "log.txt").read_text()
        assert [line for line in log.splitlines() if line.startswith("[mix]")] == [
            next(line for line in log.splitlines() if line.startswith("[mix] built"))], log
        assert "\r" not in log and "%|" not in log and "it/s" not in log
        assert f"summary: out/cells/{cell}/summary.json" in log
    assert "%|" not in err


def test_the_reference_summary_names_the_untrained_model_base(tmp_path, capsys):
    from helpers.generation import save_tiny_byte_llama


    save_tiny_byte_llama(tmp_path / "base", max_positions=512)
    ref_dir = tmp_path / "sweep" / "reference"
    recipe = Recipe.model_validate({
        "name": "sw.reference", "seed": 0, "output_dir": str(ref_dir),
        "eval": {"model": str(tmp_path / "base"), "benchmarks": ["pyfuncs"], "tasks": ["pyfuncs/0", "pyfuncs/1"],
                 "prompt_style": "instruction", "max_new_tokens": 4, "workers": 1}})
    summary = run_reference(recipe, ref_dir / "recipe.yaml")
    out = capsys.readouterr().out
    assert summary["trained"] is None and set(summary["base"]) == {"pyfuncs"}
    assert json.loads((ref_dir / "summary.json").read_text())["base"] == summary["base"]
    table = out[out.index("model "):]
    assert "\nbase " in table and "trained" not in table
    assert "[sweep] reference: the untrained base model" in out
    assert (ref_dir / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_resumed_cell_reports_its_time_in_all():
    assert wall_text({"wall_s": 9.2}) == "9 s"
    assert wall_text({"wall_s": 9.2, "wall_s_total": 41.0, "resumed_from_step": 100}) == \
        "41 s in all (9 s in this run, which resumed training at step 100)"
