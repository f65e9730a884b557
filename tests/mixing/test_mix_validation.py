"""`mix.validation`: the same held-out rows per domain in every cell of a study, never in the
training rows, counted in the manifest; absent, the mixture is byte-identical to before."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from codemix.core.errors import CodemixError
from codemix.mixing.config import MixConfig
from codemix.recipes.cli import main
from helpers.mixing import alpaca_rows, build, mix_config, read_rows, write_jsonl

REPO = Path(__file__).resolve().parents[2]
# content sha256 of the bundled smoke recipe's mixture, as built before mix.validation existed:
# a recipe without the key must keep exactly these bytes.
SMOKE_CONTENT_HASH = "a1cfb57542886ea0b38a8946a00f1d85b6dc9b99345492703546c70a53539d51"


def _sources(tmp_path):
    notes = write_jsonl(tmp_path / "notes.jsonl", alpaca_rows(120, "notes"))
    return [{"name": "pyfuncs", "path": "builtin:pyfuncs", "domain": "code"},
            {"name": "texttasks", "path": "builtin:texttasks", "domain": "general"},
            {"name": "notes", "path": str(notes), "format": "alpaca", "domain": "general"},
            {"name": "markov", "path": "builtin:markov", "domain": "symbolic"}]


def _key(row):
    return json.dumps([row["prompt"], row["completion"]])


def _rows(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_same_rows_in_every_cell_and_never_trained_on(tmp_path):
    srcs = _sources(tmp_path)
    validation = {"rows_per_domain": 40, "seed": 5}
    cells = [({"code": 1, "general": 1, "symbolic": 1}, 1, "exact"),
             ({"code": 0.7, "general": 0.1, "symbolic": 0.2}, 2, "exact"),
             ({"code": 0.2, "general": 0.5, "symbolic": 0.3}, 1, "none")]
    held = []
    for i, (shares, seed, dedup) in enumerate(cells):
        out = tmp_path / f"cell{i}"
        mix = mix_config(srcs, budget=300, domain_shares=shares, validation=validation, dedup=dedup)
        manifest, _ = build(out, mix, seed=seed)
        val = _rows(out / "validation.jsonl")
        held.append((out / "validation.jsonl").read_bytes())
        trained = read_rows(out)
        assert not {_key(r) for r in val} & {_key(r) for r in trained}   # dedup: none included
        assert not {r["id"] for r in val} & {r["id"] for r in trained}
        assert all(r["id"].startswith("val-") for r in val)
        block = manifest["validation"]
        assert block["content_hash"] == hashlib.sha256(held[-1]).hexdigest()
        assert block["rows"] == 120 and "validation.jsonl" in manifest["outputs"]
        for domain in ("code", "general", "symbolic"):
            rows = [r for r in val if r["domain"] == domain]
            assert block["domains"][domain]["rows"] == len(rows) == 40
            assert block["domains"][domain]["tokens"] == sum(
                len("\n".join(m["content"] for m in r["prompt"] + r["completion"]).encode()) for r in rows)
        # the general domain draws from both of its sources
        assert set(block["domains"]["general"]["sources"]) == {"texttasks", "notes"}
        held_counts = {s["name"]: s["validation_held_out"] for s in manifest["sources"]}
        assert held_counts["notes"] == block["domains"]["general"]["sources"]["notes"]  # a file pool holds them all
    assert held[0] == held[1] == held[2]
    moved = build(tmp_path / "other", mix_config(srcs, budget=300, domain_shares=cells[0][0],
                                                 validation={"rows_per_domain": 40, "seed": 6}))[0]
    assert moved["validation"]["content_hash"] != hashlib.sha256(held[0]).hexdigest()


def test_smoke_mixture_unchanged_without_the_key(tmp_path):
    recipe = yaml.safe_load((REPO / "recipes" / "data" / "smoke.yaml").read_text())
    mix = MixConfig.model_validate(recipe["mix"])
    assert mix.validation is None and "validation" not in mix.rows_fingerprint()
    manifest, _ = build(tmp_path / "mix", mix, seed=recipe["seed"], recipe=recipe)
    assert manifest["content_hash"] == SMOKE_CONTENT_HASH
    assert "validation" not in manifest and not (tmp_path / "mix" / "validation.jsonl").exists()


def test_turning_validation_on_rebuilds_and_off_removes_the_file(tmp_path):
    srcs = _sources(tmp_path)[2:3]
    srcs[0]["domain"] = "code"
    out = tmp_path / "mix"
    on, _ = build(out, mix_config(srcs, budget=50, validation={"rows_per_domain": 10}))
    assert on["validation"]["seed"] == 0 and (out / "validation.jsonl").is_file()
    off, built = build(out, mix_config(srcs, budget=50))
    assert built and "validation" not in off and not (out / "validation.jsonl").exists()


def test_too_few_rows_is_one_error_naming_the_domain(tmp_path):
    srcs = _sources(tmp_path)[2:3]   # notes: 120 rows
    srcs[0]["domain"] = "code"
    with pytest.raises(CodemixError, match=r"domain 'code' \(sources notes\) has 120 usable rows .* rows_per_domain is 121"):
        build(tmp_path / "mix", mix_config(srcs, budget=10, validation={"rows_per_domain": 121}))
    assert not (tmp_path / "mix" / "manifest.json").exists()


@pytest.mark.parametrize("validation, message", [
    ({"rows_per_domain": 0}, "mix.validation.rows_per_domain"),
    ({"rows_per_domain": 10, "seeds": 1}, "mix.validation.seeds"),
    ({"seed": 1}, "mix.validation.rows_per_domain"),
])
def test_bad_config_is_one_line(tmp_path, capsys, validation, message):
    with pytest.raises(ValidationError):
        MixConfig.model_validate({"budget": 10, "sources": _sources(tmp_path)[2:3], "validation": validation})
    notes = _sources(tmp_path)[2]
    notes["domain"] = "code"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "t", "seed": 1, "output_dir": str(tmp_path / "run"),
                                      "mix": {"budget": 10, "sources": [notes], "validation": validation}}))
    assert main(["mix", str(recipe)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codemix: error:") and message in err[0]
