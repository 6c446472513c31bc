"""Tests of check 2 (theory/checks/policy.py): its reference values, its findings, and that it
FAILS when the code it checks is broken (each bug injected on a tiny configuration)."""

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory.landscapes as landscapes
from selection import coverage_weights
from theory.checks import get_check, policy
from theory.checks import policy_findings as found
from theory.checks import policy_reference as ref
from theory.checks.instances import EXACT, selections
from theory.landscapes import KERNELS, pairwise_distances
from theory.policy_model import POLICY_MODELS, first_order_gain, policy_after_update, suppression

SETTINGS = settings(derandomize=True, max_examples=40, deadline=None)
# One family, two pools, all models and rules: well under a second.
TINY = {"instances": 2, "k": 4, "families": ("mistake_cluster",), "bandwidth_sweep": ()}


def run(seed=0, **overrides):
    return get_check(policy.NAME).run(None, seed, **(TINY | overrides))


def failed_statements(res) -> set[str]:
    return {v["statement"] for v in res.details["violations"]}


# --- the reference values -------------------------------------------------------------------


def test_reference_known_answers():
    """3-4-5 triangle: A_01 = 3, A_02 = 4, A_12 = 5. Rewards (0, 1, 2), clients {0, 1}: rbar =
    1/2, w ∝ (e^{1/2}, e^{-1/2}) -> (1, e^{-1}, 0). S = {0}: d = (0, 3, 4), Cost = e^{-1} 3.
    Triangular kernel, h = 4: additive = nearest = (1, 1/4, 0); balls (1, 1, 1).

    Guards: a reference that is itself wrong (sign of the weights, farthest point, ball edge).
    """
    pts = np.array([[[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]])
    a = ref.distances(pts)
    np.testing.assert_allclose(a[0], [[0, 3, 4], [3, 0, 5], [4, 5, 0]])
    w = ref.ampo_weights(np.array([[0.0, 1.0, 2.0]]), np.array([[True, True, False]]))
    np.testing.assert_allclose(w, [[1.0, math.exp(-1.0), 0.0]])
    sel = np.array([[True, False, False]])
    d = ref.nearest(a, sel)
    np.testing.assert_allclose(d, [[0.0, 3.0, 4.0]])
    np.testing.assert_allclose(ref.cost(w, d), [3 * math.exp(-1.0)])
    for model, s in {"additive": 0.25, "nearest": 0.25, "coverage_ball": 1.0}.items():
        expect = [[1.0, s, 0.0 if model != "coverage_ball" else 1.0]]
        np.testing.assert_allclose(ref.suppression(model, a, sel, "triangular", 4.0), expect)
    assert set(ref.MODELS) == set(POLICY_MODELS) and set(ref.KERNELS) == set(KERNELS)


@SETTINGS
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(sorted(POLICY_MODELS)),
    st.sampled_from(sorted(KERNELS)),
    st.floats(0.2, 3.0),
)
def test_package_equals_the_reference(seed, model, kernel, h):
    """The package's distances, weights, suppressions, updates and first-order gains equal the
    reference formulas on random pools, for every model and kernel (check 2's (R), made a test).

    Guards: any of the bugs check 2 is built to catch, on inputs beyond the check's families.
    """
    rng = np.random.default_rng(seed)
    pts, r = rng.standard_normal((3, 9, 4)), rng.standard_normal((3, 9))
    sel = rng.random((3, 9)) < 0.4
    sel[:, 1] = True
    clients = np.ones((3, 9), bool)
    clients[:, 0] = False
    a = pairwise_distances(pts)
    np.testing.assert_allclose(a, ref.distances(pts), atol=1e-12)
    np.testing.assert_allclose(coverage_weights(r, clients), ref.ampo_weights(r, clients))
    s = ref.suppression(model, a, sel, kernel, h)
    np.testing.assert_allclose(suppression(a, sel, kernel, h, model), s, atol=1e-14)
    p0 = np.full((3, 9), 1 / 9)
    p = policy_after_update(a, sel, p0, 0.7, kernel, h, model)
    np.testing.assert_allclose(p, ref.update(p0, s, 0.7), rtol=1e-12)
    g = np.sum(p0 * (r.mean(1, keepdims=True) - r) * s, axis=1)
    np.testing.assert_allclose(first_order_gain(r, a, sel, p0, kernel, h, model), g, atol=1e-14)


