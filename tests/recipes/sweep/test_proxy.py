"""Proxy -> target sweeps: the block's validation, the two phases' recipes, and which mixtures
the proxy's fit sends on to the target scale."""

from pathlib import Path

import numpy as np
import pytest

from codemix.core.errors import CodemixError
from codemix.recipes.report.simplex import fit_mixture
from codemix.recipes.sweep import proxy as px
from codemix.recipes.sweep.runner import load_sweep

LABELS = ["code", "general", "symbolic"]


def _recipe(tmp_path: Path, proxy: str = "") -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(f"""
name: px
seed: 3
output_dir: {tmp_path / "out"}
mix:
  budget: 6000
  unit: tokens
  tokens: {{tokenizer: byte}}
  domain_shares: {{code: 1, general: 1, symbolic: 1}}
  sources:
    - {{name: pyfuncs, path: "builtin:pyfuncs", domain: code}}
    - {{name: texttasks, path: "builtin:texttasks", domain: general}}
    - {{name: markov, path: "builtin:markov", domain: symbolic}}
  decontaminate: {{benchmarks: [humaneval]}}
train:
  model:
    init: random
    arch: {{arch: llama, hidden_size: 32, layers: 1, heads: 2, max_position_embeddings: 512}}
    tokenizer: {{kind: bpe, vocab_size: 300}}
  method: full
  max_steps: 8
  per_device_batch_size: 4
  max_length: 256
  report_to: [none]
sweep:
  mixture: {{over: [code, general, symbolic], design: lattice, cells: 6}}
  grid: {{seed: [1, 2]}}
{proxy}""")
    return path


def _synthetic_fit(maximize: bool = True):
    """A fit over the 10-point {3, 3} lattice to a score peaking at (0.6, 0.3, 0.1)."""
    from codemix.mixing.design import design_points

    pts = design_points(LABELS, "lattice", 10)
    shares = np.array([[p[d] for d in LABELS] for p in pts])
    peak = np.array([0.6, 0.3, 0.1])
    rate = 0.7 - 0.8 * ((shares - peak) ** 2).sum(axis=1)
    value = rate if maximize else 2.0 - rate
    rng = np.random.default_rng(0)
    reps = value[:, None] + rng.normal(0, 0.01, (len(value), 300))
    return fit_mixture(shares, value, reps, LABELS, [f"c{i}" for i in range(len(value))], model="scheffe",
                       scale="logit" if maximize else "log", maximize=maximize, seed=0)


def test_choose_sends_the_optimum_the_top_and_a_spread():
    fit = _synthetic_fit()
    chosen = px.choose(fit, top=3, others=3)
    assert len(chosen) == 6
    assert chosen[0]["optimum"] and chosen[0]["predicted_rank"] == 1
    assert sum(abs(v - p) for v, p in zip(chosen[0]["shares"].values(), fit.best, strict=True)) < 2e-3
    assert abs(sum(chosen[0]["shares"].values()) - 1) < 1e-9
    assert [c["role"] for c in chosen] == ["top"] * 3 + ["other"] * 3
    predicted = [c["predicted"] for c in chosen]
    assert predicted == sorted(predicted, reverse=True)  # ranked best first
    ranks = [c["predicted_rank"] for c in chosen]
    assert ranks[:3] == [1, 2, 3] and ranks[-1] == 1 + len(fit.shares)  # the worst design point is among the others
    assert all(c["proxy_measured"] is not None for c in chosen[1:])  # design points carry their proxy score


def test_choose_ranks_a_loss_lowest_first():
    fit = _synthetic_fit(maximize=False)
    chosen = px.choose(fit, top=2, others=2)
    predicted = [c["predicted"] for c in chosen]
    assert predicted == sorted(predicted)


