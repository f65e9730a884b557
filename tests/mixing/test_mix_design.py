"""Mixtures of many domains: free domain labels with mix.domain_shares, and a sweep's
`mixture:` design on the simplex (dirichlet, lattice, vertices+centroid), validated up front."""

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from codemix.core.errors import CodemixError
from codemix.mixing.design import design_points
from codemix.recipes.sweep.runner import load_sweep
from helpers.mixing import alpaca_rows, build, mix_config, write_jsonl

OVER = ["code", "general", "math"]


@pytest.mark.parametrize("design,cells,expected", [("lattice", 48, 45), ("vertices+centroid", 4, 4),
                                                   ("vertices+centroid", 7, 7), ("dirichlet", 24, 24)])
def test_designs_lie_on_the_simplex(design, cells, expected):
    points = design_points(OVER, design, cells, seed=3)
    assert len(points) == expected and len({tuple(p.values()) for p in points}) == expected
    for p in points:
        assert list(p) == OVER and all(v >= 0 for v in p.values()) and abs(sum(p.values()) - 1) <= 1.5e-3


def test_lattice_and_classic_points_by_hand():
    assert design_points(["a", "b"], "lattice", 3) == [{"a": 0.0, "b": 1.0}, {"a": 0.5, "b": 0.5}, {"a": 1.0, "b": 0.0}]
    classic = design_points(OVER, "vertices+centroid", 7)
    assert classic[:3] == [{"code": 1.0, "general": 0.0, "math": 0.0}, {"code": 0.0, "general": 1.0, "math": 0.0},
                           {"code": 0.0, "general": 0.0, "math": 1.0}]
    assert classic[3] == {"code": 0.333, "general": 0.333, "math": 0.333}
    assert classic[4] == {"code": 0.5, "general": 0.5, "math": 0.0}


def test_dirichlet_is_seeded_and_concentration_pulls_to_the_centroid():
    assert design_points(OVER, "dirichlet", 10, seed=1) == design_points(OVER, "dirichlet", 10, seed=1)
    assert design_points(OVER, "dirichlet", 10, seed=1) != design_points(OVER, "dirichlet", 10, seed=2)
    spread = lambda c: np.mean([np.ptp(list(p.values())) for p in design_points(OVER, "dirichlet", 200, concentration=c)])  # noqa: E731
    assert spread(20.0) < spread(1.0) < spread(0.2)


def test_bounds_are_respected_or_refused():
    points = design_points(OVER, "dirichlet", 30, bounds={"math": (0.0, 0.2), "code": (0.3, 1.0)})
    assert all(p["math"] <= 0.2 and p["code"] >= 0.3 for p in points)
    assert all(p["math"] <= 0.25 for p in design_points(OVER, "lattice", 20, bounds={"math": (0, 0.25)}))
    with pytest.raises(ValueError, match="no mixture"):
        design_points(OVER, "lattice", 10, bounds={"code": (0.6, 1), "math": (0.5, 1)})
    with pytest.raises(ValueError, match="fewer than cells"):
        design_points(OVER, "vertices+centroid", 7, bounds={"code": (0.1, 0.9)})  # 6 of its 10 points inside


@pytest.fixture()
def three_domains(tmp_path):
    return [{"name": d, "path": str(write_jsonl(tmp_path / f"{d}.jsonl", alpaca_rows(60, d))), "format": "alpaca",
             "domain": d} for d in OVER]


def test_domain_shares_split_the_budget_over_free_labels(tmp_path, three_domains):
    manifest, _ = build(tmp_path / "m", mix_config(three_domains, budget=50, domain_shares={"code": 0.6, "general": 0.3, "math": 0.1}))
    assert manifest["style"] == "domain_shares"
    assert manifest["domains"] == {"code": 30, "general": 15, "math": 5}
    assert manifest["tokens"]["by_domain"]["math"]["rows"] == 5


def test_domain_shares_errors_name_the_problem(three_domains):
    with pytest.raises(ValidationError, match="no share for domain"):
        mix_config(three_domains, budget=50, domain_shares={"code": 0.5, "general": 0.5})
    with pytest.raises(ValidationError, match="no source has domain logic"):
        mix_config(three_domains, budget=50, domain_shares={"code": 0.5, "general": 0.3, "math": 0.1, "logic": 0.1})
    with pytest.raises(ValidationError, match="neither; give every domain a share with mix.domain_shares"):
        mix_config(three_domains, budget=50, general_fraction=0.2)
    with pytest.raises(ValidationError, match="conflicting mixing styles"):
        mix_config(three_domains[:2], budget=50, general_fraction=0.2, domain_shares={"code": 1, "general": 1})
    with pytest.raises(ValidationError, match="domain '1x'"):
        mix_config([{**three_domains[0], "domain": "1x"}], budget=5)


def _sweep_recipe(tmp_path, sources, mixture):
    # the base recipe is a valid run of its own: the equal mixture of its sources' domains
    base_shares = {d: 1.0 for d in dict.fromkeys(s["domain"] for s in sources)}
    recipe = {"name": "simplex", "seed": 1, "output_dir": str(tmp_path / "out"),
              "mix": {"budget": 30, "sources": sources, "decontaminate": {"enabled": False}, "domain_shares": base_shares},
              "sweep": {"mixture": mixture}}
    path = tmp_path / "simplex.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_a_mixture_sweep_expands_into_named_validated_cells(tmp_path, three_domains):
    sweep = load_sweep(str(_sweep_recipe(tmp_path, three_domains, {"over": OVER, "design": "vertices+centroid", "cells": 5})))
    names = [c.name for c in sweep.cells]
    assert len(names) == 5 and names[0] == "domain_shares=code_1.0_general_0.0_math_0.0"
    assert names[3] == "domain_shares=code_0.333_general_0.333_math_0.333"
    assert sweep.cells[4].values["mix.domain_shares"] == {"code": 0.5, "general": 0.5, "math": 0.0}


def test_a_mixture_sweep_over_a_domain_without_sources_fails_up_front(tmp_path, three_domains):
    path = _sweep_recipe(tmp_path, three_domains[:2], {"over": OVER, "design": "lattice", "cells": 6})
    with pytest.raises(CodemixError, match="no source has domain math"):
        load_sweep(str(path))
    path = _sweep_recipe(tmp_path, three_domains, {"over": OVER, "design": "dirichlet"})
    with pytest.raises(CodemixError, match="dirichlet needs cells"):
        load_sweep(str(path))
