"""Hypothesis strategies and helpers shared by the selection tests: valid pools built directly."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from selection import get_strategy, strategy_names

# How each randomised strategy is made deterministic for equivariance tests; None: it cannot be.
DETERMINISTIC = {"ampo_coreset": {"init": "maximin"}, "random": None}


def k_for(name: str, k: int) -> int:
    """The k a strategy accepts: its fixed group size, else k."""
    return get_strategy(name).group_size or k


def deterministic_cases() -> list[tuple[str, dict]]:
    """(name, options) of every strategy whose answer depends on nothing but the pool."""
    cases = []
    for name in strategy_names():
        if not get_strategy(name).uses_rng:
            cases.append((name, {}))
        elif DETERMINISTIC[name] is not None:  # KeyError: a new random strategy must be listed
            cases.append((name, DETERMINISTIC[name]))
    return cases


def geometric_names() -> list[str]:
    return [n for n in strategy_names() if get_strategy(n).needs_embeddings]


@st.composite
def pools(draw, max_b: int = 3, max_n: int = 12, max_d: int = 5, ragged: bool = False):
    """(rewards (B, N), embeddings (B, N, d), mask (B, N) | None, k) with distinct rewards per row
    and Gaussian embeddings (no duplicates, no ties in distances with probability 1)."""
    b = draw(st.integers(1, max_b))
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(2, n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rewards = np.stack([rng.permutation(n) for _ in range(b)]).astype(np.float64)
    rewards = rewards * draw(st.sampled_from([1.0, 0.1, 7.5])) + rng.normal()
    embeddings = rng.normal(size=(b, n, d)) * draw(st.sampled_from([1.0, 1e-3, 50.0]))
    mask = None
    if ragged:
        sizes = rng.integers(k, n + 1, size=b)
        mask = np.arange(n)[None, :] < sizes[:, None]
        rewards = np.where(mask, rewards, np.nan)
        embeddings = np.where(mask[:, :, None], embeddings, np.nan)
    return rewards, embeddings, mask, k


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal (d, d) matrix."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))
