"""Recipes: every bundled one validates, and each bad recipe fails with one line naming the file
and the key (exit status 2, nothing else on stderr)."""

import pytest
import yaml

from codemix.core.errors import CodemixError
from codemix.recipes.cli import main
from codemix.recipes.loader import bundled_recipes, load_recipe

SOURCES = [{"name": "code", "path": "builtin:pyfuncs", "domain": "code"},
           {"name": "general", "path": "builtin:texttasks", "domain": "general"}]


@pytest.mark.parametrize("name", sorted(bundled_recipes()))
def test_every_bundled_recipe_validates(name, capsys):
    from codemix.mixing.sources import resolve

    recipe, path = load_recipe(name)
    assert recipe.name and path.is_file()
    if recipe.mix is not None:  # every source names something loadable (Hub ids are not fetched here)
        import codemix.mixing.builtin

        for src in recipe.mix.sources:
            ref = resolve(src)
            assert ref.kind != "builtin" or ref.builtin in codemix.mixing.builtin.BUILTIN_SOURCES, src.path
    assert main(["validate", name]) == 0
    assert capsys.readouterr().out.startswith("ok  ")


def _write(tmp_path, mix=None, **top):
    body = {"name": "bad", "seed": 1, **top}
    if mix is not None:
        body["mix"] = mix
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _mix(**kw):
    sources = kw.pop("sources", SOURCES)
    return {"budget": 100, "general_fraction": 0.1, "sources": sources, **kw}


BAD = [
    ("unknown mix key", _mix(budgett=5), r"unknown key 'mix.budgett' \(did you mean 'budget'\?\)"),
    ("unknown source key", _mix(sources=[{**SOURCES[0], "fromat": "alpaca"}, SOURCES[1]]),
     r"unknown key 'mix.sources\[0\].fromat' \(did you mean 'format'\?\)"),
    ("unknown format", _mix(sources=[{**SOURCES[0], "format": "dolly"}, SOURCES[1]]), r"mix.sources\[0\].format: .*alpaca"),
    ("negative share", _mix(general_fraction=None, sources=[{**SOURCES[0], "share": -1}, {**SOURCES[1], "share": 1}]),
     r"mix.sources\[0\].share: must be >= 0, got -1"),
    ("all-zero shares", _mix(general_fraction=None, sources=[{**SOURCES[0], "share": 0}, {**SOURCES[1], "share": 0}]),
     r"all source shares are zero"),
    ("duplicate names", _mix(sources=[SOURCES[0], {**SOURCES[1], "name": "code"}]), r"duplicate source name\(s\): code"),
    ("conflicting styles", _mix(sources=[{**SOURCES[0], "share": 1}, SOURCES[1]]),
     r"conflicting mixing styles: mix.general_fraction / sources\[\].weight and sources\[\].share"),
    ("percentage", _mix(general_fraction=10), r"general_fraction: is a fraction in \[0, 1\], not a percentage; got 10.0 \(did you mean 0.1\?\)"),
    ("counts and budget", _mix(budget=7, general_fraction=None, sources=[{**SOURCES[0], "count": 3}, {**SOURCES[1], "count": 3}]),
     r"budget 7 != sum of source counts 6"),
    ("missing count", _mix(budget=None, general_fraction=None, sources=[{**SOURCES[0], "count": 3}, SOURCES[1]]),
     r"count-style mixing needs a count on every source; missing on: general"),
    ("missing budget", _mix(budget=None), r"budget is required"),
    ("no general source", _mix(sources=[SOURCES[0]], general_fraction=0.2), r"no source has domain: general"),
    ("bad on_shortage", _mix(on_shortage="pad"), r"mix.on_shortage: .*'error', 'upsample' or 'shrink'"),
    ("short ngram", _mix(decontaminate={"ngram": 2}), r"mix.decontaminate.ngram: .*greater than or equal to 4"),
]


@pytest.mark.parametrize("mix, pattern", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_recipe_is_one_clear_line(tmp_path, capsys, mix, pattern):
    path = _write(tmp_path, mix)
    with pytest.raises(CodemixError, match=pattern):
        load_recipe(str(path))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"codemix: error: {path}")


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nseed: 1\nmix:\n  budget: [1, 2\n")
    with pytest.raises(CodemixError, match=r"broken.yaml:\d+: invalid YAML"):
        load_recipe(str(path))


def test_overrides_apply_before_validation(tmp_path):
    path = _write(tmp_path, _mix())
    recipe, _ = load_recipe(str(path), ["mix.budget=2000", "mix.sources.0.weight=2"])
    assert recipe.mix.budget == 2000 and recipe.mix.sources[0].weight == 2
    with pytest.raises(CodemixError, match=r"unknown key 'mix.bugdet' \(did you mean 'budget'\?\)"):
        load_recipe(str(path), ["mix.bugdet=5"])
