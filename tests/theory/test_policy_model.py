"""Tests of theory/policy_model.py: the registry of policy models and their proved consequences."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selection.objective import coverage_cost, coverage_weights
from theory.landscapes import KERNELS, pairwise_distances
from theory.policy_model import (
    POLICY_MODELS,
    SATURATING,
    expected_reward_after_update,
    first_order_gain,
    gain_lower_bound,
    get_policy_model,
    nearest_distance,
    policy_after_update,
    suppression,
    suppression_lower_bound,
)

SETTINGS = settings(derandomize=True, max_examples=60, deadline=None)
MODELS = sorted(POLICY_MODELS)


def line(*x):
    """Distances (1, n, n) between points on a line."""
    x = np.asarray(x, np.float64)
    return np.abs(x[:, None] - x[None, :])[None]


@st.composite
def policy_cases(draw):
    """A pool, rewards, a non-empty selected set, a start distribution p0 (some zeros), a kernel
    and a model."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m, n = 4, draw(st.integers(2, 12))
    pts = rng.standard_normal((m, n, 2)) * draw(st.floats(0.1, 3.0))
    sel = rng.random((m, n)) < 0.3
    sel[:, 0] = True
    p0 = rng.exponential(size=(m, n)) * (rng.random((m, n)) < 0.9)
    p0[:, -1] += 0.1
    p0 /= p0.sum(-1, keepdims=True)
    kernel = draw(st.sampled_from(sorted(KERNELS)))
    model = draw(st.sampled_from(MODELS))
    return pairwise_distances(pts), rng.standard_normal((m, n)), sel, p0, kernel, model


# --- known answers --------------------------------------------------------------------------


def test_suppression_known_answer():
    """Points 0, 1, 3 on a line, triangular kernel, h = 2.
    S = {0}: every model's s is K(d/h) or 1[d <= h] with d = (0, 1, 3): additive = nearest =
    (1, 1/2, 0), balls (1, 1, 0). S = {0, 1}: additive (1 + 1/2, 1/2 + 1, 0 + 0) = (1.5, 1.5, 0);
    nearest takes the larger term (1, 1, 0); balls with d = (0, 0, 2) give (1, 1, 1).
    With p0 uniform, S = {0}, additive, eta = ln 2: p ∝ (1/2, 1/sqrt 2, 1).

    Guards: the kernel on the wrong axis (A_ji summed over i), unscaled distances, a ball test
    with < instead of <=, a nearest model that sums or uses the farthest negative.
    """
    a = line(0.0, 1.0, 3.0)
    one, two = np.array([[True, False, False]]), np.array([[True, True, False]])
    expect = {
        "additive": ([1.0, 0.5, 0.0], [1.5, 1.5, 0.0]),
        "nearest": ([1.0, 0.5, 0.0], [1.0, 1.0, 0.0]),
        "coverage_ball": ([1.0, 1.0, 0.0], [1.0, 1.0, 1.0]),
    }
    assert set(expect) == set(POLICY_MODELS)
    for model, (s_one, s_two) in expect.items():
        np.testing.assert_allclose(suppression(a, one, "triangular", 2.0, model), [s_one])
        np.testing.assert_allclose(suppression(a, two, "triangular", 2.0, model), [s_two])
    p = policy_after_update(a, one, np.full((1, 3), 1 / 3), math.log(2.0), "triangular", 2.0)
    u = np.array([0.5, 2**-0.5, 1.0])
    np.testing.assert_allclose(p, [u / u.sum()], rtol=1e-12)


def test_large_step_puts_all_mass_on_the_least_suppressed_point():
    """S = {0, 2} on the line 0, 1, 3 (triangular, h = 2): additive s = (1, 1/2, 1). At eta = 2000
    every exp(-eta s_i) underflows, yet the update is defined: all mass goes to point 1.

    Guards: 0/0 when every exp(-eta s_i) underflows.
    """
    sel = np.array([[True, False, True]])
    p = policy_after_update(line(0, 1, 3), sel, np.full((1, 3), 1 / 3), 2000.0, "triangular", 2.0)
    np.testing.assert_array_equal(p, [[0.0, 1.0, 0.0]])


def test_duplicates_add_suppression_only_in_the_additive_model():
    """Points 0, 0, 5 (a duplicated answer), gaussian, h = 1. S = {0} vs S = {0, 1} (both copies):
    additive goes from (1, 1, e^{-12.5}) to twice that; nearest and balls do not move.

    Guards: a saturating model that still accumulates repeated negatives.
    """
    a = line(0.0, 0.0, 5.0)
    one, both = np.array([[True, False, False]]), np.array([[True, True, False]])
    for model in MODELS:
        s_one = suppression(a, one, "gaussian", 1.0, model)
        s_both = suppression(a, both, "gaussian", 1.0, model)
        factor = 1.0 if model in SATURATING else 2.0
        np.testing.assert_allclose(s_both, factor * s_one, rtol=1e-12)
    assert set(SATURATING) == {"nearest", "coverage_ball"}


