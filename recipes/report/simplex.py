"""The best mixture of k >= 2 domains (shares on the simplex), with a region, and which
mixtures to run next to narrow it. Interface first; the fits follow in this module."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codemix.recipes.report.stats import DEFAULT_LEVEL

MODELS = ("scheffe", "logratio", "gbt")
CHOICES = ("auto", *MODELS)


@dataclass
class MixtureFit:
    labels: list[str]
    model: str
    scale: str
    maximize: bool
    shares: np.ndarray
    measured: np.ndarray
    names: list[str]
    cv: dict[str, dict[str, float | None]]
    best: np.ndarray
    best_score: float
    best_score_ci: tuple[float, float]
    region: np.ndarray
    share_ci: dict[str, tuple[float, float]]
    resamples: int
    level: float = DEFAULT_LEVEL
    notes: list[str] = field(default_factory=list)

    def predict(self, shares: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def in_region(self, shares: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError


def fit_mixture(shares: np.ndarray, measured: np.ndarray, replicates: np.ndarray, labels: list[str],
                names: list[str], *, model: str = "auto", scale: str = "logit", maximize: bool = True,
                level: float = DEFAULT_LEVEL, seed: int = 0) -> MixtureFit:
    raise NotImplementedError


def suggest_mixtures(fit: MixtureFit, k: int, *, candidates: np.ndarray | None = None) -> np.ndarray:
    raise NotImplementedError


def simplex_grid(k: int, n: int) -> np.ndarray:
    raise NotImplementedError
