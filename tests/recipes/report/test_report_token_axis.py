"""`codemix report --axis token_share`: the best value along the general domain's realised share
of the mixture's tokens, read from each cell's mix manifest."""

import csv
import json

from codemix.recipes.cli import main
from helpers.report import write_sweep


def _add_token_counts(sweep, per_row_general: float = 40.0, per_row_code: float = 160.0):
    """Record tokens in every cell's mix manifest as a build does: general rows 4x shorter."""
    for manifest_path in sorted(sweep.glob("cells/*/mix/manifest.json")):
        m = json.loads(manifest_path.read_text())
        gen, code = m["domains"]["general"], m["domains"]["code"]
        tokens = gen * per_row_general + code * per_row_code
        m["tokens"] = {"tokenizer": "byte", "by_domain": {
            "general": {"rows": gen, "tokens": gen * per_row_general, "row_share": gen / m["rows"],
                        "token_share": gen * per_row_general / tokens}}}
        manifest_path.write_text(json.dumps(m))


def test_best_value_along_the_token_share(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sweep = write_sweep(tmp_path / "ratios")
    _add_token_counts(sweep)
    assert main(["report", str(sweep), "--axis", "token_share", "--resamples", "500"]) == 0
    with open(sweep / "report" / "best.csv", newline="") as f:
        best = {r["benchmark"]: r for r in csv.DictReader(f)}
    avg = best["average"]
    assert avg["axis"] == "token_share"
    # the generator's peak is at 10% of rows = 40*0.1 / (40*0.1 + 160*0.9) = 2.7% of tokens
    assert float(avg["ci_low"]) <= 4 / 148 <= float(avg["ci_high"]) <= 0.08
    md = (sweep / "report" / "report.md").read_text()
    assert "best token_share on average" in md


def test_token_share_axis_needs_manifests_with_token_counts(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sweep = write_sweep(tmp_path / "ratios", fractions=(0.0, 0.1, 0.25))
    assert main(["report", str(sweep), "--axis", "token_share", "--resamples", "200"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--axis token_share" in err[0] and "no token_share in their mixture manifest" in err[0]
