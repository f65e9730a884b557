"""`loss:<domain>` outcomes from a run's train/validation_loss.json: lower is better, the rows'
losses as per-problem scores (paired across cells by row id), on the Cell as `losses`."""

import json

import numpy as np
import pytest

from codemix.core.errors import CodemixError
from codemix.recipes.report.data import load_run, validation_outcomes


def _run(tmp_path, per_row, domains, manifest=True):
    train = tmp_path / "run" / "train"
    train.mkdir(parents=True)
    (train / "validation_loss.json").write_text(json.dumps({"domains": domains, "per_row": per_row}))
    if manifest:
        (train / "manifest.json").write_text(json.dumps({"stage": "train", "final_loss": 0.5, "steps": 8,
                                                          "validation_loss": {d: b["mean"] for d, b in domains.items()}}))
    return tmp_path / "run"


def test_outcomes_per_domain(tmp_path):
    per_row = {"val-a-0": 1.0, "val-a-1": 3.0, "val-b-0": 0.5}
    domains = {"code": {"mean": 2.0, "rows": 2, "tokens": 9, "row_ids": ["val-a-0", "val-a-1"]},
               "general": {"mean": 0.5, "rows": 1, "tokens": 4, "row_ids": ["val-b-0"]},
               "symbolic": {"mean": None, "rows": 0, "tokens": 0, "row_ids": []}}  # every row dropped
    run = _run(tmp_path, per_row, domains)
    out = validation_outcomes(run)
    assert list(out) == ["loss:code", "loss:general"]
    code = out["loss:code"]
    assert code.lower_is_better and code.metric == "loss" and code.benchmark == "loss:code"
    assert code.value == 2.0 and code.n_problems == 2 and code.task_ids == ("val-a-0", "val-a-1")
    np.testing.assert_array_equal(code.scores, [1.0, 3.0])
    assert code.aligned(("val-a-1", "val-a-0")).tolist() == [3.0, 1.0]  # pairs by row id across cells
    cell = load_run(run)
    assert set(cell.losses) == {"loss:code", "loss:general"} and cell.train["validation_loss"]["code"] == 2.0
    assert not cell.outcomes  # losses are not benchmark results


def test_absent_unfinished_or_broken(tmp_path):
    assert validation_outcomes(tmp_path) == {}
    run = _run(tmp_path / "a", {"x": 1.0}, {"code": {"mean": 1.0, "row_ids": ["x"]}}, manifest=False)
    assert load_run(run).losses == {}  # no train manifest: the run did not finish
    broken = _run(tmp_path / "b", {"x": 1.0}, {"code": {"mean": 1.0, "row_ids": ["x", "y"]}})
    with pytest.raises(CodemixError, match=r"domain code: rows \['y'\] have no loss"):
        validation_outcomes(broken)
    (broken / "train" / "validation_loss.json").write_text("[]")
    with pytest.raises(CodemixError, match="expected a JSON object"):
        validation_outcomes(broken)


def test_a_loss_is_a_target_of_its_own_not_a_group_of_a_benchmark():
    from codemix.recipes.report.data import headline, is_group

    assert not is_group("loss:code") and is_group("markov:unseen")
    assert headline(["loss:code"]) == ["loss:code"]
