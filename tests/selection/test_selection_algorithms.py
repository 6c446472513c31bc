"""The batched building blocks against independent references: scikit-learn's KMeans, brute-force
swaps and subsets for k-medoids, a naive log-det greedy for the DPP, and the RNG's contract."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstest
from sklearn.cluster import KMeans

from selection import coverage_cost, rng
from selection.dpp_map import greedy_map
from selection.geometry import squared_distances
from selection.kmeans import categorical, kmeans
from selection.kmedoids import greedy_build, kmedoids

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def _naive_sqdist(e):
    """(B, N, N) squared distances by explicit differences (float64)."""
    e = np.asarray(e, dtype=np.float64)
    return ((e[:, :, None, :] - e[:, None, :, :]) ** 2).sum(axis=-1)


def _geometry(seed, b, n, d):
    g = np.random.default_rng(seed)
    e = g.normal(size=(b, n, d)) + 3 * g.normal(size=(b, 4, d))[:, g.integers(0, 4, n)]
    return e, _naive_sqdist(e), g


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), c=st.integers(2, 7))
def test_kmeans_matches_sklearn_from_the_same_seeding(seed, c):
    """Lloyd on squared distances gives scikit-learn's partition and inertia from the same
    initial centres. Guards against: a wrong centroid-distance identity or an off-by-one in the
    update/convergence order."""
    e, d2, _ = _geometry(seed, 4, 24, 5)
    members = np.ones((4, 24), dtype=bool)
    res = kmeans(
        d2, members, c, init="kmeans++", uniform=lambda s, n: rng.uniform(seed, np.arange(4), s, n)
    )
    for b in range(4):
        ref = KMeans(c, init=e[b, res.centers[b]], n_init=1, algorithm="lloyd", tol=0, max_iter=300)
        ref.fit(e[b])
        same = (ref.labels_[:, None] == ref.labels_[None]) == (
            res.labels[b][:, None] == res.labels[b][None]
        )
        assert same.all()
        np.testing.assert_allclose(res.inertia[b], ref.inertia_, rtol=1e-9)


def test_kmeans_restarts_keep_the_lowest_inertia():
    """n_init restarts never increase the inertia of any prompt. Guards against: keeping the
    last run instead of the best one, or mixing labels of one run with centres of another."""
    _, d2, _ = _geometry(0, 30, 20, 3)
    members = np.ones((30, 20), dtype=bool)

    def uniform(s, n):
        return rng.uniform(0, np.arange(30), s, n)

    one = kmeans(d2, members, 5, init="kmeans++", uniform=uniform, n_init=1)
    many = kmeans(d2, members, 5, init="kmeans++", uniform=uniform, n_init=4)
    assert (many.inertia <= one.inertia + 1e-12).all() and (many.inertia < one.inertia).any()


def test_kmeans_members_only():
    """Non-members get label -1 and never seed a cluster."""
    _, d2, _ = _geometry(1, 6, 12, 3)
    members = np.ones((6, 12), dtype=bool)
    members[:, [0, 5]] = False
    res = kmeans(
        d2, members, 3, init="kmeans++", uniform=lambda s, n: rng.uniform(0, np.arange(6), s, n)
    )
    assert (res.labels[:, [0, 5]] == -1).all() and members[np.arange(6)[:, None], res.centers].all()
    for labels in res.labels:
        assert set(labels[labels >= 0].tolist()) == {0, 1, 2}


def test_categorical_draws_proportionally():
    """Inverse-CDF draws follow the weights and never pick a zero weight."""
    w = np.array([[0.0, 1.0, 0.0, 3.0, 0.0]])
    u = rng.uniform(0, [0], 0, 20000)
    draws = categorical(w, u)[0]
    counts = np.bincount(draws, minlength=5)
    assert counts[[0, 2, 4]].sum() == 0
    assert abs(counts[3] / counts.sum() - 0.75) < 0.01


def _cost(dist, w, members):
    sel = np.zeros(dist.shape[0], dtype=bool)
    sel[list(members)] = True
    return coverage_cost(dist[None], w[None], sel[None])[0]


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 4))
def test_kmedoids_is_a_swap_local_optimum_within_factor_5(seed, m):
    """The swap search ends where no single swap lowers the cost (checked by brute force), at a
    cost <= the greedy build's and <= 5 x the exact optimum over all subsets (Theorem 6.2).
    Guards against: a wrong FastPAM delta, stopping early, or swapping in a taken medoid."""
    _, d2, g = _geometry(seed, 3, 9, 3)
    dist = np.sqrt(d2)
    w = g.uniform(0.05, 1.0, size=(3, 9))
    cand = np.ones((3, 9), dtype=bool)
    res = kmedoids(dist, w, cand, m)
    build = greedy_build(dist, w, cand, m)
    for b in range(3):
        med = set(res.medoids[b].tolist())
        assert len(med) == m
        cost = _cost(dist[b], w[b], med)
        np.testing.assert_allclose(res.cost[b], cost, rtol=1e-12)
        assert cost <= _cost(dist[b], w[b], build[b].tolist()) + 1e-12
        for out, into in itertools.product(med, set(range(9)) - med):
            assert _cost(dist[b], w[b], (med - {out}) | {into}) >= cost * (1 - 1e-9)
        best = min(_cost(dist[b], w[b], s) for s in itertools.combinations(range(9), m))
        assert cost <= 5 * best + 1e-12


def test_kmedoids_fixed_medoid_stays_and_counts():
    """A fixed medoid is never swapped out and covers its neighbours."""
    _, d2, g = _geometry(3, 5, 10, 2)
    dist = np.sqrt(d2)
    w = g.uniform(0.1, 1.0, size=(5, 10))
    cand = np.ones((5, 10), dtype=bool)
    cand[:, 0] = False
    res = kmedoids(dist, w, cand, 2, fixed=np.zeros((5, 1), dtype=np.int64))
    assert (res.medoids[:, 0] == 0).all() and (res.medoids[:, 1:] != 0).all()
    for b in range(5):
        med = set(res.medoids[b].tolist())
        for out, into in itertools.product(med - {0}, set(range(1, 10)) - med):
            assert _cost(dist[b], w[b], (med - {out}) | {into}) >= res.cost[b] * (1 - 1e-9)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 6))
def test_dpp_greedy_map_matches_naive_logdet_greedy(seed, m):
    """Incremental-Cholesky greedy MAP == the naive greedy that recomputes log det per step.
    Guards against: a wrong Cholesky update (stale columns, missing normalisation)."""
    g = np.random.default_rng(seed)
    x = g.normal(size=(2, 8, 3))
    q = g.uniform(0.2, 1.0, size=(2, 8))
    d2 = ((x[:, :, None] - x[:, None]) ** 2).sum(-1)
    kernel = q[:, :, None] * np.exp(-d2 / 2.0) * q[:, None, :]
    cand = g.uniform(size=(2, 8)) < 0.8
    cand[:, :m] = True
    picked = greedy_map(kernel, cand, m)
    for b in range(2):
        chosen = []
        for _ in range(m):
            gains = {
                i: np.linalg.slogdet(kernel[b][np.ix_([*chosen, i], [*chosen, i])])[1]
                for i in np.flatnonzero(cand[b])
                if i not in chosen
            }
            chosen.append(max(gains, key=gains.get))
        assert picked[b].tolist() == chosen


def test_rng_contract():
    """Draws lie in (0, 1], are uniform (KS test), reproducible, and a prompt's draws depend on its
    key only. Guards against: batch-dependent randomness and a biased or zero-including range."""
    u = rng.uniform(7, np.arange(500), 2, 64)
    assert u.min() > 0 and u.max() <= 1
    assert kstest(u.ravel(), "uniform").pvalue > 1e-3
    np.testing.assert_array_equal(u, rng.uniform(7, np.arange(500), 2, 64))
    np.testing.assert_array_equal(u[[42, 3]], rng.uniform(7, np.array([42, 3]), 2, 64))
    assert not np.array_equal(u, rng.uniform(8, np.arange(500), 2, 64))
    assert not np.array_equal(u, rng.uniform(7, np.arange(500), 3, 64))
    big = rng.uniform(0, np.array([-1, 2**62]), 0, 4)  # any int64 key
    assert big.shape == (2, 4) and np.isfinite(big).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_low_precision_embeddings_match_float64_on_separated_pools(dtype):
    """float16/float32 embeddings (upcast inside) select as float64 does on well-separated pools."""
    from selection import select

    g = np.random.default_rng(0)
    e = g.normal(size=(20, 16, 8)) + 4 * g.normal(size=(20, 16, 1)) * (np.arange(8) < 2)
    r = g.normal(size=(20, 16))
    for name in ("kcenter", "ampo_optselect", "ampo_coreset"):
        ref = select(name, r, e, 4).indices
        got = select(name, r, e.astype(dtype), 4).indices
        assert (ref == got).all(axis=1).mean() > 0.9


def test_lloyd_refills_empty_clusters():
    """A cluster left empty (here by two coinciding initial centres) receives the member farthest
    from its centroid, so every cluster ends non-empty. Guards against: NaN centroids (0/0) and
    selections with fewer than k - 1 negatives."""
    from selection.kmeans import lloyd

    _, d2, _ = _geometry(4, 5, 12, 3)
    members = np.ones((5, 12), dtype=bool)
    centers = np.tile(np.array([0, 0, 7]), (5, 1))  # slot 1 duplicates slot 0: ties go to slot 0
    labels, inertia, _ = lloyd(d2, members, centers)
    for row in labels:
        assert set(row.tolist()) == {0, 1, 2}
    assert np.isfinite(inertia).all()


def test_swap_limit_zero_returns_the_greedy_build():
    """max_swaps=0 keeps the build; the pools retired at different steps come back in row order.
    Guards against: rows shuffled when finished pools leave the working set."""
    _, d2, g = _geometry(5, 16, 10, 3)
    dist = np.sqrt(d2)
    w = g.uniform(0.1, 1.0, size=(16, 10))
    cand = np.ones((16, 10), dtype=bool)
    build = greedy_build(dist, w, cand, 3)
    np.testing.assert_array_equal(kmedoids(dist, w, cand, 3, max_swaps=0).medoids, build)
    full = kmedoids(dist, w, cand, 3)
    assert full.n_swaps.min() == 0 < full.n_swaps.max()  # pools finish at different steps
    for b in range(16):
        one = kmedoids(dist[b : b + 1], w[b : b + 1], cand[b : b + 1], 3)
        np.testing.assert_array_equal(one.medoids[0], full.medoids[b])


@pytest.mark.parametrize("offset", [0.0, 1.0, 1e3])
def test_float32_distances_are_accurate_near_and_far_from_the_origin(offset):
    """float32 squared distances (converted back from the pool's unit 2**exponent) stay within
    1e-4 of exact float64 differences relative to the pool's spread, for unit-norm embeddings and
    after a large translation (the recentred path).
    Guards against: cancellation in ||a||^2 + ||b||^2 - 2<a, b> far from the origin, and a
    wrong unit of length."""
    g = np.random.default_rng(0)
    e = g.normal(size=(8, 32, 384))
    e /= np.linalg.norm(e, axis=2, keepdims=True)
    e = (e + offset).astype(np.float32)  # the reference sees the same rounded inputs
    ref = _naive_sqdist(e)
    spread = ((e - e.mean(axis=1, keepdims=True).astype(np.float64)) ** 2).sum(axis=2).mean(axis=1)
    geo = squared_distances(e, np.ones((8, 32), dtype=bool))
    assert geo.sqdist.dtype == np.float32
    got = geo.sqdist * np.ldexp(1.0, 2 * geo.exponent)[:, None, None]
    assert np.abs(got - ref).max() <= 1e-4 * spread.min()


def test_greedy_build_known_answer():
    """PAM's BUILD on x = 0, 1, 10, 11, 20 (unit weights, m = 3), worked by hand.
    Step 1, the 1-median: x=10 costs 10+9+0+1+10 = 30, x=11 31, x=1 39 -> idx 2.
    Step 2 given {10}: x=0 and x=1 both cost 0+1+0+1+10 = 12, x=20 costs 20 -> idx 0 (first).
    Step 3 given {10, 0}: x=20 costs 0+1+0+1+0 = 2, x=11 10, x=1 11 -> idx 4. A build that
    remembers only its last medoid would take x=11 (11 < 20 given {0} alone)."""
    x = np.array([0.0, 1.0, 10.0, 11.0, 20.0])
    dist = np.abs(x[:, None] - x[None, :])[None]
    chosen = greedy_build(dist, np.ones((1, 5)), np.ones((1, 5), dtype=bool), 3)
    assert chosen.tolist() == [[2, 0, 4]]
