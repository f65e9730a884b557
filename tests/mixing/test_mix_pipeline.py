"""The mixing stage end to end: determinism, up-to-date checks, the manifest contract, dedup,
output formats, `load_mixture` and the `codemix mix` command."""

import json
from collections import Counter

import datasets
import pytest

from codemix.core.errors import CodemixError
from codemix.mixing.pipeline import load_mixture
from codemix.recipes.cli import main
from helpers.mixing import alpaca_rows, build, mix_config, read_rows, write_jsonl


@pytest.fixture()
def sources(tmp_path):
    code = alpaca_rows(80, "code")
    code[5] = dict(code[1])                                              # exact duplicate
    code[6] = {**code[2], "instruction": "  " + code[2]["instruction"].upper() + "\n"}  # same after normalising
    code[7] = {**code[3], "output": "   "}                              # empty response
    a = write_jsonl(tmp_path / "code.jsonl", code)
    g = write_jsonl(tmp_path / "gen.jsonl", alpaca_rows(40, "general") + [alpaca_rows(1, "code")[0]])  # cross-source dup
    return [{"name": "code", "path": str(a), "format": "alpaca", "domain": "code"},
            {"name": "gen", "path": str(g), "format": "alpaca", "domain": "general"}]


def test_same_seed_same_content_different_seed_different_rows(tmp_path, sources):
    mix = mix_config(sources, budget=60, general_fraction=0.3)
    m1, built1 = build(tmp_path / "a", mix, seed=7)
    m2, built2 = build(tmp_path / "b", mix, seed=7)
    m3, _ = build(tmp_path / "c", mix, seed=8)
    assert built1 and built2
    assert m1["content_hash"] == m2["content_hash"] != m3["content_hash"]
    assert (tmp_path / "a" / "data.jsonl").read_bytes() == (tmp_path / "b" / "data.jsonl").read_bytes()
    assert {r["id"] for r in read_rows(tmp_path / "a")} != {r["id"] for r in read_rows(tmp_path / "c")}


def test_up_to_date_and_what_triggers_a_rebuild(tmp_path, sources):
    mix = mix_config(sources, budget=60, general_fraction=0.3)
    out = tmp_path / "mix"
    recipe = {"name": "t", "seed": 1, "mix": mix.model_dump(mode="json"), "train": {"learning_rate": 1e-4}}
    m1, built = build(out, mix, recipe=recipe)
    assert built
    stamp = (out / "data.jsonl").stat().st_mtime_ns
    # Another train section (different recipe hash) is not an input of the mixture.
    m2, built = build(out, mix, recipe={**recipe, "train": {"learning_rate": 3e-4}})
    assert not built and m2["inputs_hash"] == m1["inputs_hash"] and (out / "data.jsonl").stat().st_mtime_ns == stamp
    # A changed source file, a changed mix section, a changed seed: rebuild.
    with open(sources[1]["path"], "a") as f:
        f.write(json.dumps({"instruction": "new row", "output": "new answer"}) + "\n")
    _, built = build(out, mix, recipe=recipe)
    assert built
    _, built = build(out, mix_config(sources, budget=61, general_fraction=0.3), recipe=recipe)
    assert built
    _, built = build(out, mix, seed=2, recipe=recipe)
    assert built
    _, built = build(out, mix, seed=2, recipe=recipe, force=True)
    assert built