def test_gain_lower_bound_known_answer():
    """Points 0, 0.5, 10, 20 with rewards (-1, -1, 2, -1), p0 uniform: rbar = -1/4,
    u = (3/16, 3/16, 0, 3/16), v = (0, 0, 9/16, 0). S = {0}, balls of h = 1: c = 1,
    d = (0, 0.5, 10, 20); benefit = 3/16 (1 + 1/2 + 0 + 0) = 9/32 (the far points clip at 0, not
    at 1 - 10 or 1 - 20); the good point lies beyond the ball: collateral 0. The bound 9/32 is
    below G = sum_i (u_i - v_i) s_i = 3/16 + 3/16 = 3/8. Under nearest/gaussian (c = e^{-1/2})
    the benefit is 3/16 (2 - 0.5 e^{-1/2}) and the collateral 9/16 e^{-50}.

    Guards: a bound that forgets the clipping, the envelope or the below/above split.
    """
    a, r = line(0.0, 0.5, 10.0, 20.0), np.array([[-1.0, -1.0, 2.0, -1.0]])
    sel, p0 = np.array([[True, False, False, False]]), np.full((1, 4), 1 / 4)
    bound = gain_lower_bound(r, a, sel, p0, "gaussian", 1.0, "coverage_ball")
    np.testing.assert_allclose(bound, [9 / 32], rtol=1e-12)
    gain = first_order_gain(r, a, sel, p0, "gaussian", 1.0, "coverage_ball")
    np.testing.assert_allclose(gain, [3 / 8], rtol=1e-12)
    near = gain_lower_bound(r, a, sel, p0, "gaussian", 1.0, "nearest")
    expect = 3 / 16 * (2 - 0.5 * math.exp(-0.5)) - 9 / 16 * math.exp(-50.0)
    np.testing.assert_allclose(near, [expect], rtol=1e-12)


def test_registry_and_coverage_constants():
    """c = L_K / h for the kernel models and 1 / h for the balls; unknown names raise ValueError
    naming the registered models. Guards: a ball bound that borrows the kernel's constant."""
    assert get_policy_model("additive").coverage_constant("gaussian", 2.0) == math.exp(-0.5) / 2
    assert get_policy_model("nearest").coverage_constant("laplace", 0.5) == 2.0
    assert get_policy_model("coverage_ball").coverage_constant("gaussian", 2.0) == 0.5
    with pytest.raises(ValueError, match="coverage_ball"):
        get_policy_model("no-such-model")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"p0": np.full((1, 3), 0.5)}, "sum to 1"),
        ({"eta": -1.0}, "eta"),
        ({"bandwidth": 0}, "band"),
        ({"model": "sum"}, "policy model"),
    ],
)
def test_policy_model_rejects_bad_arguments(change, message):
    """A p0 that is not a distribution, eta < 0, bandwidth <= 0 or an unknown model raise
    ValueError. Guards: silently renormalising a wrong p0 into a plausible answer."""
    args = {"distances": np.zeros((1, 3, 3)), "selected": np.ones((1, 3), bool)}
    args |= {"p0": np.full((1, 3), 1 / 3), "eta": 1.0, "kernel": "laplace", "bandwidth": 1.0}
    with pytest.raises(ValueError, match=message):
        policy_after_update(**(args | change))


# --- properties (consequences 1-5 of the module docstring) -----------------------------------


@SETTINGS
@given(policy_cases(), st.floats(0.0, 50.0), st.floats(0.1, 3.0))
def test_update_keeps_a_distribution_and_only_moves_mass_away(case, eta, bandwidth):
    """p' is a distribution on the support of p0; p'_i / p0_i = exp(-eta s_i) / Z, so the ratio
    never increases with s_i, and p'_i >= p0_i exp(-eta s_i) (Z <= 1), for every model.

    Guards: a missing renormalisation, underflow to 0/0 at large eta, or mass moved towards
    the negatives (a sign error in the exponent).
    """
    a, r, sel, p0, kernel, model = case
    p = policy_after_update(a, sel, p0, eta, kernel, bandwidth, model)
    s = suppression(a, sel, kernel, bandwidth, model)
    assert np.all(p >= 0) and np.allclose(p.sum(-1), 1.0, atol=1e-12)
    assert np.all(p[p0 == 0] == 0)
    for m in range(len(p)):
        on = p0[m] > 0
        ratio, sm = p[m, on] / p0[m, on], s[m, on]
        order = np.argsort(sm, kind="stable")
        assert np.all(np.diff(ratio[order]) <= 1e-12 * ratio.max())  # non-increasing in s
    assert np.all(p >= p0 * np.exp(-eta * s) * (1 - 1e-12))
    expected = np.sum(p * r, -1)
    got = expected_reward_after_update(r, a, sel, p0, eta, kernel, bandwidth, model)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@SETTINGS
