"""Tests of theory/landscapes.py (pools, Lipschitz rewards) and the landscape families."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

from theory.checks.instances import (
    FAMILIES,
    LandscapeSpec,
    MistakeSpec,
    get_family,
    make_landscapes,
)
from theory.landscapes import (
    KERNELS,
    REWARDS,
    BumpReward,
    PiecewiseLinearReward,
    empirical_lipschitz,
    get_kernel,
    island_proportions,
    island_sizes,
    make_bump_reward,
    make_mistake_reward,
    mistake_sizes,
    pairwise_distances,
    sample_islands,
    sample_mistake_pool,
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


# --- the mistake-cluster family and the registry of landscape families -----------------------


def test_mistake_sizes_known_answers():
    """N = 32, 0.3 / 0.3: cluster round(9.6) = 10, good island 10, 12 left: 6 bad islands of 2,
    or 3 of 4. N = 10 with 4 bad islands: 3, 3 and 4 left, one each. Too small a pool for the
    parts raises ValueError. Guards: sizes that do not sum to N or lose a role."""
    assert mistake_sizes(32, 6, 0.3, 0.3).tolist() == [10, 2, 2, 2, 2, 2, 2, 10]
    assert mistake_sizes(32, 3, 0.3, 0.3).tolist() == [10, 4, 4, 4, 10]
    assert mistake_sizes(10, 4, 0.3, 0.3).tolist() == [3, 1, 1, 1, 1, 3]
    assert mistake_sizes(11, 3, 0.3, 0.3).tolist() == [3, 2, 2, 1, 3]  # 5 left: 2, 2, 1
    with pytest.raises(ValueError, match="cannot hold"):
        mistake_sizes(6, 4, 0.3, 0.3)
    with pytest.raises(ValueError, match="fractions"):
        mistake_sizes(32, 4, 0.0, 0.3)


def test_mistake_pool_roles_and_radii():
    """Island 0 holds round(N mistake_fraction) points at RMS radius mistake_spread (the near-
    duplicates), the last island round(N good_fraction), the others share the rest at RMS
    radius `spread`. Guards: the cluster's tightness applied to the wrong island."""
    pool = sample_mistake_pool(300, 32, 16, 6, mistake_spread=0.1, spread=0.8, seed=3)
    counts = np.stack([np.bincount(row, minlength=8) for row in pool.island])
    assert (counts == mistake_sizes(32, 6, 0.3, 0.3)).all()
    own = np.take_along_axis(pool.centers, pool.island[:, :, None], axis=1)
    sq = np.sum((pool.points - own) ** 2, -1)  # (M, N)
    assert np.mean(sq[pool.island == 0]) == pytest.approx(0.01, rel=0.05)
    assert np.mean(sq[pool.island > 0]) == pytest.approx(0.64, rel=0.05)


def test_mistake_reward_orders_the_roles_and_is_lipschitz():
    """With the defaults, the cluster is the worst island on average, the middle islands sit below
    the pool's mean reward and the good island above it (so the positive is on it); |r_i - r_j|
    <= L A_ij on every pair, pairs 1e-6 apart included.

    Guards: valleys and hill swapped, or a Lipschitz constant that forgets a bump.
    """
    pool = sample_mistake_pool(100, 32, 16, 6, seed=7)
    reward = make_mistake_reward(pool.centers, seed=8)
    r, isl = reward(pool.points), pool.island  # (M, N)
    rbar = np.broadcast_to(r.mean(1, keepdims=True), r.shape)
    bad, good = (isl > 0) & (isl < isl.max()), isl == isl.max()
    assert r[isl == 0].mean() < r[bad].mean()
    assert np.mean(r[bad] < rbar[bad]) > 0.99 and np.all(r[good] > rbar[good])
    near = pool.points + 1e-6 * np.random.default_rng(0).standard_normal(pool.points.shape)
    pts = np.concatenate([pool.points, near], axis=1)  # (M, 2N, d)
    vals = reward(pts)
    gap = np.abs(vals[:, :, None] - vals[:, None, :])
    slack = 1e-12 * (1 + np.abs(vals).max())
    assert np.all(gap <= reward.lipschitz[:, None, None] * pairwise_distances(pts) + slack)


def test_families_registry_and_draws():
    """FAMILIES names the island families (bump, piecewise-linear) and the mistake clusters; an
    unknown name or an impossible spec raises ValueError; an island spec draws exactly
    `sample_islands` then its REWARDS factory from one generator (the order check 1 relies on).

    Guards: a refactor of make_landscapes that changes the instances of every check.
    """
    assert {"islands_bump", "islands_piecewise_linear", "mistake_cluster"} <= set(FAMILIES)
    with pytest.raises(ValueError, match="mistake_cluster"):
        get_family("no-such-family")
    with pytest.raises(ValueError, match="deepest"):
        MistakeSpec(jitter=0.5)
    with pytest.raises(ValueError, match="cannot hold"):
        MistakeSpec(n_points=8)
    spec = LandscapeSpec(n_points=10, dim=3)
    land = make_landscapes(spec, 4, 9)
    rng = np.random.default_rng(9)
    pool = sample_islands(4, 10, 3, 5, 1.0, imbalance=0.3, island_distance=4.0, seed=rng)
    reward = make_bump_reward(pool.centers, 8, length_scale=2.0, seed=rng)
    np.testing.assert_array_equal(land.points, pool.points)
    np.testing.assert_array_equal(land.rewards, reward(pool.points))
