"""codemix.mixing: load instruction datasets, mix code and general sources at a fixed budget,
decontaminate, deduplicate and write the mixture with its manifest."""

from codemix.core.errors import CodemixError

__all__ = ["CodemixError", "build_mixture", "load_mixture"]


def __getattr__(name: str):
    # Lazy: `codemix --help` must not import datasets/pyarrow.
    if name in ("build_mixture", "load_mixture"):
        from codemix.mixing import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
