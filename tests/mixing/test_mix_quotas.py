"""Quotas are exact: largest-remainder rounding sums to the budget for every style, and the
written mixture realises exactly the requested rows per source (with and without upsampling)."""

from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemix.core.errors import CodemixError
from codemix.mixing.quotas import allocate, largest_remainder, select
from helpers.mixing import alpaca_rows, build, mix_config, read_rows, write_jsonl

weights = st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False, allow_infinity=False), min_size=1, max_size=8)


@given(total=st.integers(0, 10**7), ws=weights)
def test_largest_remainder_sums_exactly_and_stays_within_one(total, ws):
    if sum(ws) == 0 and total:
        with pytest.raises(ValueError, match="zero"):
            largest_remainder(total, ws)
        return
    out = largest_remainder(total, ws)
    assert sum(out) == total
    s = sum(Fraction(repr(w)) for w in ws) or 1
    for q, w in zip(out, ws, strict=True):
        assert abs(q - total * Fraction(repr(w)) / s) < 1
        assert q >= 0


def test_largest_remainder_uses_the_written_decimal():
    assert largest_remainder(20000, [0.9, 0.1]) == [18000, 2000]
    assert largest_remainder(10, [0.7, 0.3]) == [7, 3]
    assert largest_remainder(5, [1, 1]) == [3, 2]  # ties go to the source listed first


@given(budget=st.integers(1, 10**6), gf=st.floats(0, 1), code_w=st.lists(st.floats(0.01, 10), min_size=1, max_size=3),
       gen_w=st.lists(st.floats(0.01, 10), min_size=1, max_size=3))
def test_general_fraction_quotas_sum_to_budget(budget, gf, code_w, gen_w):
    sources = [{"name": f"c{i}", "path": "x.jsonl", "domain": "code", "weight": w} for i, w in enumerate(code_w)]
    sources += [{"name": f"g{i}", "path": "x.jsonl", "domain": "general", "weight": w} for i, w in enumerate(gen_w)]
    q = allocate(mix_config(sources, budget=budget, general_fraction=gf))
    assert sum(q.values()) == budget
    general = sum(v for k, v in q.items() if k.startswith("g"))
    assert abs(general - budget * gf) < 1


@given(budget=st.integers(1, 10**6), shares=st.lists(st.floats(0, 5), min_size=1, max_size=6).filter(lambda s: sum(s) > 0))
def test_share_quotas_sum_to_budget(budget, shares):
    sources = [{"name": f"s{i}", "path": "x.jsonl", "domain": "code", "share": s} for i, s in enumerate(shares)]
    q = allocate(mix_config(sources, budget=budget))
    assert sum(q.values()) == budget


@given(counts=st.lists(st.integers(0, 10**6), min_size=1, max_size=6).filter(lambda c: sum(c) > 0))
def test_count_quotas_are_the_counts(counts):
    sources = [{"name": f"s{i}", "path": "x.jsonl", "domain": "code", "count": c} for i, c in enumerate(counts)]
    assert list(allocate(mix_config(sources)).values()) == counts


@given(available=st.integers(1, 200), quota=st.integers(0, 1000), seed=st.integers(0, 2**32))
def test_upsample_takes_whole_repeats_then_a_sample_without_replacement(available, quota, seed):
    eligible = np.arange(100, 100 + available)
    pos, rep = select(eligible, quota, "upsample", np.random.default_rng(seed), "s")
    assert len(pos) == quota
    if quota <= available:  # enough rows: the first `quota` in sampling order, no repeats
        assert pos.tolist() == eligible[:quota].tolist() and not rep.any()
        return
    counts = Counter(pos.tolist())
    whole = quota // available
    assert set(counts) == set(eligible.tolist())
    assert set(counts.values()) <= {whole, whole + 1}
    assert sum(1 for v in counts.values() if v == whole + 1) == quota % available
    for p in set(pos.tolist()):  # repeat numbers 0..k-1 for each row
        assert sorted(rep[pos == p].tolist()) == list(range(counts[p]))