def test_phases_are_plain_sweeps(tmp_path):
    path = _recipe(tmp_path, "  proxy: {set: {train.model.arch.hidden_size: 16, train.max_steps: 2}, top: 1, others: 1}")
    loaded = load_sweep(str(path))
    from codemix.recipes.sweep.runner import read_sweep_recipe

    _, data = read_sweep_recipe(str(path))
    proxy = load_sweep(str(path), data=px.phase_data(data, "proxy", loaded.out), path=path)
    assert len(proxy.cells) == 12 and proxy.out == loaded.out / "proxy"
    assert proxy.cells[0].recipe.train.max_steps == 2 and proxy.cells[0].recipe.train.model.arch.hidden_size == 16
    chosen = [{"code": 0.5, "general": 0.25, "symbolic": 0.25}, {"code": 0.0, "general": 1.0, "symbolic": 0.0}]
    target = load_sweep(str(path), data=px.phase_data(data, "target", loaded.out, chosen), path=path)
    assert len(target.cells) == 4 and target.out == loaded.out / "target"
    assert target.cells[0].recipe.train.max_steps == 8  # the recipe's own scale
    assert {tuple(c.values["mix.domain_shares"].values()) for c in target.cells} == {(0.5, 0.25, 0.25), (0.0, 1.0, 0.0)}


def test_cli_proxy_assignments_create_the_block(tmp_path):
    from codemix.recipes.sweep.runner import read_sweep_recipe

    path = _recipe(tmp_path)
    _, data = read_sweep_recipe(str(path))
    merged = px.proxy_overrides(data, ["train.max_steps=2", "train.model.arch.hidden_size=16"])
    assert merged["sweep"]["proxy"]["set"] == {"train.max_steps": 2, "train.model.arch.hidden_size": 16}
    loaded = load_sweep(str(path), data=merged, path=path)
    assert loaded.recipe.sweep.proxy.top == 3


@pytest.mark.parametrize("block, message", [
    ("  proxy: {set: {seed: 4}}", "proxy may change the scale only"),
    ("  proxy: {set: {mix.domain_shares: {code: 1}}}", "proxy may change the scale only"),
    ("  proxy: {set: {}}", "set"),
    ("  proxy: {set: {train.max_steps: 2}, top: 0}", "top"),
    ("  proxy: {set: {train.max_steps: 2}, fit: cubic}", "fit"),
    ("  proxy: {set: {train.max_steps: 2}, colour: red}", "colour"),
])
def test_bad_proxy_blocks_are_one_clear_error(tmp_path, block, message):
    with pytest.raises(CodemixError, match=message):
        load_sweep(str(_recipe(tmp_path, block)))


def test_proxy_needs_a_mixture_design(tmp_path):
    path = _recipe(tmp_path, "  proxy: {set: {train.max_steps: 2}}")
    text = path.read_text().replace("  mixture: {over: [code, general, symbolic], design: lattice, cells: 6}\n", "")
    path.write_text(text)
    with pytest.raises(CodemixError, match="needs a mixture"):
        load_sweep(str(path))


def test_a_proxy_value_that_is_not_a_recipe_key_fails_before_anything_runs(tmp_path):
    from codemix.recipes.sweep.runner import read_sweep_recipe

    path = _recipe(tmp_path, "  proxy: {set: {train.max_stepz: 2}}")
    loaded = load_sweep(str(path))  # the target scale is valid
    _, data = read_sweep_recipe(str(path))
    with pytest.raises(CodemixError, match="max_stepz"):
        load_sweep(str(path), data=px.phase_data(data, "proxy", loaded.out), path=path)


