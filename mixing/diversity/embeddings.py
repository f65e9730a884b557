"""Instruction embeddings for the diversity metrics: a model by name, cached by content hash,
with an offline fallback that always works.

Specs (`mix.diversity.embedding`, `codemix diversity --embedding`):

    model2vec:NAME               a static model2vec model (e.g. minishlab/potion-base-8M: ~8M
                                 parameters, no transformer forward pass, thousands of rows/s on CPU)
    sentence-transformers:NAME   a sentence-transformers model (e.g. all-MiniLM-L6-v2)
    tfidf                        TF-IDF (word 1-2-grams, sublinear tf) + truncated SVD: no model,
                                 no network

The model packages are optional (`pip install codemix[embeddings]`) and imported only here. When
the model cannot be loaded (package missing, no network, unknown name) the TF-IDF embedding is
used instead — unless fallback is off — and the result says so: `info["used"]` is "tfidf" and
`info["fallback_reason"]` says why. TF-IDF vectors come from a fit on the texts embedded together
(the rows measured and the benchmark problems), so they are comparable within one call, not
across mixtures; a fixed model is the choice for comparing runs.

Vectors are L2-normalised float32 and cached as .npy under `<codemix cache>/embeddings/`, keyed
by the sha256 of the embedding's identity and every text in order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from codemix.core.artifacts import atomic_path
from codemix.core.errors import CodemixError

TFIDF_DIM = 128          # SVD components: 20k rows x ~40k terms -> ~3 s randomized SVD on 2 cores
TFIDF_MAX_FEATURES = 1 << 17
ENCODE_BATCH = 256


def cache_dir() -> Path:
    """codemix's cache directory: $CODEMIX_CACHE_DIR, else $XDG_CACHE_HOME/codemix, else
    ~/.cache/codemix (the convention of codemix.eval.timelimits.cache_dir)."""
    if os.environ.get("CODEMIX_CACHE_DIR"):
        return Path(os.environ["CODEMIX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codemix"


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def tfidf_svd(texts: list[str], seed: int, dim: int = TFIDF_DIM) -> np.ndarray:
    """TF-IDF over word 1-2-grams (sublinear tf, terms in >= 2 texts) reduced by a seeded
    randomized truncated SVD (LSA), L2-normalised."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = 2 if len(texts) >= 50 else 1
    try:
        tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df,
                                max_features=TFIDF_MAX_FEATURES, dtype=np.float32).fit_transform(texts)
    except ValueError:  # no terms at all (every text empty or punctuation)
        return np.zeros((len(texts), 1), np.float32)
    k = max(1, min(dim, tfidf.shape[1] - 1, len(texts) - 1))
    if k < 2:
        return _normalise(tfidf.toarray())
    with one_blas_thread():
        x = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=4, random_state=seed).fit_transform(tfidf)
    return _normalise(x)


def one_blas_thread():
    """BLAS on one thread. Measured on the shared 2-core machine (load ~6): the randomized SVD of
    20k x 16k TF-IDF took 1.8 s on one OpenBLAS thread and 10-27 s on two, whose threads spin
    waiting for each other when other processes hold the cores. The matrices here are small
    (<= 20k x 128), so one thread loses little even on an idle machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _model2vec(name: str) -> Callable[[list[str]], np.ndarray]:
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(name)
    return lambda texts: model.encode(texts, batch_size=ENCODE_BATCH, show_progress_bar=False)


def _sentence_transformers(name: str) -> Callable[[list[str]], np.ndarray]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(name, device="cpu" if not _has_cuda() else None)
    return lambda texts: model.encode(texts, batch_size=64, show_progress_bar=False, convert_to_numpy=True)


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


MODEL_KINDS: dict[str, Callable[[str], Callable[[list[str]], np.ndarray]]] = {
    "model2vec": _model2vec,
    "sentence-transformers": _sentence_transformers,
}


def parse_spec(spec: str, where: str = "embedding") -> tuple[str, str | None]:
    """('tfidf', None) or (kind, model name)."""
    if spec == "tfidf":
        return "tfidf", None
    kind, sep, name = spec.partition(":")
    if not sep or kind not in MODEL_KINDS or not name:
        raise CodemixError(f"{where}: {spec!r} is not an embedding; use tfidf, "
                           + " or ".join(f"{k}:MODEL" for k in MODEL_KINDS))
    return kind, name


def _cache_path(identity: str, texts: list[str]) -> Path:
    h = hashlib.sha256(identity.encode())
    for t in texts:
        h.update(hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest())
    return cache_dir() / "embeddings" / f"{h.hexdigest()[:32]}.npy"


def _cached(identity: str, texts: list[str], compute: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
    path = _cache_path(identity, texts)
    if path.is_file():
        try:
            x = np.load(path)
            if x.shape[0] == len(texts):
                return x, True
        except (OSError, ValueError):
            pass  # unreadable cache entry: compute again
    x = compute()
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, x)
    except OSError:
        pass  # a read-only cache is no reason to fail
    return x, False


def embed(texts: list[str], spec: str, *, seed: int, fallback: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """(L2-normalised float32 vectors, what was used) for `texts`, from cache when possible."""
    kind, name = parse_spec(spec)
    info: dict[str, Any] = {"requested": spec}
    if kind != "tfidf":
        identity = f"{kind}:{name}"
        try:
            encode = MODEL_KINDS[kind](name)
        except Exception as e:  # ImportError, offline Hub errors, unknown repo ...: all mean "no model"
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
            if not fallback:
                raise CodemixError(f"embedding {spec}: the model could not be loaded ({reason})") from None
            info["fallback_reason"] = reason
        else:
            x, hit = _cached(identity, texts, lambda: _normalise(encode(texts)))
            info.update(used=identity, name=f"{kind} model {name}", dim=int(x.shape[1]), cached=hit)
            return x, info
    identity = f"tfidf-svd:{TFIDF_DIM}:seed={seed}:v1"
    x, hit = _cached(identity, texts, lambda: tfidf_svd(texts, seed))
    label = "TF-IDF + truncated SVD (offline" + (" fallback" if "fallback_reason" in info else "") + ")"
    info.update(used="tfidf", name=f"{label}: word 1-2-gram TF-IDF -> {x.shape[1]}-d LSA, fit on the texts measured "
                "+ benchmark problems", dim=int(x.shape[1]), cached=hit)
    return x, info
