"""The fresh-clone path of the test data (tests/conftest.py, tests/data_fetch.py): the files rebuilt
from the Hub hold the same rows as the shared copies, and a missing file skips with its reason.
The Hub is not reached here: the Hub's split layout is rebuilt from the shared file with
`datasets` itself and handed to the same conversion code."""

import json

import pytest

from helpers.data_fetch import mbpp_full

# How the Hub splits MBPP (google-research-datasets/mbpp, config full): task_id ranges.
HUB_SPLITS = {"train": range(601, 975), "test": range(11, 511), "validation": range(511, 601), "prompt": range(1, 11)}


def test_mbpp_rebuilt_from_hub_splits_has_the_release_rows(data_file, tmp_path, monkeypatch):
    import datasets

    original = [json.loads(line) for line in data_file("mbpp/mbpp.jsonl").read_text().splitlines()]
    by_split = {name: [r for r in original if r["task_id"] in ids] for name, ids in HUB_SPLITS.items()}
    assert sum(map(len, by_split.values())) == 974
    hub_like = datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in by_split.items()})
    monkeypatch.setattr(datasets, "load_dataset", lambda hub_id, config=None, **kw: hub_like)
    out = tmp_path / "mbpp.jsonl"
    mbpp_full(out)
    rebuilt = [json.loads(line) for line in out.read_text().splitlines()]
    assert rebuilt == original  # same rows, same order (not necessarily the same bytes)

    from codemix.eval.benchmarks import load_problems, problems_hash

    assert problems_hash(load_problems("mbpp", str(out))) == problems_hash(load_problems("mbpp", str(data_file("mbpp/mbpp.jsonl"))))


def test_a_file_that_cannot_be_had_skips_with_the_reason(tmp_path, monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path / "missing")
    getter = conftest._TestData(tmp_path / "fetched")
    with pytest.raises(pytest.skip.Exception, match=r"alpaca_seed_tasks.jsonl is not in .*missing .* no Hugging Face Hub"):
        getter("instructions/alpaca_seed_tasks.jsonl")
    monkeypatch.setattr(conftest, "USER_OFFLINE", "HF_HUB_OFFLINE")
    with pytest.raises(pytest.skip.Exception, match=r"HF_HUB_OFFLINE is set, so it cannot be fetched"):
        getter("mbpp/mbpp.jsonl")
