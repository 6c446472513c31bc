"""Formal models of how training on selected negatives moves a policy's probability mass [U].

PAPER.md section 3 paraphrases Theorem 6.1 as "minimising the weighted coverage cost is equivalent
to maximising expected reward", which needs a model of what training on the selected negatives does
to the policy. The AMPO text is not available to us; these are this package's reconstructions, one
registry `POLICY_MODELS`, selected by name.

Common frame. The policy is a distribution p over the N pool points (responses), with embeddings
e_i and distances A_ij = ||e_i - e_j||. Training on the set S of selected negatives lowers the
logit of every point i by eta times its suppression s_i(S) >= 0, then renormalises:

    p'_i = p_i exp(-eta s_i(S)) / Z,   Z = sum_i p_i exp(-eta s_i(S)).      (update)

K is a kernel of `theory.landscapes.KERNELS` (K(0) = 1, non-increasing, values in [0, 1],
L_K-Lipschitz), h > 0 a bandwidth, eta >= 0 a step size, d_i(S) = min_{j in S} A_ij the distance
from i to its nearest selected negative. The models differ only in s_i(S):

- `additive`:      s_i(S) = sum_{j in S} K(A_ij / h). One gradient step of a log-linear policy
  with features phi lowers log p(y_i) by eta sum_j <phi_i, phi_j>; the kernel stands for that
  feature similarity. Every negative pushes on its own: k copies of one bad answer suppress its
  neighbourhood k times (no diminishing returns).
- `nearest`:       s_i(S) = max_{j in S} K(A_ij / h) = K(d_i(S) / h). A point is pushed down as
  much as its most similar negative says, once: the loss can only make a response as unlikely as
  the closest counter-example shows, and repeating a counter-example teaches nothing new. This is
  the premise of coverage-based selection (redundant negatives bring diminishing returns).
- `coverage_ball`: s_i(S) = 1[d_i(S) <= h]. Hard balls: a point within distance h of some
  negative is suppressed by one unit, every other point not at all (the kernel is not used).

Consequences, proved for every model (and checked in tests/theory/test_policy_model.py and by
`python -m theory check policy_expected_reward`):
1. p' is a distribution on the support of p; p'_i / p_i = exp(-eta s_i) / Z is non-increasing in
   s_i; Z <= 1 because s >= 0, so p'_i >= p_i exp(-eta s_i) and a point with s_i = 0 gains mass:
   mass only moves away from suppressed points.
2. First order: d/deta E_{p'}[r] at eta = 0 equals -Cov_p(r, s) = sum_i p_i (rbar_p - r_i) s_i,
   rbar_p = E_p[r] (proof at `first_order_gain`).
3. Coverage lemma: s_i(S) >= (1 - c d_i(S))_+ with c = `coverage_constant` = L_K / h for
   `additive` and `nearest` (s_i >= K(d_i / h) >= K(0) - L_K d_i / h) and c = 1 / h for
   `coverage_ball` (1[d <= h] >= 1 - d / h: if d > h the right side is negative). Hence, for any
   weights w >= 0, sum_i w_i s_i(S) >= sum_i w_i (1 - c d_i)_+ >= sum_i w_i - c Cost_w(S),
   Cost_w(S) = sum_i w_i d_i(S) the OptSelect cost: a low cost guarantees suppression.
4. Envelope: s_i(S) <= n(S) Kbar(d_i / h) with Kbar = K, n(S) = |S| for `additive` (each term is
   at most the nearest one), and s_i(S) = Kbar(d_i / h), n = 1, for `nearest` (Kbar = K) and
   `coverage_ball` (Kbar = 1[t <= 1]): a point far from every negative is barely suppressed.
5. Saturation (`nearest`, `coverage_ball`, `SATURATING`): s_i(S) in [0, 1] and s_i depends on S
   only through d_i(S), so adding a negative j with A_ij >= d_i(S) for every i (a duplicate of a
   selected point, or anything farther from every point than its nearest negative) changes
   nothing. For weights a >= 0, F(S) = sum_i a_i s_i(S) is monotone and submodular (a facility-
   location function: F(S + e) - F(S) = sum_i a_i (Kbar_ie - s_i(S))_+ shrinks as S grows); under
   `additive` F is modular (F(S + e) - F(S) = sum_i a_i K(A_ie / h), whatever S holds), so each
   duplicate adds its full suppression again. With s <= 1 the first-order gain is at most the
   below-average mass: sum_i p_i (rbar_p - r_i) s_i <= sum_i p_i (rbar_p - r_i)_+.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from selection.objective import coverage_cost
from theory.landscapes import Kernel, get_kernel


def nearest_distance(distances, selected) -> np.ndarray:
    """d_i(S) = min_{j in S} A_ij: distances (M,N,N), selected (M,N) bool -> (M,N)."""
    return np.min(np.where(selected[:, None, :], distances, np.inf), axis=-1)


def _additive(distances, selected, kernel: Kernel, bandwidth: float):
    k = kernel.profile(distances / bandwidth)  # (M, N, N)
    return np.einsum("mij,mj->mi", k, selected.astype(np.float64))


def _nearest(distances, selected, kernel: Kernel, bandwidth: float):
    return kernel.profile(nearest_distance(distances, selected) / bandwidth)


def _ball(distances, selected, kernel: Kernel, bandwidth: float):
    return (nearest_distance(distances, selected) <= bandwidth).astype(np.float64)


def _ball_profile(t):
    return (t <= 1.0).astype(np.float64)


@dataclass(frozen=True)
class PolicyModel:
    """A suppression rule s_i(S) of the update p'_i ∝ p_i exp(-eta s_i(S)) (module docstring)."""

    name: str
    summary: str
    suppress: Callable  # (distances (M,N,N), selected (M,N), Kernel, h) -> s (M,N)
    saturating: bool  # s_i in [0, 1], a function of d_i(S) only
    uses_kernel: bool  # False: the kernel argument is ignored

    def coverage_constant(self, kernel: str, bandwidth: float) -> float:
        """c of the coverage lemma s_i >= 1 - c d_i(S): L_K / h, or 1 / h for the balls."""
        _check_bandwidth(bandwidth)
        lipschitz = get_kernel(kernel).lipschitz if self.uses_kernel else 1.0
        return lipschitz / bandwidth

    def envelope(self, nearest, n_selected, kernel: str, bandwidth: float) -> np.ndarray:
        """n(S) Kbar(d_i / h) >= s_i(S) (consequence 4): nearest (M,N), n_selected (M,) -> (M,N)."""
        _check_bandwidth(bandwidth)
        profile = get_kernel(kernel).profile if self.uses_kernel else _ball_profile
        n = 1.0 if self.saturating else np.asarray(n_selected, np.float64)[:, None]
        return n * profile(np.asarray(nearest, np.float64) / bandwidth)