# --- the check ------------------------------------------------------------------------------


def test_tiny_run_passes_and_reports_what_it_compares():
    """Every statement is reported with its worst slack, every compared quantity with its largest
    package-vs-reference difference (0 up to rounding), and worst_slack is their minimum.

    Guards: a check that reports a pass bit without the quantities behind it.
    """
    res = run()
    assert res.passed and not res.details["violations"]
    worst = res.details["worst_relative_slack_by_statement"]
    assert {"T1:coverage_lemma", "T2:gain_bound", "T3:ilp_cost", "D:finite_difference"} <= set(
        worst
    )
    assert {"R:weights", "R:coverage_cost", "R:update", "R:kernel_lipschitz"} <= set(worst)
    assert res.worst_slack == min(worst.values())
    assert max(res.details["max_relative_difference_from_reference"].values()) < 1e-12


def far_cost(distances, weights, selected):
    """Cost with the farthest selected point instead of the nearest (a deliberate bug)."""
    far = np.max(np.where(selected[:, None, :], distances, -np.inf), axis=-1)
    return np.sum(np.where(weights > 0, weights * far, 0.0), axis=-1)


def wrong_sign_update(distances, selected, p0, eta, kernel, bandwidth, model):
    """p_i exp(+eta s_i) / Z (a deliberate bug)."""
    q = p0 * np.exp(eta * suppression(distances, selected, kernel, bandwidth, model))
    return q / q.sum(-1, keepdims=True)


def farthest_nearest(distances, selected, kernel, bandwidth):
    """`nearest` with the farthest selected negative (a deliberate bug)."""
    far = np.max(np.where(selected[:, None, :], distances, -np.inf), axis=-1)
    return kernel.profile(far / bandwidth)


def ilp_with_the_positive(*args, **kwargs):
    """Selections whose ILP answer swaps a negative for the positive (outside the candidates)."""
    out = selections(*args, **kwargs)
    neg = out[EXACT].negatives.copy()
    rows = np.arange(len(neg))
    neg[rows, np.argmax(neg, axis=1)] = False
    neg[rows, out[EXACT].positive] = True
    return out | {EXACT: dataclasses.replace(out[EXACT], negatives=neg)}


