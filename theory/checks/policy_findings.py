"""Check 2's measurements: which selection rule raises the expected reward most, where.

Not pass/fail: the comparison of the rules under each policy model and landscape family is a
finding. Confidence intervals are 95% normal approximations over the pools (paired over the same
pools for differences between rules).
"""

from __future__ import annotations

import math

import numpy as np

from .islands import Z95


def mean_ci(x: np.ndarray) -> dict:
    """Mean of x (M,) with its 95% CI (normal approximation; a single value has a zero-width CI)."""
    x = np.asarray(x, np.float64)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
    return {"mean": mean, "ci95": [mean - Z95 * se, mean + Z95 * se]}


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    """a - b paired over the pools: mean, CI, and the fraction of pools with a > b."""
    return mean_ci(a - b) | {"fraction_better": float(np.mean(a > b))}


def _fmt(cell: dict) -> str:
    lo, hi = cell["ci95"]
    return f"{cell['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def sentence(family: str, model: str, gains: dict, comparisons: dict, baseline: str) -> str:
    """One generated sentence: the rule with the highest mean gain, and each coverage rule vs
    the baseline, said to win / lose when the paired CI excludes 0."""
    best = max(gains, key=lambda n: gains[n]["mean"])
    parts = []
    for name, cell in comparisons.items():
        lo, hi = cell["ci95"]
        verdict = "beats" if lo > 0 else "loses to" if hi < 0 else "ties with"
        parts.append(f"{name.split(' - ')[0]} {verdict} {baseline} by {_fmt(cell)}")
    return (
        f"{family} / {model}: {best} has the highest mean gain {_fmt(gains[best])}; "
        + "; ".join(parts)
        + "."
    )


def winners(gains: np.ndarray, names: list[str]) -> dict:
    """Fraction of pools on which each rule attains the best gain (ties count for every rule):
    gains (M, R) -> {rule: fraction}."""
    top = gains >= gains.max(axis=1, keepdims=True) - 1e-12 * (1 + np.abs(gains).max())
    return {n: float(top[:, i].mean()) for i, n in enumerate(names)}
