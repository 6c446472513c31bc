"""Reference values for check 2, computed without the code the check tests.

Check 2 compares the package's distances (`theory.landscapes`), AMPO weights and coverage cost
(`selection.objective`), kernels, suppressions and policy update (`theory.policy_model`) against
the few-line numpy formulas below, written from the definitions in PAPER.md section 2 and the
module docstring of `theory/policy_model.py`, and states its theorems in terms of these values.
Nothing here imports `selection` or `theory.policy_model`; the only shared input is the pool
(points, rewards, selected masks). Distances and the unnormalised weights are those of
`theory/checks/reference.py`, the references of every check.
"""

from __future__ import annotations

import math

import numpy as np

from .reference import distances, weights

__all__ = ["KERNELS", "MODELS", "ampo_weights", "cost", "distances", "nearest", "suppression"]

# name -> (K(t), its Lipschitz constant sup |K'|): exp(-t^2/2) has |K'| = t exp(-t^2/2) <= e^{-1/2}
# (at t = 1); exp(-t) has |K'| <= 1 (at 0); max(0, 1 - t) has slope -1 on [0, 1].
KERNELS = {
    "gaussian": (lambda t: np.exp(-0.5 * t**2), math.exp(-0.5)),
    "laplace": (lambda t: np.exp(-t), 1.0),
    "triangular": (lambda t: np.clip(1.0 - t, 0.0, None), 1.0),
}


def ampo_weights(rewards: np.ndarray, clients: np.ndarray) -> np.ndarray:
    """w_i = exp(rbar - r_i) on the clients (rbar = their mean reward), 0 elsewhere, divided by
    the largest weight (the package's normalisation; it does not move the OptSelect optimum)."""
    w = weights(rewards, clients)  # (M, N)
    return w / w.max(axis=1, keepdims=True)


def nearest(dist: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """d_i = min over selected j of A_ij: (M,N,N), (M,N) bool -> (M,N)."""
    return np.where(selected[:, None, :], dist, np.inf).min(axis=2)


def cost(w: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Cost_w(S) = sum_i w_i d_i over the clients (w_i > 0): -> (M,)."""
    return np.sum(np.where(w > 0, w * d, 0.0), axis=1)


def _additive(dist, selected, k, h):  # sum over the selected j of K(A_ij / h)
    return np.sum(k(dist / h) * selected[:, None, :], axis=2)


def _nearest(dist, selected, k, h):  # max over the selected j of K(A_ij / h)
    return np.where(selected[:, None, :], k(dist / h), -np.inf).max(axis=2)


def _ball(dist, selected, k, h):  # 1 if some selected j has A_ij <= h
    return np.any((dist <= h) & selected[:, None, :], axis=2).astype(np.float64)


# model -> (s_i(S) from its definition, whether it uses the kernel K, whether negatives add up)
MODELS = {
    "additive": (_additive, True, True),
    "nearest": (_nearest, True, False),
    "coverage_ball": (_ball, False, False),
}


def suppression(model: str, dist, selected, kernel: str, h: float) -> np.ndarray:
    """s_i(S) of each policy model: (M,N,N), (M,N) bool -> (M,N)."""
    return MODELS[model][0](dist, selected, KERNELS[kernel][0], h)


def coverage_constant(model: str, kernel: str, h: float) -> float:
    """c with s_i >= 1 - c d_i: L_K / h (additive, nearest), 1 / h (coverage_ball)."""
    return (KERNELS[kernel][1] if MODELS[model][1] else 1.0) / h


def envelope(model: str, d, n_selected, kernel: str, h: float) -> np.ndarray:
    """An upper bound of s_i from d_i alone: the suppression by one negative at distance d_i,
    times |S| when negatives add up: |S| K(d/h), K(d/h), 1[d <= h]: -> (M,N)."""
    _, uses_kernel, adds_up = MODELS[model]
    one = KERNELS[kernel][0](d / h) if uses_kernel else (d <= h).astype(np.float64)
    return n_selected[:, None] * one if adds_up else one


def update(p0: np.ndarray, s: np.ndarray, eta: float) -> np.ndarray:
    """p'_i = p0_i exp(-eta s_i) / sum_l p0_l exp(-eta s_l): -> (M,N)."""
    q = p0 * np.exp(-eta * s)
    return q / q.sum(axis=1, keepdims=True)