BUGS = {  # name -> (patch(monkeypatch), a statement that must fail)
    "weights_sign_flipped": (
        lambda mp: mp.setattr(
            policy, "ampo_weights", lambda land: coverage_weights(-land.rewards, land.without_best)
        ),
        "R:weights",
    ),
    "cost_farthest": (lambda mp: mp.setattr(policy, "coverage_cost", far_cost), "R:coverage_cost"),
    "update_wrong_sign": (
        lambda mp: mp.setattr(policy, "policy_after_update", wrong_sign_update),
        "R:update",
    ),
    "kernel_lipschitz_wrong": (
        lambda mp: mp.setitem(
            landscapes.KERNELS,
            "gaussian",
            dataclasses.replace(KERNELS["gaussian"], lipschitz=math.exp(-1.0)),
        ),
        "R:kernel_lipschitz",
    ),
    "nearest_uses_max_distance": (
        lambda mp: mp.setitem(
            POLICY_MODELS,
            "nearest",
            dataclasses.replace(POLICY_MODELS["nearest"], suppress=farthest_nearest),
        ),
        "R:suppression",
    ),
    "ilp_outside_candidates": (
        lambda mp: mp.setattr(policy, "selections", ilp_with_the_positive),
        "T3:ilp_in_candidates",
    ),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_check_fails_on_each_injected_bug(bug, monkeypatch):
    """Each bug of the list makes check 2 FAIL, naming the statement that caught it, with a
    negative worst_slack. Guards: a check whose references share code with what it checks."""
    patch, statement = BUGS[bug]
    patch(monkeypatch)
    res = run()
    assert not res.passed and res.worst_slack < 0
    assert statement in failed_statements(res)
    bad = res.details["violations"][0]
    assert bad["seed"] == 0 and bad["instance"] >= 0 and bad["slack"] < 0


def test_ledger_records_the_worst_slack_and_caps_violations():
    """slack (-2, 1) at scale 1 then (0.5,) at scale 2: worst relative slack -2; NaN never agrees;
    at most VIOLATIONS_PER_STATEMENT violations are kept per statement."""
    ledger = policy.Ledger(seed=3)
    ledger.add("x", np.array([-2.0, 1.0]), 1.0)
    ledger.add("x", np.array([0.5]), 2.0)
    assert ledger.worst == {"x": -2.0} and ledger.violations[0]["instance"] == 0
    ledger.agree("q", np.array([[np.nan, 0.0]]), np.array([[0.0, 0.0]]))
    assert ledger.worst["R:q"] == -np.inf and ledger.max_diff["q"] == np.inf
    ledger.add("y", -np.ones(10), 1.0)
    assert len([v for v in ledger.violations if v["statement"] == "y"]) == (
        policy.VIOLATIONS_PER_STATEMENT
    )


def test_policy_config_rejects_unknown_names():
    """Unknown family, model, kernel or baseline: ValueError naming the argument."""
    for bad, match in (
        ({"families": ("no-such",)}, "family"),
        ({"models": ("no-such",)}, "policy model"),
        ({"kernel": "no-such"}, "kernel"),
        ({"baseline": "best_worst"}, "baseline"),
        ({"bandwidth_sweep": (0.0,)}, "bandwidth"),
    ):
        with pytest.raises(ValueError, match=match):
            policy.PolicyConfig(**bad)


# --- findings -------------------------------------------------------------------------------


def test_mean_ci_and_paired_known_answers():
    """x = (1, 2, 3): mean 2, sd 1, se 1/sqrt 3, CI 2 ± 1.95996 x 0.57735 = [0.86841, 3.13159] (± 1.13159).
    a - b = (1, -1, 3) -> mean 1, a > b on 2 of 3 pools. One value: a zero-width CI."""
    cell = found.mean_ci(np.array([1.0, 2.0, 3.0]))
    assert cell["mean"] == 2.0 and cell["ci95"] == pytest.approx([0.868414, 3.131586], abs=1e-6)
    diff = found.paired(np.array([2.0, 0.0, 4.0]), np.array([1.0, 1.0, 1.0]))
    assert diff["mean"] == 1.0 and diff["fraction_better"] == pytest.approx(2 / 3)
    assert found.mean_ci(np.array([5.0]))["ci95"] == [5.0, 5.0]


def test_sentence_and_winners():
    """The sentence names the rule with the highest mean and says beats / loses to / ties with
    from the sign of the paired CI; ties count as best for every tied rule."""
    gains = {"a": {"mean": 0.5, "ci95": [0.4, 0.6]}, "b": {"mean": 0.2, "ci95": [0.1, 0.3]}}
    comps = {
        "a - b": {"mean": 0.3, "ci95": [0.2, 0.4]},
        "c - b": {"mean": -0.1, "ci95": [-0.2, -0.05]},
        "d - b": {"mean": 0.0, "ci95": [-0.1, 0.1]},
    }
    text = found.sentence("fam", "mod", gains, comps, "b")
    assert text.startswith("fam / mod: a has the highest mean gain +0.500")
    assert "a beats b" in text and "c loses to b" in text and "d ties with b" in text
    best = found.winners(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]]), ["x", "y", "z"])
    assert best == {"x": 0.5, "y": 1.0, "z": 0.0}
