"""Known answers worked by hand on a tiny pool, one per strategy.

The pool (1-D embeddings, so distances are |x_i - x_j|):

    index    0   1   2   3   4   5
    x        0   1   3  10  11  12
    reward   5   3   4   0   1   2

Two islands of candidates besides the best (index 0): left {1, 2} (x = 1, 3) and right
{3, 4, 5} (x = 10, 11, 12). Outputs list the positive first, then negatives by ascending reward.
"""

import numpy as np
import pytest

from selection import select

X = np.array([0.0, 1.0, 3.0, 10.0, 11.0, 12.0])
R = np.array([5.0, 3.0, 4.0, 0.0, 1.0, 2.0])
EMB = X[None, :, None]
REW = R[None, :]


def run(name, k, **options):
    sel = select(name, REW, EMB, k, **options)
    assert int(sel.positive[0]) == 0
    return sel.indices[0].tolist()


def test_top_k():
    # the 3 highest rewards: 5 (idx 0), 4 (idx 2), 3 (idx 1); negatives ascending: 1 (r3), 2 (r4)
    assert run("top_k", 3) == [0, 1, 2]


def test_bottom_k():
    # the 3 lowest rewards: 0 (idx 3), 1 (idx 4), 2 (idx 5); positive = idx 5, the best of them
    assert run("bottom_k", 3) == [5, 3, 4]


def test_best_worst():
    assert run("best_worst", 2) == [0, 3]


def test_ampo_bottomk():
    # best (idx 0), then the 2 lowest of the others: idx 3 (r0), idx 4 (r1) — both in one island
    assert run("ampo_bottomk", 3) == [0, 3, 4]


def test_kcenter():
    # from x=0: farthest is x=12 (idx 5); then distance to {0, 12}: x1:1, x3:3, x10:2, x11:1,
    # so x=3 (idx 2). Negatives by reward: idx 5 (r2), idx 2 (r4).
    assert run("kcenter", 3) == [0, 5, 2]


@pytest.mark.parametrize("init", ["maximin", "kmeans++"])
def test_ampo_coreset(init):
    # The pool without the best is {1, 3} and {10, 11, 12}, each far tighter than the gap (7), so
    # k-means into 2 clusters finds the islands from any seeding. maximin seeding: start at the
    # lowest reward, x=10; the farthest from it is x=1 -> centres {10, 1}, converged at once.
    # Lowest reward per island: idx 1 (r3) on the left, idx 3 (r0) on the right.
    assert run("ampo_coreset", 3, init=init) == [0, 3, 1]