POLICY_MODELS: dict[str, PolicyModel] = {
    m.name: m
    for m in (
        PolicyModel("additive", "s_i = sum_{j in S} K(A_ij / h)", _additive, False, True),
        PolicyModel("nearest", "s_i = max_{j in S} K(A_ij / h)", _nearest, True, True),
        PolicyModel("coverage_ball", "s_i = 1[min_{j in S} A_ij <= h]", _ball, True, False),
    )
}
SATURATING = tuple(name for name, m in POLICY_MODELS.items() if m.saturating)


def get_policy_model(name: str) -> PolicyModel:
    """The model registered under `name`; ValueError naming the registered ones otherwise."""
    if name not in POLICY_MODELS:
        raise ValueError(f"unknown policy model {name!r}; choose one of {sorted(POLICY_MODELS)}")
    return POLICY_MODELS[name]


def _check_bandwidth(bandwidth):
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")


def _check(distances, selected, bandwidth):
    distances = np.asarray(distances, np.float64)
    selected = np.asarray(selected)
    if distances.ndim != 3 or distances.shape[1] != distances.shape[2]:
        raise ValueError(f"distances must be (M, N, N), got shape {distances.shape}")
    if selected.shape != distances.shape[:2] or selected.dtype != np.bool_:
        raise ValueError(
            f"selected must be a (M, N) bool mask, got {selected.dtype} {selected.shape}"
        )
    _check_bandwidth(bandwidth)
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


def suppression(
    distances, selected, kernel: str = "gaussian", bandwidth: float = 1.0, model: str = "additive"
):
    """s_i(S) of `model` (module docstring): distances (M,N,N), selected (M,N) bool -> (M,N).

    The saturating models need a non-empty S (d_i of the empty set is +inf: s = 0).
    """
    distances, selected = _check(distances, selected, bandwidth)
    return get_policy_model(model).suppress(distances, selected, get_kernel(kernel), bandwidth)