@pytest.mark.slow
def test_proxy_to_target_end_to_end(tmp_path, capsys):
    """The whole study on a tiny model: 6 lattice mixtures x 2 seeds at the proxy scale, the fit
    on code validation loss, 2 + 1 mixtures x 2 seeds at the target scale, then the report (~60 s)."""
    import json

    import codemix

    path = _recipe(tmp_path, "  proxy: {set: {train.max_steps: 3}, top: 2, others: 1, target: 'loss:code', fit: logratio}")
    text = path.read_text().replace("  domain_shares:", "  validation: {rows_per_domain: 8, seed: 0}\n  domain_shares:")
    path.write_text(text)
    result = codemix.sweep(path)
    assert not result.failed
    out = tmp_path / "out"
    choice = json.loads((out / px.CHOICE_FILE).read_text())
    assert choice["target"] == "loss:code" and len(choice["chosen"]) == 3
    assert len(result.data["proxy"]["cells"]) == 12 and len(result.data["target"]["cells"]) == 6
    again = codemix.sweep(path)  # idempotent: the same choice, nothing re-run
    assert json.loads((out / px.CHOICE_FILE).read_text())["chosen"] == choice["chosen"]
    assert set(again.outcomes.values()) == {"done"}
    report = codemix.report([out], resamples=200)
    assert "proxy -> target on loss:code (lower is better)" in report.text
    pt = json.loads((report.out_dir / "proxy_target.json").read_text())
    assert len(pt["rows"]) == 3 and pt["regret"] >= 0
    assert pt["compute"]["full_grid_cells"] == 12 and pt["compute"]["proxy_cells"] == 12
    assert 0 < pt["compute"]["spent_share"]  # every cell recorded its CPU seconds (status.json cpu_s)
    status = json.loads(next((out / "proxy" / "cells").glob("*/status.json")).read_text())
    assert status["cpu_s"] > 0
    assert (report.out_dir / "proxy_target.png").stat().st_size > 10_000
    assert (report.out_dir / "proxy" / "report.md").is_file() and (report.out_dir / "target" / "report.md").is_file()


def test_design_points_go_on_as_the_proxy_ran_them():
    """A Dirichlet draw rounded to 3 decimals may sum to 0.999; the fit renormalises it, but the
    target must run the proxy's mixture under the proxy's name."""
    fit = _synthetic_fit()
    as_run = {name: {d: round(float(v) * 0.999, 3) for d, v in zip(LABELS, s, strict=True)}
              for name, s in zip(fit.names, fit.shares, strict=True)}
    chosen = px.choose(fit, top=3, others=3, as_run=as_run)
    for c in chosen[1:]:
        assert c["shares"] == as_run[c["proxy_config"]]
    assert chosen[0]["proxy_config"] is None and all(len(str(v)) <= 5 for v in chosen[0]["shares"].values())


def test_rank_correlation_per_replicate_equals_scipys():
    from scipy.stats import spearmanr

    from codemix.recipes.report.proxy_target import spearman_rows

    rng = np.random.default_rng(1)
    predicted = np.array([1.0, 2.0, 2.0, 3.5, 0.2, 4.0])  # a tie: average ranks, as scipy
    measured = rng.normal(size=(5, 6))
    measured[0] = predicted * 2  # perfectly concordant
    rho = spearman_rows(predicted, measured)
    assert rho[0] == pytest.approx(1.0)
    for row, r in zip(measured, rho, strict=True):
        assert r == pytest.approx(spearmanr(predicted, row).statistic)


def test_validate_checks_the_proxy_phase_too(tmp_path):
    import codemix

    good = _recipe(tmp_path, "  proxy: {set: {train.max_steps: 2}}")
    assert codemix.validate([good])[0].cells == 12
    bad = _recipe(tmp_path, "  proxy: {set: {train.max_stepz: 2}}")
    with pytest.raises(CodemixError, match="max_stepz"):
        codemix.validate([bad])


def test_the_cli_proxy_flag_plans_both_phases(tmp_path, capsys):
    from codemix.recipes.cli import main

    path = _recipe(tmp_path)
    assert main(["sweep", str(path), "--proxy", "train.max_steps=2", "--plan"]) == 0
    stdout = capsys.readouterr().out
    assert "proxy -> target: the 12-cell design at the proxy scale (train.max_steps=2)" in stdout
    assert "target phase: chosen after the proxy phase's fit (not yet)" in stdout
    assert not (tmp_path / "out" / "proxy" / "cells").exists()  # a plan runs nothing