def test_manifest_contract(tmp_path, sources):
    mix = mix_config(sources, budget=60, general_fraction=0.3)
    manifest, _ = build(tmp_path / "mix", mix)
    on_disk = json.loads((tmp_path / "mix" / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    for key in ("recipe_hash", "content_hash", "rows", "sources", "decontamination", "dedup", "versions",
                "inputs_hash", "recipe", "created"):
        assert key in manifest, key
    for s in manifest["sources"]:
        assert {"name", "domain", "available", "requested", "realised", "dropped"} <= set(s)
        assert s["fingerprint"]["files"][0][1] and len(s["fingerprint"]["files"][0][1]) == 64
    import hashlib

    assert manifest["content_hash"] == hashlib.sha256((tmp_path / "mix" / "data.jsonl").read_bytes()).hexdigest()
    assert manifest["versions"]["pyarrow"] and manifest["rows"] == 60
    assert not list((tmp_path / "mix").glob(".*tmp*"))  # temporaries renamed away


def test_empty_rows_and_duplicates_are_dropped_and_counted(tmp_path, sources):
    mix = mix_config(sources, budget=110, general_fraction=0.35)
    manifest, _ = build(tmp_path / "mix", mix)
    code, gen = manifest["sources"]
    assert code["empty"] == 1 and code["duplicates"] == 2          # rows 5 and 6 repeat rows 1 and 2
    assert code["available"] == 80 - 3 and code["dropped"] == 3
    assert gen["duplicates"] == 1                                   # its copy of code-0 is already mixed in
    assert manifest["dedup"]["removed"] == 3
    rows = read_rows(tmp_path / "mix")
    keys = Counter(tuple((m["role"], " ".join(m["content"].lower().split())) for m in r["prompt"] + r["completion"])
                   for r in rows)
    assert max(keys.values()) == 1
    off = mix_config(sources, budget=110, general_fraction=0.35, dedup="none")
    manifest, _ = build(tmp_path / "off", off)
    assert manifest["sources"][0]["duplicates"] == 0 and manifest["sources"][0]["available"] == 79


def test_rows_are_trl_ready_and_ids_stable(tmp_path, sources):
    mix = mix_config(sources, budget=150, general_fraction=0.5, on_shortage="upsample")
    manifest, _ = build(tmp_path / "mix", mix)
    ds = load_mixture(tmp_path / "mix")
    assert isinstance(ds, datasets.Dataset) and len(ds) == 150
    assert ds.column_names == ["id", "source", "domain", "task", "prompt", "completion"]
    row = ds[0]
    assert row["completion"][0]["role"] == "assistant" and row["prompt"][-1]["role"] == "user"
    ids = ds["id"]
    assert len(set(ids)) == 150
    assert any(i.startswith("gen-") and i.endswith("-r1") for i in ids)   # 75 general rows from 40 available
    assert all(i.split("-")[0] in ("code", "gen") and i.split("-")[1].isdigit() for i in ids)
    assert len(load_mixture(tmp_path / "mix" / "data.jsonl")) == 150


def test_growing_the_budget_keeps_the_earlier_rows(tmp_path, sources):
    small, _ = build(tmp_path / "s", mix_config(sources, budget=30, general_fraction=0.5))
    big, _ = build(tmp_path / "b", mix_config(sources, budget=60, general_fraction=0.5))
    assert {r["id"] for r in read_rows(tmp_path / "s")} <= {r["id"] for r in read_rows(tmp_path / "b")}


def test_parquet_output(tmp_path, sources):
    mix = mix_config(sources, budget=40, general_fraction=0.5, output_format="parquet")
    manifest, _ = build(tmp_path / "mix", mix)
    assert manifest["data_file"] == "data.parquet" and not (tmp_path / "mix" / "data.jsonl").exists()
    ds = load_mixture(tmp_path / "mix")
    jsonl, _ = build(tmp_path / "j", mix_config(sources, budget=40, general_fraction=0.5))
    assert ds.to_list() == load_mixture(tmp_path / "j").to_list()


def test_load_mixture_errors(tmp_path):
    with pytest.raises(CodemixError, match="no mixture here"):
        load_mixture(tmp_path)
    with pytest.raises(CodemixError, match="no such mixture"):
        load_mixture(tmp_path / "nope.jsonl")


def _recipe(tmp_path, sources, **mix):
    import yaml

    body = {"name": "t", "seed": 3, "output_dir": str(tmp_path / "run"),
            "mix": {"budget": 50, "general_fraction": 0.2, "sources": sources, "decontaminate": {"enabled": False}, **mix}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def test_codemix_mix_command(tmp_path, sources, capsys):
    recipe = _recipe(tmp_path, sources)
    assert main(["mix", recipe]) == 0
    out = capsys.readouterr().out
    assert "source" in out and "requested" in out and "realised" in out and "dropped" in out
    assert str(tmp_path / "run" / "mix" / "data.jsonl") in out and "content sha256" in out
    assert main(["mix", recipe]) == 0
    assert capsys.readouterr().out.startswith("up to date: ")
    assert main(["mix", recipe, "--force"]) == 0
    assert "requested" in capsys.readouterr().out


def test_codemix_mix_user_errors(tmp_path, sources, capsys):
    recipe = _recipe(tmp_path, sources, budget=5000)
    assert main(["mix", recipe]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("codemix: error: source 'code'") and "quota is" in err[0]
    assert not (tmp_path / "run" / "mix" / "manifest.json").exists()
    import yaml

    no_mix = tmp_path / "nomix.yaml"
    no_mix.write_text(yaml.safe_dump({"name": "x", "seed": 1}))
    assert main(["mix", str(no_mix)]) == 2
    assert "no mix section" in capsys.readouterr().err
