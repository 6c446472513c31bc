"""Reference quantities of the checks, written apart from the code they check.

A check that computes its reference with the code under test cannot see a bug they share (a flipped
weight sign cancels when both sides use it). The functions here restate PAPER.md section 2 in a few
lines of plain numpy, with no import from `selection`, `theory.ilp` or `theory.landscapes`:

    A_ij = ||e_i - e_j||_2,   w_i = exp(rbar - r_i) on the clients C,   rbar = mean of r over C,
    Cost(S) = sum_{i in C} w_i min_{j in S} A_ij.

They favour obviousness over speed (explicit differences, explicit loops over subsets and swaps);
instance sizes in the checks keep them cheap.
"""

from __future__ import annotations

import itertools

import numpy as np


def distances(points: np.ndarray) -> np.ndarray:
    """A_ij = ||e_i - e_j||_2 from explicit differences: points (M, N, d) -> (M, N, N)."""
    diff = points[:, :, None, :] - points[:, None, :, :]  # (M, N, N, d)
    return np.sqrt(np.sum(diff * diff, axis=-1))


def weights(rewards: np.ndarray, clients: np.ndarray) -> np.ndarray:
    """w_i = exp(rbar - r_i) on the clients, 0 elsewhere; rbar = mean reward of the clients.

    rewards (M, N), clients (M, N) bool -> (M, N). Unnormalised: exactly the paper's rule.
    """
    rbar = np.sum(np.where(clients, rewards, 0.0), axis=1) / np.sum(clients, axis=1)  # (M,)
    return np.where(clients, np.exp(rbar[:, None] - rewards), 0.0)


def cost(dist: np.ndarray, w: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Cost(S) = sum_i w_i min_{j in S} A_ij: dist (M, N, N), w (M, N), selected (M, N) -> (M,)."""
    nearest = np.min(np.where(selected[:, None, :], dist, np.inf), axis=2)  # (M, N)
    return np.sum(np.where(w > 0, w * nearest, 0.0), axis=1)


def best_swap_cost(dist, w, selected, candidates) -> np.ndarray:
    """The lowest Cost over every single swap (one selected point out, one free candidate in).

    dist (M, N, N), w (M, N), selected and candidates (M, N) bool -> (M,). A set is a local
    optimum of single swaps exactly when this is not below its own cost.
    """
    best = np.full(dist.shape[0], np.inf)
    for m in range(dist.shape[0]):
        pairs = list(
            itertools.product(
                np.flatnonzero(selected[m]), np.flatnonzero(candidates[m] & ~selected[m])
            )
        )
        if not pairs:
            continue
        trials = np.repeat(selected[m][None], len(pairs), axis=0)  # (T, N)
        for t, (out, into) in enumerate(pairs):
            trials[t, out], trials[t, into] = False, True
        shape = (len(pairs), *dist.shape[1:])
        costs = cost(np.broadcast_to(dist[m], shape), np.broadcast_to(w[m], trials.shape), trials)
        best[m] = float(costs.min())
    return best


def optimum_by_enumeration(dist, w, candidates, m: int) -> tuple[np.ndarray, float]:
    """Min Cost over every m-subset of the candidates of one pool: dist (N, N), w (N,),
    candidates (N,) bool -> (selected (N,) bool, cost)."""
    free = np.flatnonzero(candidates)
    best_cost, best = np.inf, None
    for subset in itertools.combinations(free.tolist(), m):
        trial = np.zeros(len(w), dtype=bool)
        trial[list(subset)] = True
        c = float(cost(dist[None], w[None], trial[None])[0])
        if c < best_cost:
            best_cost, best = c, trial
    return best, best_cost


def relative_discrepancy(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """|value - reference| / max(|reference|, tiny), elementwise."""
    value, reference = np.asarray(value, np.float64), np.asarray(reference, np.float64)
    return np.abs(value - reference) / np.maximum(np.abs(reference), np.finfo(float).tiny)