@given(policy_cases(), st.floats(0.1, 3.0))
def test_first_order_gain_matches_finite_differences(case, bandwidth):
    """d/deta E_{p'}[r] at 0 = -Cov_p0(r, s), checked by a one-sided second-order difference.

    Guards: a sign error or a wrong covariance in the documented first-order consequence.
    """
    a, r, sel, p0, kernel, model = case
    h = 1e-4
    f = [
        expected_reward_after_update(r, a, sel, p0, e, kernel, bandwidth, model)
        for e in (0, h, 2 * h)
    ]
    fd = (-3 * f[0] + 4 * f[1] - f[2]) / (2 * h)
    gain = first_order_gain(r, a, sel, p0, kernel, bandwidth, model)
    np.testing.assert_allclose(gain, fd, atol=1e-6)


@SETTINGS
@given(policy_cases(), st.floats(0.1, 3.0))
def test_coverage_lemma_and_envelope_bracket_the_suppression(case, bandwidth):
    """(1 - c d_i)_+ <= s_i <= n(S) Kbar(d_i / h) pointwise, hence sum_i w_i s_i >= sum_i w_i -
    c Cost_w(S) with AMPO's weights (theorems, every model and kernel).

    Guards: a lemma stated with the wrong kernel constant or bandwidth scaling, or an envelope
    that misses a model's accumulation.
    """
    a, r, sel, _, kernel, model = case
    spec = get_policy_model(model)
    s = suppression(a, sel, kernel, bandwidth, model)
    d = nearest_distance(a, sel)
    c = spec.coverage_constant(kernel, bandwidth)
    assert np.all(s >= np.maximum(1 - c * d, 0.0) - 1e-12)
    assert np.all(s <= spec.envelope(d, sel.sum(-1), kernel, bandwidth) + 1e-12)
    w = coverage_weights(r)
    lhs = np.sum(w * s, -1)
    rhs = suppression_lower_bound(a, w, sel, kernel, bandwidth, model)
    np.testing.assert_allclose(rhs, w.sum(-1) - c * coverage_cost(a, w, sel), rtol=1e-12)
    assert np.all(lhs >= rhs - 1e-12 * np.abs(rhs).max())


@SETTINGS
@given(policy_cases(), st.floats(0.1, 3.0))
def test_gain_lower_bound_holds_and_the_saturating_gain_is_capped(case, bandwidth):
    """G(S) >= sum u (1 - c d)_+ - sum v n(S) Kbar(d / h) for every model (T2 of check 2), and
    G(S) <= sum_i u_i, the below-average mass, for the saturating models.

    Guards: a bound with the collateral term's sign flipped or its envelope too small.
    """
    a, r, sel, p0, kernel, model = case
    g = first_order_gain(r, a, sel, p0, kernel, bandwidth, model)
    bound = gain_lower_bound(r, a, sel, p0, kernel, bandwidth, model)
    assert np.all(g >= bound - 1e-12 * (1 + np.abs(bound)))
    if model in SATURATING:
        rbar = np.sum(p0 * r, -1, keepdims=True)
        assert np.all(g <= np.sum(p0 * np.maximum(rbar - r, 0), -1) + 1e-12)


@SETTINGS
@given(policy_cases(), st.floats(0.1, 3.0), st.integers(0, 2**32 - 1))
def test_suppression_is_monotone_and_saturating_models_are_submodular(case, bandwidth, seed):
    """S ⊆ T implies s(S) <= s(T) (every model). For a >= 0 and e outside T, F(X) =
    sum_i a_i s_i(X) gains at least as much from e on S as on T (submodular: nearest, balls)
    and exactly as much (modular: additive); saturating suppressions lie in [0, 1], and adding a
    copy of a selected point changes nothing.

    Guards: the diminishing returns the coverage models are meant to have (or a model that
    lost them), e.g. a `nearest` implemented as a sum.
    """
    a, _, big, _, kernel, model = case
    rng = np.random.default_rng(seed)
    small = big & (rng.random(big.shape) < 0.5)  # S ⊆ T, possibly empty
    e = np.argmin(big, axis=1)  # a point outside T, if any
    outside = ~big[np.arange(len(e)), e]
    add = np.zeros_like(big)
    add[np.arange(len(e)), e] = outside

    def s(x):
        return suppression(a, x, kernel, bandwidth, model)

    assert np.all(s(small) <= s(big) + 1e-12)
    w = rng.exponential(size=big.shape)
    gain_small = np.sum(w * (s(small | add) - s(small)), -1)
    gain_big = np.sum(w * (s(big | add) - s(big)), -1)
    if model in SATURATING:
        assert np.all(gain_small >= gain_big - 1e-12) and np.all(s(big) <= 1.0)
        copy = np.concatenate([a, a[:, :, :1]], axis=2)  # point N duplicates point 0 (in S)
        copy = np.concatenate([copy, copy[:, :1, :]], axis=1)
        copy[:, -1, -1] = 0.0
        with_copy = np.concatenate([big, np.ones((len(big), 1), bool)], axis=1)
        s_copy = suppression(copy, with_copy, kernel, bandwidth, model)[:, :-1]
        np.testing.assert_allclose(s_copy, s(big), rtol=1e-12)
    else:
        np.testing.assert_allclose(gain_small, gain_big, rtol=1e-9, atol=1e-12)
