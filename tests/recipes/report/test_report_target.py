"""`codemix report --target`: the cells analysed on one benchmark, or on one domain's validation
loss (lower is better: the verdict and the best mixture read it so)."""

import numpy as np
import pytest

from codemix.core.errors import CodemixError
from codemix.recipes.report.analysis import analyse
from codemix.recipes.report.data import Cell, Outcome
from codemix.recipes.report.study import Study
from codemix.recipes.report.target import for_target

ROWS = tuple(f"val-{i}" for i in range(40))


def _loss(value: float, rng) -> Outcome:
    scores = np.clip(rng.normal(value, 0.05, len(ROWS)), 0.01, None)
    return Outcome("loss:code", "loss", float(scores.mean()), None, len(ROWS), "h", ROWS, scores, False)


def _pass(rate: float, rng) -> Outcome:
    scores = (rng.random(50) < rate).astype(float)
    return Outcome("pyfuncs", "pass@1", float(scores.mean()), None, 50, "p", tuple(f"t{i}" for i in range(50)),
                   scores, True)


def _study(losses=True) -> Study:
    rng = np.random.default_rng(0)
    cells = []
    for name, loss in (("a", 1.0), ("b", 0.6), ("c", 1.4)):
        cell = Cell(name, {"x": name}, outcomes={"pyfuncs": _pass(0.3, rng)})
        if losses:
            cell.losses = {"loss:code": _loss(loss, rng)}
        cells.append(cell)
    return Study("s", cells, "a")


def test_a_loss_target_replaces_the_benchmarks_and_lower_is_better():
    study = for_target(_study(), "loss:code")
    assert study.benchmarks() == ["loss:code"]
    analysis = analyse(study, resamples=500)
    verdicts = {r.config: r.verdict for r in analysis.rows if r.config != "a"}
    assert verdicts == {"b": "better", "c": "worse"}  # b's loss is lower than the baseline's
    row = analysis.row("b", "loss:code")
    assert row.delta < 0 and row.ci is not None and row.ci[0] < row.value < row.ci[1]


def test_a_benchmark_target_keeps_only_it_and_average_keeps_all():
    study = _study()
    assert for_target(study, "average") is study and for_target(study, None) is study
    assert for_target(study, "pyfuncs").benchmarks() == ["pyfuncs"]


@pytest.mark.parametrize("target, message", [
    ("humaneval", "not a benchmark of these runs"),
    ("loss:math", "recorded: loss:code"),
])
def test_an_unknown_target_names_what_there_is(target, message):
    with pytest.raises(CodemixError, match=message):
        for_target(_study(), target)


def test_a_loss_target_without_validation_losses_says_how_to_get_them():
    with pytest.raises(CodemixError, match="mix.validation"):
        for_target(_study(losses=False), "loss:code")
