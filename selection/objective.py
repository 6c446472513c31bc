"""The weighted coverage objective of AMPO-OptSelect, shared by the heuristic and the exact ILP.

AMPO-OptSelect (PAPER.md section 2) weighs each response by how bad it is,

    w_i = exp((rbar - r_i) / tau),                       rbar = mean reward of the pool,

and chooses the set S of responses (|S| = k) minimising the weighted coverage cost

    Cost(S) = sum_i w_i * min_{j in S} A_ij,             A_ij = ||e_i - e_j||_2,

a weighted k-medoids / p-median problem. `tau` is this package's temperature (tau = 1 is the
paper's rule); the minimiser does not depend on a common scale of the weights, so they are
normalised to max 1, where rbar cancels: w_i = exp((min_j r_j - r_i) / tau), an exponent <= 0
that neither overflows nor turns into inf - inf for rewards near the float range or a tiny tau.

Functions here are written once against the array API standard and run on numpy arrays and
torch tensors alike.
"""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device


def coverage_weights(rewards, mask=None, temperature: float = 1.0):
    """Weights w_i = exp((rbar - r_i) / tau) of AMPO-OptSelect, normalised to max 1.

    rewards: (..., N); mask: (..., N) bool or None (False = padding, weight 0).
    rbar is the mean over the valid responses of each pool; it cancels in the normalisation.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    xp = array_namespace(rewards)
    if mask is None:
        mask = xp.ones(rewards.shape, dtype=xp.bool, device=device(rewards))
    r = xp.where(mask, rewards, xp.full_like(rewards, xp.inf))  # (..., N)
    lowest = xp.min(r, axis=-1, keepdims=True)  # (..., 1) the lowest valid reward
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the range: -inf, weight 0
        z = (lowest - r) / temperature  # = (rbar - r_i)/tau - max_j (rbar - r_j)/tau <= 0
    z = xp.where(mask, z, xp.full_like(z, -xp.inf))
    return xp.exp(z)  # (..., N), max 1, 0 on padding


def coverage_cost(distances, weights, selected):
    """Cost(S) = sum_i w_i min_{j in S} A_ij (the OptSelect objective, PAPER.md section 2).

    distances: (..., N, N) with A_ij the distance from client i to candidate j;
    weights: (..., N) (0 excludes a client); selected: (..., N) bool, the set S.
    Returns (...,).
    """
    xp = array_namespace(distances)
    inf = xp.full_like(distances, xp.inf)
    covered = xp.where(selected[..., None, :], distances, inf)  # (..., N, N)
    nearest = xp.min(covered, axis=-1)  # (..., N)
    nearest = xp.where(weights > 0, nearest, xp.zeros_like(nearest))
    return xp.sum(weights * nearest, axis=-1)
