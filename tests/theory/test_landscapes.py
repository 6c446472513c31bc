"""Tests of theory/landscapes.py (pools, Lipschitz rewards) and theory/policy_model.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from selection.objective import coverage_weights
from theory.landscapes import (
    KERNELS,
    REWARDS,
    BumpReward,
    PiecewiseLinearReward,
    empirical_lipschitz,
    get_kernel,
    island_proportions,
    island_sizes,
    pairwise_distances,
    sample_islands,
)
from theory.policy_model import (
    expected_reward_after_update,
    first_order_gain,
    policy_after_update,
    suppression,
    suppression_lower_bound,
)

SETTINGS = settings(derandomize=True, max_examples=60, deadline=None)


# --- pools ----------------------------------------------------------------------------------


def test_shapes_and_labels():
    """Shapes (M,N,d), (M,N), (M,I,d); labels in range; each point is its centre plus noise.

    Guards: broadcasting slips that give points of the wrong instance or island.
    """
    pool = sample_islands(5, 30, 4, 3, spread=0.0, seed=1)
    assert pool.points.shape == (5, 30, 4) and pool.island.shape == (5, 30)
    assert pool.centers.shape == (5, 3, 4)
    assert pool.island.min() >= 0 and pool.island.max() < 3
    expected = np.take_along_axis(pool.centers, pool.island[:, :, None], axis=1)
    np.testing.assert_array_equal(pool.points, expected)  # spread 0: points are the centres


def test_seeds_reproduce():
    """The same seed gives identical pools and rewards; another seed gives different ones.

    Guards: use of global random state, or draws that depend on call history.
    """
    a = sample_islands(3, 20, 5, 4, 0.5, imbalance=0.3, seed=11)
    b = sample_islands(3, 20, 5, 4, 0.5, imbalance=0.3, seed=np.random.default_rng(11))
    c = sample_islands(3, 20, 5, 4, 0.5, imbalance=0.3, seed=12)
    for field in ("points", "island", "centers"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.points, c.points)
    for make in REWARDS.values():
        np.testing.assert_array_equal(
            make(a.centers, seed=3)(a.points), make(b.centers, seed=3)(b.points)
        )
        assert not np.array_equal(
            make(a.centers, seed=3)(a.points), make(a.centers, seed=4)(a.points)
        )


def test_island_sizes_known_answer():
    """N = 14, I = 3, imbalance 0.5: pi ∝ 1, 1/2, 1/4 = 4/7, 2/7, 1/7, so sizes 8, 4, 2.

    Guards: proportions that are not geometric in (1 - imbalance), or sizes not summing to N.
    """
    np.testing.assert_allclose(island_proportions(3, 0.5), [4 / 7, 2 / 7, 1 / 7])
    assert island_sizes(14, 3, 0.5).tolist() == [8, 4, 2]
    assert island_sizes(10, 3, 0.0).tolist() == [4, 3, 3]  # 10/3 each, remainder to island 0
    # N = 6: targets 3.43, 1.71, 0.86; floors 3, 1, 0; the 2 left go to the largest remainders.
    assert island_sizes(6, 3, 0.5).tolist() == [3, 2, 1]
    pool = sample_islands(7, 14, 2, 3, 1.0, imbalance=0.5, seed=0)
    counts = np.stack([np.bincount(row, minlength=3) for row in pool.island])
    assert (counts == [8, 4, 2]).all()


@SETTINGS
@given(st.integers(1, 200), st.integers(1, 8), st.floats(0.0, 0.95))
def test_imbalance_skews_island_sizes(n_points, n_islands, imbalance):
    """Sizes sum to N, lie within 1 of N pi_a, never increase with the island index, and the
    largest island grows with the imbalance.

    Guards: a rounding that loses or duplicates points, and an imbalance knob acting backwards.
    """
    sizes = island_sizes(n_points, n_islands, imbalance)
    target = n_points * island_proportions(n_islands, imbalance)
    assert sizes.sum() == n_points and np.all(np.abs(sizes - target) < 1)
    assert np.all(np.diff(sizes) <= 0)
    assert island_sizes(n_points, n_islands, min(0.99, imbalance + 0.04))[0] >= sizes[0]


def test_spread_and_island_distance_are_rms_distances():
    """E||x - c_island||^2 = spread^2 and E||c_a - c_b||^2 = island_distance^2, in any dimension.

    Guards: a per-coordinate scale that makes the pool geometry depend on d.
    """
    for dim in (2, 32):
        pool = sample_islands(400, 40, dim, 2, spread=0.7, island_distance=3.0, seed=dim)
        own = np.take_along_axis(pool.centers, pool.island[:, :, None], axis=1)
        assert np.mean(np.sum((pool.points - own) ** 2, -1)) == pytest.approx(0.49, rel=0.03)
        sep = np.sum((pool.centers[:, 0] - pool.centers[:, 1]) ** 2, -1)  # (M,)
        assert np.mean(sep) == pytest.approx(9.0, rel=0.15)  # 400 draws of a chi^2_d / d * 9


@pytest.mark.parametrize("bad", [{"imbalance": 1.0}, {"imbalance": -0.1}, {"n_islands": 0}])
def test_pool_rejects_bad_arguments(bad):
    """imbalance outside [0, 1) or no island raises ValueError. Guards: division by zero later."""
    args = {"n_instances": 1, "n_points": 5, "dim": 2, "n_islands": 2, "spread": 1.0} | bad
    with pytest.raises(ValueError):
        sample_islands(**args)


def test_pairwise_distances_match_scipy():
    """pairwise_distances equals scipy's cdist per instance, is symmetric with a zero diagonal.

    Guards: the Gram-matrix shortcut (asymmetric, negative under the root) and axis mix-ups.
    """
    pts = sample_islands(3, 17, 6, 2, 1.0, seed=5).points
    d = pairwise_distances(pts)
    for m in range(3):
        np.testing.assert_allclose(d[m], cdist(pts[m], pts[m]), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(d, np.swapaxes(d, 1, 2))
    assert np.all(np.diagonal(d, axis1=1, axis2=2) == 0)
    np.testing.assert_array_equal(pairwise_distances(pts[0]), d[0])


# --- Lipschitz rewards ----------------------------------------------------------------------


def test_empirical_lipschitz_matches_a_double_loop():
    """The vectorised estimate equals a naive loop over pairs. Guards: a wrong axis or pair skip."""
    rng = np.random.default_rng(0)
    pts, r = rng.standard_normal((2, 9, 3)), rng.standard_normal((2, 9))
    naive = [
        max(abs(r[m, i] - r[m, j]) / np.linalg.norm(pts[m, i] - pts[m, j])
            for i in range(9) for j in range(9) if i != j)
        for m in range(2)
    ]  # fmt: skip
    np.testing.assert_allclose(empirical_lipschitz(pts, r), naive, rtol=1e-12)


@SETTINGS
@given(
    st.sampled_from(sorted(REWARDS)),
    st.sampled_from(sorted(KERNELS)),
    st.integers(1, 8),
    st.floats(0.2, 3.0),
    st.integers(0, 2**32 - 1),
)
def test_lipschitz_constant_bounds_the_empirical_one(family, kernel, dim, length_scale, seed):
    """|r(x) - r(x')| <= L ||x - x'|| for every pair, including pairs 1e-6 apart (a theorem).

    Checked as a difference, up to the rounding of the reward values (1e-12 of their scale):
    as a ratio, rounding divided by a 1e-6 distance would exceed any fixed relative tolerance.
    Guards: a Lipschitz constant that forgets a bump's width or height, or a kernel's slope.
    """
    pool = sample_islands(16, 24, dim, 3, spread=length_scale, seed=seed)
    kw = {"kernel": kernel} if family == "bump" else {}
    reward = REWARDS[family](pool.centers, length_scale=length_scale, seed=seed, **kw)
    near = pool.points + 1e-6 * np.random.default_rng(seed).standard_normal(pool.points.shape)
    pts = np.concatenate([pool.points, near], axis=1)  # (M, 2N, d)
    r, lip = reward(pts), reward.lipschitz  # (M, 2N), (M,)
    gap = np.abs(r[:, :, None] - r[:, None, :])  # (M, 2N, 2N)
    slack = 1e-12 * (1 + np.abs(r).max(-1))[:, None, None]
    assert np.all(gap <= lip[:, None, None] * pairwise_distances(pts) + slack)
    emp = empirical_lipschitz(pool.points, reward(pool.points))  # well-separated pairs
    assert np.all(emp <= lip * (1 + 1e-9))
    assert emp.max() > 0  # the landscape is not flat on every instance


def test_lipschitz_constants_are_tight_on_known_answers():
    """One triangular bump h = 3, s = 2: along a ray within radius s the slope is h/s = 1.5 = L.
    One affine up-piece with a = (3, 4) and a flat down-piece: L = ||a|| = 5, reached along a.

    Guards: a constant that is a valid but loose (or inflated) bound, hiding a wrong formula.
    """
    ray = np.linspace(0.0, 1.9, 7)[None, :, None] * np.array([0.6, 0.8])  # (1, 7, 2)
    bump = BumpReward(np.zeros((1, 1, 2)), np.array([[3.0]]), np.array([[2.0]]), "triangular")
    assert bump.lipschitz == pytest.approx([1.5])
    assert empirical_lipschitz(ray, bump(ray)) == pytest.approx([1.5], rel=1e-12)
    pwl = PiecewiseLinearReward(
        np.array([[[3.0, 4.0]]]), np.zeros((1, 1)), np.zeros((1, 1, 2)), np.zeros((1, 1))
    )
    assert pwl.lipschitz == pytest.approx([5.0])
    assert empirical_lipschitz(ray, pwl(ray)) == pytest.approx([5.0], rel=1e-12)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_are_decreasing_from_one_with_their_lipschitz_constant(name):
    """K(0) = 1, K non-increasing in [0, 1], and max slope on a fine grid = L_K (to 1e-3).

    Guards: a kernel constant too small (breaking the Lipschitz theorem) or too large (loose).
    """
    k = get_kernel(name)
    t = np.linspace(0.0, 6.0, 600_001)
    v = k.profile(t)
    assert v[0] == 1.0 and np.all(np.diff(v) <= 0) and np.all((v >= 0) & (v <= 1))
    assert np.max(np.abs(np.diff(v)) / np.diff(t)) == pytest.approx(k.lipschitz, rel=1e-3)
    with pytest.raises(ValueError, match="gaussian"):
        get_kernel("no-such-kernel")


# --- policy model ---------------------------------------------------------------------------


@st.composite
def policy_cases(draw):
    """A pool, rewards, a non-empty selected set, a start distribution p0 (some zeros), eta."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m, n = 4, draw(st.integers(2, 12))
    pts = rng.standard_normal((m, n, 2)) * draw(st.floats(0.1, 3.0))
    sel = rng.random((m, n)) < 0.3
    sel[:, 0] = True
    p0 = rng.exponential(size=(m, n)) * (rng.random((m, n)) < 0.9)
    p0[:, -1] += 0.1
    p0 /= p0.sum(-1, keepdims=True)
    kernel = draw(st.sampled_from(sorted(KERNELS)))
    return pairwise_distances(pts), rng.standard_normal((m, n)), sel, p0, kernel


@SETTINGS
@given(policy_cases(), st.floats(0.0, 50.0), st.floats(0.1, 3.0))
def test_update_keeps_a_distribution_and_only_moves_mass_away(case, eta, bandwidth):
    """p' is a distribution on the support of p0; p'_i / p0_i = exp(-eta s_i) / Z exactly, so the
    ratio never increases with the suppression s_i, and unsuppressed points never lose mass.

    Guards: a missing renormalisation, underflow to 0/0 at large eta, or mass moved towards
    the negatives.
    """
    a, r, sel, p0, kernel = case
    p = policy_after_update(a, sel, p0, eta, kernel, bandwidth)
    s = suppression(a, sel, kernel, bandwidth)
    assert np.all(p >= 0) and np.allclose(p.sum(-1), 1.0, atol=1e-12)
    assert np.all(p[p0 == 0] == 0)
    for m in range(len(p)):
        on = p0[m] > 0
        ratio, sm = p[m, on] / p0[m, on], s[m, on]
        order = np.argsort(sm, kind="stable")
        assert np.all(np.diff(ratio[order]) <= 1e-12 * ratio.max())  # non-increasing in s
        assert np.all(ratio[sm == 0] >= 1 - 1e-12)
    expected = np.sum(p * r, -1)
    np.testing.assert_allclose(
        expected_reward_after_update(r, a, sel, p0, eta, kernel, bandwidth), expected, rtol=1e-12
    )


def test_suppression_known_answer():
    """Points 0, 1, 3 on a line, S = {0}, triangular kernel, h = 2: s = (1, 1/2, 0); with
    p0 uniform and eta = ln 2: p ∝ (1/2, 1/sqrt 2, 1), Z = 1/2 + 0.7071 + 1 = 2.2071.

    Guards: the kernel applied to the wrong axis (A_ji summed over i) or to unscaled distances,
    and 0/0 when every exp(-eta s_i) underflows.
    """
    x = np.array([0.0, 1.0, 3.0])
    a = np.abs(x[:, None] - x[None, :])[None]  # (1, 3, 3)
    sel = np.array([[True, False, False]])
    np.testing.assert_allclose(suppression(a, sel, "triangular", 2.0), [[1.0, 0.5, 0.0]])
    p = policy_after_update(a, sel, np.full((1, 3), 1 / 3), np.log(2.0), "triangular", 2.0)
    u = np.array([0.5, 2**-0.5, 1.0])
    np.testing.assert_allclose(p, [u / u.sum()], rtol=1e-12)
    # S = {0, 2}: s = (1 + 0, 1/2 + 0, 0 + 1); at eta = 2000 every exp(-eta s) underflows, yet the
    # update is well defined: all the mass goes to the least suppressed point.
    sel = np.array([[True, False, True]])
    p = policy_after_update(a, sel, np.full((1, 3), 1 / 3), 2000.0, "triangular", 2.0)
    np.testing.assert_array_equal(p, [[0.0, 1.0, 0.0]])


@SETTINGS
@given(policy_cases(), st.floats(0.1, 3.0))
def test_first_order_gain_matches_finite_differences(case, bandwidth):
    """d/deta E_{p'}[r] at 0 = -Cov_p0(r, s), checked by a one-sided second-order difference.

    Guards: a sign error or a wrong covariance in the documented first-order consequence.
    """
    a, r, sel, p0, kernel = case
    h = 1e-4
    f = [expected_reward_after_update(r, a, sel, p0, e, kernel, bandwidth) for e in (0, h, 2 * h)]
    fd = (-3 * f[0] + 4 * f[1] - f[2]) / (2 * h)
    np.testing.assert_allclose(first_order_gain(r, a, sel, p0, kernel, bandwidth), fd, atol=1e-6)


@SETTINGS
@given(policy_cases(), st.floats(0.1, 3.0))
def test_coverage_lemma_bounds_the_weighted_suppression(case, bandwidth):
    """sum_i w_i s_i(S) >= sum_i w_i - (L_K / h) Cost(S) with AMPO's weights (a theorem).

    Guards: a lemma stated with the wrong kernel constant or bandwidth scaling.
    """
    a, r, sel, _, kernel = case
    w = coverage_weights(r)
    lhs = np.sum(w * suppression(a, sel, kernel, bandwidth), -1)
    rhs = suppression_lower_bound(a, w, sel, kernel, bandwidth)
    assert np.all(lhs >= rhs - 1e-12 * np.abs(rhs).max())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"p0": np.full((1, 3), 0.5)}, "sum to 1"),
        ({"eta": -1.0}, "eta"),
        ({"bandwidth": 0}, "band"),
    ],
)
def test_policy_model_rejects_bad_arguments(change, message):
    """A p0 that is not a distribution, eta < 0 or bandwidth <= 0 raise ValueError.

    Guards: silently renormalising a wrong p0 into a plausible answer.
    """
    args = {"distances": np.zeros((1, 3, 3)), "selected": np.ones((1, 3), bool)}
    args |= {"p0": np.full((1, 3), 1 / 3), "eta": 1.0, "kernel": "laplace", "bandwidth": 1.0}
    with pytest.raises(ValueError, match=message):
        policy_after_update(**(args | change))
