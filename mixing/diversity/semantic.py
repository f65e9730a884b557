"""Semantic diversity over L2-normalised instruction embeddings.

    mean_cosine_distance  1 - mean cosine similarity over all pairs i != j of the group, exact:
                          with unit rows, sum_{i != j} x_i.x_j = |sum_i x_i|^2 - n, so it costs one
                          pass, not n^2 products.
    vendi                 the Vendi score (Friedman & Dieng, 2023): exp of the Shannon entropy of
                          the eigenvalues of K/m, K the m x m cosine-similarity matrix of a seeded
                          sample of m rows. Identical rows -> 1; k mutually orthogonal, equally
                          common kinds of row -> k: "the effective number of distinct rows". The
                          eigenvalues of K/m = X X^T/m equal those of X^T X/m (d x d), which is
                          what is decomposed (d <= 384, m up to a few thousand).
    clusters_occupied     of the k clusters of a k-means fit on the whole mixture, how many have a
                          row of this group; cluster_entropy_nats is the entropy of the group's
                          rows over clusters and effective_clusters = exp of it.
    proximity_<bench>     for each benchmark problem, the cosine similarity of its nearest row in
                          the group; the mean over problems. High: the group has instructions like
                          the test problems (the paper's picture of general data "filling the
                          space around" the test instructions, as a number).
"""

from __future__ import annotations

import numpy as np

KMEANS_FIT_ROWS = 20000   # k-means is fit on at most this many rows (seeded), then assigns all
BLOCK_ROWS = 8192


def mean_cosine_distance(x: np.ndarray) -> float | None:
    n = len(x)
    if n < 2:
        return None
    s = x.astype(np.float64).sum(axis=0)
    self_sim = float((x.astype(np.float64) ** 2).sum())  # n for unit rows; less if some rows are zero
    mean_sim = (float(s @ s) - self_sim) / (n * (n - 1))
    return round(1.0 - mean_sim, 6)


def vendi_score(x: np.ndarray) -> float | None:
    """Vendi score of all rows of `x` (sample first for large sets)."""
    m = len(x)
    if m == 0:
        return None
    x = x.astype(np.float64)
    gram = x.T @ x / m if x.shape[1] < m else x @ x.T / m
    eig = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    total = eig.sum()
    if total <= 0:
        return None
    p = eig[eig > 0] / total  # trace is 1 for unit rows; normalising also covers zero vectors
    return round(float(np.exp(-(p * np.log(p)).sum())), 4)


def sample_rows(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted seeded sample of min(n, size) row indices."""
    if n <= size:
        return np.arange(n)
    return np.sort(rng.choice(n, size, replace=False))


def fit_clusters(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, int]:
    """(cluster of every row, k used) from a seeded k-means fit (k-means++ init)."""
    from sklearn.cluster import KMeans

    from codemix.mixing.diversity.embeddings import one_blas_thread

    k = max(1, min(k, len(x)))
    if k == 1:
        return np.zeros(len(x), np.int64), 1
    fit_on = x[sample_rows(len(x), KMEANS_FIT_ROWS, np.random.default_rng(seed))]
    with one_blas_thread():
        km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(fit_on)
        labels = np.concatenate([km.predict(x[i:i + BLOCK_ROWS]) for i in range(0, len(x), BLOCK_ROWS)])
    return labels.astype(np.int64), k


def cluster_metrics(labels: np.ndarray, k: int) -> dict[str, float | int | None]:
    if not len(labels):
        return {"clusters_occupied": 0, "cluster_entropy_nats": None, "effective_clusters": None}
    counts = np.bincount(labels, minlength=k)
    p = counts[counts > 0] / len(labels)
    h = float(-(p * np.log(p)).sum())
    return {"clusters_occupied": int((counts > 0).sum()), "cluster_entropy_nats": round(h, 4),
            "effective_clusters": round(float(np.exp(h)), 4)}


def nearest_similarity(queries: np.ndarray, x: np.ndarray) -> np.ndarray:
    """For each query row, the largest cosine similarity to a row of `x` (unit rows)."""
    best = np.full(len(queries), -1.0, np.float32)
    for i in range(0, len(x), BLOCK_ROWS):
        np.maximum(best, (queries @ x[i:i + BLOCK_ROWS].T).max(axis=1), out=best)
    return best


def proximity(queries: np.ndarray, x: np.ndarray) -> float | None:
    if not len(queries) or not len(x):
        return None
    return round(float(nearest_similarity(queries, x).mean()), 6)