def test_ampo_coreset_three_islands():
    # x = 0 (the best, r 10), then islands {2, 3}, {10, 11}, {20, 21} with rewards 1..6; k = 4.
    # maximin seeding from the lowest reward, x = 2 (idx 1): the farthest is x = 21 (idx 6);
    # then the farthest from {2, 21}: x = 11 (idx 4; distance 9, vs 8 for x = 10, 1 for 3, 20).
    # Each point's nearest centre is its island's, so Lloyd stops at once; the lowest reward
    # per island: idx 1 (r 1), idx 3 (r 3), idx 5 (r 5).
    x = np.array([0.0, 2.0, 3.0, 10.0, 11.0, 20.0, 21.0])[None, :, None]
    r = np.array([[10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    sel = select("ampo_coreset", r, x, 4, init="maximin")
    assert sel.indices[0].tolist() == [0, 1, 3, 5]


def test_ampo_optselect():
    # Weights w ∝ exp(-r): w1 = e^-3 = .0498, w2 = e^-4 = .0183, w3 = 1, w4 = e^-1 = .368,
    # w5 = e^-2 = .135. Left medoid x=1: cost .0183 * 2 = .037 (x=3 instead: .0498 * 2 = .100).
    # Right medoid x=10: .368 * 1 + .135 * 2 = .638 (x=11: 1 + .135 = 1.135; x=12: 2.368).
    # Both medoids on the right, {10, 11}: .0498 * 9 + .0183 * 7 + .135 = .711 > .675. So {1, 3}.
    assert run("ampo_optselect", 3) == [0, 3, 1]


def test_ampo_optselect_uniform_weights_moves_the_right_medoid():
    # With tau -> inf all weights are equal and the right island's 1-median is its middle,
    # x=11 (idx 4: cost 1 + 1 = 2 vs 3 for x=10 or x=12). On the left x=1 and x=3 tie (2 each)
    # and the lower index, idx 1, is kept by the greedy build.
    assert run("ampo_optselect", 3, temperature=1e6) == [0, 4, 1]


def test_dpp():
    # tau = 5: quality q^2 = exp(-r/5) normalised: idx1 .549, idx2 .449, idx3 1, idx4 .819,
    # idx5 .670. Bandwidth: the 10 squared distances among x = {1, 3, 10, 11, 12} sum to 506,
    # so h^2 = 50.6 and S_ij = exp(-d^2 / 101.2). First pick: the largest q^2, idx 3. Second:
    # gain_i = q_i^2 (1 - S_3i^2): idx1 (d^2 81, S .449) .549 * .798 = .438; idx2 (d^2 49,
    # S .616) .449 * .620 = .278; idx4 (d^2 1, S .990) .819 * .020 = .016; idx5 (d^2 4, S .961)
    # .670 * .076 = .051. So idx 1: one negative per island, as Coreset finds.
    assert run("dpp", 3, temperature=5.0) == [0, 3, 1]


def test_dpp_low_temperature_is_bottom_k():
    # tau -> 0: the quality ratio between successive rewards, exp(1/tau), dwarfs any diversity
    # factor, so the greedy MAP takes the lowest rewards: idx 3 (r0), idx 4 (r1).
    assert run("dpp", 3, temperature=0.01) == [0, 3, 4]


def test_all_of_a_pool_when_k_equals_n():
    for name in ("top_k", "ampo_bottomk", "ampo_coreset", "ampo_optselect", "kcenter", "dpp"):
        assert sorted(run(name, 6)) == [0, 1, 2, 3, 4, 5], name


def test_ampo_optselect_uses_euclidean_not_squared_distances():
    # A_ij = |x_i - x_j|, not its square (PAPER.md section 1). Pool: the positive (r 1) at
    # x = 6, then x = 0, 1, 2, 3, 12 (idx 1..5) all with reward 0, so every client weighs
    # w = exp(rbar - 0) = 1 after normalisation. k = 2: one medoid, the weighted 1-median.
    # Euclidean costs: x=0: 1+2+3+12 = 18; x=1: 1+1+2+11 = 15; x=2: 2+1+1+10 = 14;
    #                  x=3: 3+2+1+9 = 15; x=12: 12+11+10+9 = 42  -> x = 2 (idx 3).
    # Squared costs:   x=0: 1+4+9+144 = 158; x=1: 1+1+4+121 = 127; x=2: 4+1+1+100 = 106;
    #                  x=3: 9+4+1+81 = 95; x=12: 446             -> x = 3 (idx 4).
    x = np.array([6.0, 0.0, 1.0, 2.0, 3.0, 12.0])[None, :, None]
    r = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    assert select("ampo_optselect", r, x, 2).indices[0].tolist() == [0, 3]


@pytest.mark.parametrize(("scale", "tau"), [(1.0, 1e-300), (1e307, 1.0), (1e307, 1e-300)])
@pytest.mark.parametrize("name", ["ampo_optselect", "dpp"])
def test_extreme_rewards_and_temperatures_reach_the_bottom_limit(name, scale, tau):
    # (r_i - min r) / tau beyond the float range: every weight but the lowest reward's is 0
    # (w = exp((min r - r_i) / tau), no rbar to overflow and no inf - inf). With one negative
    # (k = 2) OptSelect covers that client at cost 0 by choosing it, and the DPP's only
    # non-zero quality is its: both give the best and the worst response.
    g = np.random.default_rng(3)
    r = g.normal(size=(4, 32)) * scale
    e = g.normal(size=(4, 32, 5))
    got = select(name, r, e, 2, temperature=tau).indices
    np.testing.assert_array_equal(got, select("best_worst", r, e, 2).indices)
