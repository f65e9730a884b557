"""Mixtures on the simplex: the points (one share per domain, summing to 1) that a sweep's
`mixture:` design runs, one cell each.

    dirichlet          `cells` points drawn from a symmetric Dirichlet(concentration): 1 is
                       uniform on the simplex, larger concentrates near the centroid, smaller near
                       the edges and vertices (RegMix draws its proxy mixtures this way)
    lattice            the {k, m} simplex lattice: every point whose shares are multiples of 1/m,
                       with the largest m whose lattice (within the bounds) has at most `cells`
                       points — k=3, cells 48 gives m=8, 45 points
    vertices+centroid  the k pure mixtures and the equal one, then the edge midpoints and the
                       axial points (halfway from the centroid to each vertex) until `cells`

Shares are rounded to SHARE_DIGITS decimals (they name the cells) and then lie within 5e-4 of the
drawn point; `bounds` ({label: [low, high]}) keep only points inside them (dirichlet: drawn until
`cells` fall inside, giving up after MAX_DRAWS).
"""

from __future__ import annotations

import itertools
from math import comb

import numpy as np

SHARE_DIGITS = 3
MAX_DRAWS = 100_000


def _inside(point: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> bool:
    return bool(np.all(point >= lows - 1e-12) and np.all(point <= highs + 1e-12))


def _lattice(k: int, m: int) -> list[np.ndarray]:
    """All points with shares i/m summing to 1, in lexicographic order (stars and bars)."""
    out = []
    for bars in itertools.combinations(range(m + k - 1), k - 1):
        edges = (-1, *bars, m + k - 1)
        out.append(np.array([edges[i + 1] - edges[i] - 1 for i in range(k)], np.float64) / m)
    return out


def _classic(k: int) -> list[np.ndarray]:
    eye = np.eye(k)
    centroid = np.full(k, 1 / k)
    edges = [(eye[i] + eye[j]) / 2 for i, j in itertools.combinations(range(k), 2)]
    axial = [(centroid + eye[i]) / 2 for i in range(k)]
    return [*eye, centroid, *edges, *axial]


def design_points(over: list[str], design: str, cells: int | None, *, concentration: float = 1.0, seed: int = 0,
                  bounds: dict[str, tuple[float, float]] | None = None) -> list[dict[str, float]]:
    """The design's mixtures as {label: share} in `over` order (ValueError: no such design fits)."""
    k = len(over)
    lows = np.array([(bounds or {}).get(d, (0.0, 1.0))[0] for d in over])
    highs = np.array([(bounds or {}).get(d, (0.0, 1.0))[1] for d in over])
    if lows.sum() > 1 + 1e-12 or highs.sum() < 1 - 1e-12:
        raise ValueError(f"bounds: the lows sum to {lows.sum():g} and the highs to {highs.sum():g}; no mixture "
                         "(shares summing to 1) lies within them")
    if design == "dirichlet":
        if cells is None:
            raise ValueError("design dirichlet needs cells: (how many mixtures to draw)")
        rng = np.random.default_rng(seed)
        points: list[np.ndarray] = []
        seen: set[tuple[float, ...]] = set()
        for _ in range(MAX_DRAWS):
            p = np.round(rng.dirichlet(np.full(k, concentration)), SHARE_DIGITS)
            if _inside(p, lows, highs) and tuple(p) not in seen:
                seen.add(tuple(p))
                points.append(p)
                if len(points) == cells:
                    break
        else:
            raise ValueError(f"dirichlet: only {len(points)} of {cells} draws out of {MAX_DRAWS:,} fell inside the "
                             "bounds; widen them or ask for fewer cells")
    elif design == "lattice":
        limit = cells if cells is not None else comb(k + 3 - 1, k - 1)  # default: m = 3
        best: list[np.ndarray] = []
        for m in range(1, 1000):
            if comb(m + k - 1, k - 1) > limit * 50:  # the bounded lattice cannot fit any more
                break
            pts = [p for p in _lattice(k, m) if _inside(p, lows, highs)]
            if len(pts) <= limit and len(pts) >= len(best):
                best = pts
        if len(best) < 2:
            raise ValueError(f"lattice: no lattice within the bounds has between 2 and {limit} points")
        points = [np.round(p, SHARE_DIGITS) for p in best]
    elif design == "vertices+centroid":
        pts = [p for p in _classic(k) if _inside(p, lows, highs)]
        want = cells if cells is not None else k + 1
        if len(pts) < want:
            raise ValueError(f"vertices+centroid: {len(pts)} of its points lie within the bounds, fewer than cells {want}")
        points = [np.round(p, SHARE_DIGITS) for p in pts[:want]]
    else:
        raise ValueError(f"design {design!r}: choose dirichlet, lattice or vertices+centroid")
    return [{d: float(v) for d, v in zip(over, p, strict=True)} for p in points]