def test_shortage_policies():
    eligible = np.arange(5)
    with pytest.raises(CodemixError, match=r"source 'a'.*quota is 8 rows but only 5 are available"):
        select(eligible, 8, "error", np.random.default_rng(0), "source 'a'")
    pos, _ = select(eligible, 8, "shrink", np.random.default_rng(0), "s")
    assert pos.tolist() == [0, 1, 2, 3, 4]
    pos, _ = select(eligible, 3, "error", np.random.default_rng(0), "s")
    assert pos.tolist() == [0, 1, 2]


@pytest.fixture(scope="module")
def small_sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    return {"a": write_jsonl(d / "a.jsonl", alpaca_rows(40, "alpha")),
            "b": write_jsonl(d / "b.jsonl", alpaca_rows(25, "beta")),
            "g": write_jsonl(d / "g.jsonl", alpaca_rows(30, "gamma"))}


def _sources(paths, key=None, values=(None, None, None)):
    out = []
    for (name, path), domain, v in zip(paths.items(), ("code", "code", "general"), values, strict=True):
        s = {"name": name, "path": str(path), "format": "alpaca", "domain": domain}
        if key:
            s[key] = v
        out.append(s)
    return out


def _check_realised(out, manifest):
    rows = read_rows(out)
    per_source = Counter(r["source"] for r in rows)
    assert len(rows) == manifest["rows"] == manifest["budget"]
    for s in manifest["sources"]:
        assert s["realised"] == s["requested"] == per_source.get(s["name"], 0)
    assert len({r["id"] for r in rows}) == len(rows)  # ids stay unique, repeats included


SLOW_OK = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW_OK
@given(budget=st.integers(1, 150), gf=st.floats(0.05, 0.95), upsample=st.booleans())
def test_built_mixture_realises_general_fraction_quotas(tmp_path, small_sources, budget, gf, upsample):
    mix = mix_config(_sources(small_sources), budget=budget, general_fraction=gf,
                     on_shortage="upsample" if upsample else "error")
    wanted = allocate(mix)
    if not upsample and any(wanted[n] > {"a": 40, "b": 25, "g": 30}[n] for n in wanted):
        with pytest.raises(CodemixError, match="quota is"):
            build(tmp_path / f"m{budget}", mix, force=True)
        return
    manifest, built = build(tmp_path / "m", mix, force=True)
    _check_realised(tmp_path / "m", manifest)


@SLOW_OK
@given(budget=st.integers(1, 200), shares=st.tuples(st.floats(0.1, 3), st.floats(0, 3), st.floats(0.1, 3)))
def test_built_mixture_realises_share_quotas_with_upsampling(tmp_path, small_sources, budget, shares):
    mix = mix_config(_sources(small_sources, "share", shares), budget=budget, on_shortage="upsample")
    manifest, _ = build(tmp_path / "m", mix, force=True)
    _check_realised(tmp_path / "m", manifest)


@SLOW_OK
@given(counts=st.tuples(st.integers(0, 90), st.integers(0, 60), st.integers(1, 70)))
def test_built_mixture_realises_counts_with_upsampling(tmp_path, small_sources, counts):
    mix = mix_config(_sources(small_sources, "count", counts), on_shortage="upsample")
    manifest, _ = build(tmp_path / "m", mix, force=True)
    _check_realised(tmp_path / "m", manifest)
    upsampled = {s["name"]: s["upsampled"] for s in manifest["sources"]}
    assert upsampled == {"a": max(0, counts[0] - 40), "b": max(0, counts[1] - 25), "g": max(0, counts[2] - 30)}


def test_shrink_takes_everything_and_says_so(tmp_path, small_sources):
    from codemix.mixing.report import notes

    mix = mix_config(_sources(small_sources, "count", (50, 10, 5)), on_shortage="shrink")
    manifest, _ = build(tmp_path / "m", mix)
    a = manifest["sources"][0]
    assert (a["requested"], a["realised"], a["shrunk"]) == (50, 40, True)
    assert manifest["rows"] == 55
    assert any("only 40 of 50" in n for n in notes(manifest))