def policy_after_update(
    distances,
    selected,
    p0,
    eta: float,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    model: str = "additive",
):
    """p'_i = p_i exp(-eta s_i) / Z (the update above): -> (M,N), each row a distribution.

    Computed as p_i exp(-eta (s_i - min_{p_l > 0} s_l)) / Z', which cannot underflow to 0/0.
    """
    if not eta >= 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    s = suppression(distances, selected, kernel, bandwidth, model)  # (M, N)
    p0 = _check_distribution(p0, s.shape)
    s_min = np.min(np.where(p0 > 0, s, np.inf), axis=-1, keepdims=True)  # (M, 1)
    unnorm = p0 * np.exp(-eta * (s - s_min))  # (M, N); the argmin keeps its mass p_l > 0
    return unnorm / unnorm.sum(-1, keepdims=True)


def expected_reward_after_update(
    rewards,
    distances,
    selected,
    p0,
    eta: float,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    model: str = "additive",
):
    """E_{p'}[r] = sum_i p'_i r_i after training on the negatives `selected`: -> (M,).

    rewards (M,N), distances (M,N,N), selected (M,N) bool, p0 (M,N) rows summing to 1.
    """
    p = policy_after_update(distances, selected, p0, eta, kernel, bandwidth, model)
    return np.sum(p * np.asarray(rewards, np.float64), axis=-1)


def first_order_gain(
    rewards,
    distances,
    selected,
    p0,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    model: str = "additive",
):
    """d/deta E_{p'}[r] at eta = 0, = -Cov_p0(r, s) = sum_i p0_i (rbar - r_i) s_i: -> (M,).

    Proof: d/deta p'_i = p'_i (E_{p'}[s] - s_i), hence
    d/deta E_{p'}[r] = E_{p'}[r] E_{p'}[s] - E_{p'}[r s], evaluated at eta = 0 where p' = p0.
    """
    s = suppression(distances, selected, kernel, bandwidth, model)  # (M, N)
    p0 = _check_distribution(p0, s.shape)
    r = np.asarray(rewards, np.float64)
    rbar = np.sum(p0 * r, axis=-1, keepdims=True)  # (M, 1)
    return np.sum(p0 * (rbar - r) * s, axis=-1)


def suppression_lower_bound(
    distances,
    weights,
    selected,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    model: str = "additive",
):
    """sum_i w_i - c Cost_w(S), a lower bound of sum_i w_i s_i(S) (consequence 3): -> (M,).

    weights (M,N) >= 0; Cost is `selection.objective.coverage_cost`. S must be non-empty.
    """
    distances, selected = _check(distances, selected, bandwidth)
    if not np.all(selected.any(-1)):
        raise ValueError("every instance needs at least one selected point")
    w = np.asarray(weights, np.float64)
    cost = coverage_cost(distances, w, selected)  # (M,)
    return w.sum(-1) - get_policy_model(model).coverage_constant(kernel, bandwidth) * cost


def gain_lower_bound(
    rewards,
    distances,
    selected,
    p0,
    kernel: str = "gaussian",
    bandwidth: float = 1.0,
    model: str = "additive",
):
    """Theorem 6.1 as a bound on the first-order gain G(S) (T2 of check 2): -> (M,).

        G(S) >= sum_i u_i (1 - c d_i(S))_+ - sum_i v_i n(S) Kbar(d_i(S) / h),

    u_i = p0_i (rbar - r_i)_+ (below-average mass), v_i = p0_i (r_i - rbar)_+ (above-average
    mass). Proof: G = sum_i (u_i - v_i) s_i; bound u_i s_i below by the coverage lemma
    (consequence 3) and v_i s_i above by the envelope (consequence 4). The benefit term grows as
    the u-weighted coverage improves; the collateral term vanishes when every above-average point
    is beyond the kernel's reach of every negative (compact kernels, balls).
    """
    distances, selected = _check(distances, selected, bandwidth)
    if not np.all(selected.any(-1)):
        raise ValueError("every instance needs at least one selected point")
    p0 = _check_distribution(p0, selected.shape)
    r = np.asarray(rewards, np.float64)
    gap = np.sum(p0 * r, axis=-1, keepdims=True) - r  # (M, N) rbar - r_i
    spec = get_policy_model(model)
    d = nearest_distance(distances, selected)  # (M, N)
    c = spec.coverage_constant(kernel, bandwidth)
    benefit = np.sum(p0 * np.maximum(gap, 0.0) * np.maximum(1.0 - c * d, 0.0), axis=-1)
    reach = spec.envelope(d, selected.sum(-1), kernel, bandwidth)  # (M, N)
    return benefit - np.sum(p0 * np.maximum(-gap, 0.0) * reach, axis=-1)
