"""A formal model of how training on selected negatives moves a policy's probability mass [U].

PAPER.md section 3 paraphrases Theorem 6.1 as "minimising the weighted coverage cost is equivalent
to maximising expected reward", which needs a model of what training on the selected negatives does
to the policy. The AMPO text is not available to us; this is this package's reconstruction.

Model (kernel suppression in logit space). The policy is a distribution p over the N pool points
(responses), with embeddings e_i and distances A_ij = ||e_i - e_j||. Training on the set S of
selected negatives lowers the logit of every point i by eta times its suppression

    s_i(S) = sum_{j in S} K(A_ij / h),                       (suppression)

where K is a kernel of `theory.landscapes.KERNELS` (K(0) = 1, non-increasing, values in [0, 1],
L_K-Lipschitz), h > 0 a bandwidth and eta >= 0 a step size; then the distribution is renormalised:

    p'_i = p_i exp(-eta s_i) / Z,   Z = sum_i p_i exp(-eta s_i).      (update)

Rationale: for a log-linear policy with features phi, one gradient step lowering log p(y_j)
moves the logit of y_i by -eta <phi_i, phi_j>; the kernel stands for that feature similarity, so a
negative drags down its neighbourhood, most strongly itself (K(0) = 1). The expected reward after
the update is E_{p'}[r] = sum_i p'_i r_i.

Consequences (proved in the docstrings below and checked in tests/theory/test_landscapes.py):
1. p' is a distribution; p'_i / p_i = exp(-eta s_i) / Z is non-increasing in s_i, and Z <= 1, so a
   point that is not suppressed (s_i = 0) gains mass: mass only moves away from the negatives.
2. First order: d/deta E_{p'}[r] at eta = 0 equals -Cov_p(r, s) = sum_i p_i (rbar_p - r_i) s_i, with
   rbar_p = E_p[r]: the gain is a suppression weighted by how far below average each point is.
   AMPO's weights w_i = exp(rbar - r_i) are a positive, monotone version of (rbar - r_i).
3. Coverage lemma: for any weights w >= 0,
       sum_i w_i s_i(S) >= sum_i w_i - (L_K / h) Cost(S),   Cost(S) = sum_i w_i min_{j in S} A_ij,
   because s_i >= K(A_{i sigma(i)} / h) >= 1 - L_K A_{i sigma(i)} / h, sigma(i) the nearest point of
   S. So minimising the OptSelect cost maximises a guaranteed weighted suppression of low-reward
   mass (`suppression_lower_bound`).
"""

from __future__ import annotations

import numpy as np

from selection.objective import coverage_cost
from theory.landscapes import get_kernel


def _check(distances, selected, bandwidth):
    distances = np.asarray(distances, np.float64)
    selected = np.asarray(selected)
    if distances.ndim != 3 or distances.shape[1] != distances.shape[2]:
        raise ValueError(f"distances must be (M, N, N), got shape {distances.shape}")
    if selected.shape != distances.shape[:2] or selected.dtype != np.bool_:
        raise ValueError(
            f"selected must be a (M, N) bool mask, got {selected.dtype} {selected.shape}"
        )
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    return distances, selected


def _check_distribution(p0, shape):
    p0 = np.asarray(p0, np.float64)
    if p0.shape != shape:
        raise ValueError(f"p0 must have shape {shape}, got {p0.shape}")
    if not (np.all(np.isfinite(p0)) and np.all(p0 >= 0)):
        raise ValueError("p0 must be finite and non-negative")
    if not np.allclose(p0.sum(-1), 1.0, rtol=0, atol=1e-9):
        raise ValueError("each row of p0 must sum to 1")
    return p0


def suppression(distances, selected, kernel: str = "gaussian", bandwidth: float = 1.0):
    """s_i = sum_{j in S} K(A_ij / h): distances (M,N,N), selected (M,N) bool -> (M,N)."""
    distances, selected = _check(distances, selected, bandwidth)
    k = get_kernel(kernel).profile(distances / bandwidth)  # (M, N, N)
    return np.einsum("mij,mj->mi", k, selected.astype(np.float64))


def policy_after_update(
    distances, selected, p0, eta: float, kernel: str = "gaussian", bandwidth: float = 1.0
):
    """p'_i = p_i exp(-eta s_i) / Z (the update above): -> (M,N), each row a distribution.

    Computed as p_i exp(-eta (s_i - min_{p_l > 0} s_l)) / Z', which cannot underflow to 0/0.
    """
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    s = suppression(distances, selected, kernel, bandwidth)  # (M, N)
    p0 = _check_distribution(p0, s.shape)
    s_min = np.min(np.where(p0 > 0, s, np.inf), axis=-1, keepdims=True)  # (M, 1)
    unnorm = p0 * np.exp(-eta * (s - s_min))  # (M, N); the argmin keeps its mass p_l > 0
    return unnorm / unnorm.sum(-1, keepdims=True)


def expected_reward_after_update(
    rewards, distances, selected, p0, eta: float, kernel: str = "gaussian", bandwidth: float = 1.0
):
    """E_{p'}[r] = sum_i p'_i r_i after training on the negatives `selected`: -> (M,).

    rewards (M,N), distances (M,N,N), selected (M,N) bool, p0 (M,N) rows summing to 1.
    """
    p = policy_after_update(distances, selected, p0, eta, kernel, bandwidth)
    return np.sum(p * np.asarray(rewards, np.float64), axis=-1)


def first_order_gain(rewards, distances, selected, p0, kernel: str = "gaussian", bandwidth=1.0):
    """d/deta E_{p'}[r] at eta = 0, = -Cov_p0(r, s) = sum_i p0_i (rbar - r_i) s_i: -> (M,).

    Proof: d/deta p'_i = p'_i (E_{p'}[s] - s_i), hence
    d/deta E_{p'}[r] = E_{p'}[r] E_{p'}[s] - E_{p'}[r s], evaluated at eta = 0 where p' = p0.
    """
    s = suppression(distances, selected, kernel, bandwidth)  # (M, N)
    p0 = _check_distribution(p0, s.shape)
    r = np.asarray(rewards, np.float64)
    rbar = np.sum(p0 * r, axis=-1, keepdims=True)  # (M, 1)
    return np.sum(p0 * (rbar - r) * s, axis=-1)


def suppression_lower_bound(
    distances, weights, selected, kernel: str = "gaussian", bandwidth: float = 1.0
):
    """sum_i w_i - (L_K / h) Cost(S), a lower bound of sum_i w_i s_i(S) (lemma 3 above): -> (M,).

    weights (M,N) >= 0; Cost is `selection.objective.coverage_cost`. S must be non-empty.
    """
    distances, selected = _check(distances, selected, bandwidth)
    if not np.all(selected.any(-1)):
        raise ValueError("every instance needs at least one selected point")
    w = np.asarray(weights, np.float64)
    cost = coverage_cost(distances, w, selected)  # (M,)
    return w.sum(-1) - get_kernel(kernel).lipschitz / bandwidth * cost
