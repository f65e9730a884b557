"""Small builders shared by the mixing tests: source files, mix configs, builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codemix.mixing.config import MixConfig
from codemix.mixing.pipeline import build_mixture


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def alpaca_rows(n: int, tag: str) -> list[dict[str, str]]:
    """n distinct Alpaca rows whose words never form a benchmark n-gram."""
    return [{"instruction": f"{tag} task number {i}: describe item {i * 7 + 3}", "input": "",
             "output": f"{tag} answer {i} is {i * i}"} for i in range(n)]


def mix_config(sources: list[dict[str, Any]], **kw: Any) -> MixConfig:
    kw.setdefault("decontaminate", {"enabled": False})
    return MixConfig.model_validate({"sources": sources, **kw})


def build(out: Path, mix: MixConfig, seed: int = 1, force: bool = False, recipe: dict | None = None):
    recipe = recipe if recipe is not None else {"name": "t", "seed": seed, "mix": mix.model_dump(mode="json")}
    return build_mixture(mix, seed=seed, out_dir=out, recipe=recipe, recipe_hash="test", force=force)


def read_rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "data.jsonl").read_text(encoding="utf-8").splitlines()]
