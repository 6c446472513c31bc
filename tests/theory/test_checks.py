"""Tests of theory/checks: every check runs on tiny sizes with a well-formed result, the theorem
checks PASS, and the checker can FAIL (a deliberately violated inequality is reported)."""

import dataclasses
import json

import numpy as np
import pytest

from selection import strategy_names
from theory.__main__ import main
from theory.checks import (
    CHECKS,
    CheckResult,
    Verdict,
    definitions,
    get_check,
    group_objective,
    lipschitz,
    local_search,
    policy,
    reference,
)
from theory.checks.instances import LandscapeSpec, as_mask
from theory.checks.registry import Statement, assess, violations

SMALL = LandscapeSpec(n_points=12, dim=4, n_islands=3)
# Tiny configurations (each under a few seconds on 2 cores), derived from the registered defaults.
TINY = {
    "lipschitz_coverage": {"instances": 16, "n_points": 12},
    "policy_expected_reward": {"instances": 3, "k": 4, "bandwidth_sweep": ()},
    "local_search_ratio": {
        "instances": 6,
        "k": 4,
        "landscape": SMALL,
        "small_instances": 4,
        "min_fraction_optimal": 0.0,
        "max_p99_ratio": 5.0,
    },
    "selection_definitions": {"instances": 12, "landscape": SMALL, "k": 4},
    "mpo_bias_rate": {"instances": 2000, "group_sizes": (4, 16, 64, 256), "bootstrap": 50},
    "mpo_partition_reliability": {"instances": 2000, "sizes": (2, 8, 32)},
    "island_coverage": {"instances": 60},
}
THEOREMS = (
    "lipschitz_coverage",
    "policy_expected_reward",
    "local_search_ratio",
    "selection_definitions",
)


def tiny(name):
    check = get_check(name)
    return dataclasses.replace(check.config(), **TINY[name])


def test_every_check_has_a_tiny_configuration():
    assert set(TINY) == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_result_structure(name):
    """A result names its claim and formalisation, counts instances, is JSON-serialisable.

    Guards: a check that returns a bare bool, or details numpy cannot write as JSON.
    """
    res = get_check(name).run(tiny(name), seed=1)
    assert isinstance(res, CheckResult) and res.name == name
    assert res.claim and res.formalisation and res.instances > 0
    assert np.isfinite(res.worst_slack)
    assert res.verdict is (Verdict.PASS if res.passed else Verdict.FAIL)
    assert res.passed == (res.worst_slack >= 0 or not res.details.get("violations"))
    json.dumps(res.to_json(), allow_nan=False)


@pytest.mark.parametrize("name", THEOREMS)
def test_theorem_checks_pass(name):
    """Theorems (coverage inequality, policy-model bounds, 5-approximation) never fail."""
    res = get_check(name).run(tiny(name), seed=2)
    assert res.passed and res.worst_slack >= -1e-9 and not res.details["violations"]


def test_violated_inequality_is_reported_as_fail(monkeypatch):
    """Shrinking the Lipschitz side of check 1 a hundredfold (a false inequality) must be reported FAIL with the
    seed and instance of the violations, so the checker is able to fail."""
    original = lipschitz.coverage_sides

    def shrunk(*args):
        lhs, cost = original(*args)
        return lhs, 0.01 * cost  # claims sum w |r_i - r_sigma(i)| <= 0.01 L Cost: false

    monkeypatch.setattr(lipschitz, "coverage_sides", shrunk)
    res = get_check("lipschitz_coverage").run(tiny("lipschitz_coverage"), seed=3)
    assert not res.passed and res.verdict is Verdict.FAIL and res.worst_slack < 0
    bad = res.details["violations"][0]
    assert bad["seed"] >= 3 and bad["instance"] >= 0 and bad["slack"] < 0


def test_violations_known_answer():
    """slack (-1, 0, -1e-12, 2) at scale 1: only the first is beyond the 1e-9 tolerance."""
    found = violations(np.array([-1.0, 0.0, -1e-12, 2.0]), np.ones(4), seed=5, label="x")
    assert found == [{"seed": 5, "instance": 0, "slack": -1.0, "label": "x"}]


def test_coverage_sides_known_answer():
    """Points 0, 1, 3 on a line, rewards 0, 2, 3, S = {point 0}, unit weights:
    sigma = (0, 0, 0); lhs = 0 + 2 + 3 = 5; Cost = 0 + 1 + 3 = 4; so L >= 5/4 is needed and the
    reward's true constant (slope 2 between points 0 and 1) gives 8 >= 5."""
    x = np.array([0.0, 1.0, 3.0])
    dist = np.abs(x[:, None] - x[None, :])[None]
    lhs, cost = lipschitz.coverage_sides(
        dist, np.array([[0.0, 2.0, 3.0]]), np.ones((1, 3)), np.array([[True, False, False]])
    )
    assert lhs.tolist() == [5.0] and cost.tolist() == [4.0]


def test_group_margin_known_answer():
    """Rewards (0, 1, 2, 5): mean 2, accepted {5}, rejected {0, 1, 2}: T = 5 - 1 = 4.
    All-equal rewards have no accepted response: T = 0."""
    t = group_objective.group_margins(np.array([[0.0, 1.0, 2.0, 5.0], [1.0, 1.0, 1.0, 1.0]]))
    assert t.tolist() == [4.0, 0.0]


def test_reliability_bounds_known_answers():
    """n = 2, noise = 1/sqrt(2): ranking and partition coincide; the ceiling is Phi(1) = 0.8413
    and the floor 1 - 2 Phibar(0.5 / (0.7071 * 0.7071)) = 1 - 2 Phibar(1) = 0.6827."""
    noise = 1 / np.sqrt(2)
    assert group_objective.ranking_ceiling(2, noise) == pytest.approx(0.841344746)
    assert group_objective.partition_floor(2, noise) == pytest.approx(0.682689492)
    assert group_objective.partition_floor_uniform(0.5) < group_objective.partition_floor(64, 0.5)


def test_loglog_slope_recovers_a_power_law():
    k = np.array([4.0, 16.0, 64.0])
    assert group_objective.loglog_slope(k, 3.0 * k**-0.5) == pytest.approx(-0.5)


def test_policy_findings_cover_every_rule_model_and_family():
    """Check 2 measures every fixed-k rule and the ILP under every model on every family, with
    one generated sentence per (family, model). Guards: a rule, model or family silently dropped."""
    res = get_check("policy_expected_reward").run(tiny("policy_expected_reward"), seed=4)
    table, rules = res.details["table"], {*policy.fixed_k_strategies(), "exact_ilp"}
    assert set(table) == set(policy.FAMILIES) and "best_worst" not in rules
    for per_model in table.values():
        assert set(per_model) == set(policy.POLICY_MODELS)
        assert all(set(cells) == rules for cells in per_model.values())
    assert len(res.details["summary"]) == len(policy.FAMILIES) * len(policy.POLICY_MODELS)


def test_local_search_ratios_are_at_least_one():
    found = local_search.ratios(tiny("local_search_ratio"), seed=6)
    assert set(found) == {"greedy", "random"}
    for ratio in found.values():
        assert np.all(ratio >= 1 - 1e-9)


def test_check_3_fails_when_the_heuristic_is_not_a_local_optimum(monkeypatch):
    """Medoids that are not swap-optimal (the greedy build without its swap phase would be) must
    FAIL check 3 through the re-evaluation of every swap, whatever the search's own counters say:
    here the 'local optima' are replaced by the k - 1 highest-reward candidates."""

    def worst_sets(p, k, seed, max_swaps):
        keyed = np.where(p.candidates, -p.rewards, np.inf)
        top = np.argsort(keyed, axis=1)[:, : k - 1]
        return {"greedy": as_mask(top, p.w.shape[1])}

    monkeypatch.setattr(local_search, "local_optima", worst_sets)
    res = get_check("local_search_ratio").run(tiny("local_search_ratio"), seed=7)
    failed = {v["statement"] for v in res.details["violations"]}
    assert not res.passed and "greedy: local optimum (every swap re-evaluated)" in failed
    assert res.worst_slack < 0


def test_check_3_quality_criteria_fail_on_a_suboptimal_heuristic(monkeypatch):
    """The calibrated criteria (fraction optimal, p99 ratio) catch a heuristic that is a local
    optimum of the wrong objective, while the 5-approximation alone would not: the weighted
    k-medoids search run on squared instead of Euclidean distances."""
    original = local_search.local_optima

    def squared(p, k, seed, max_swaps):
        from selection.kmedoids import kmedoids

        w = p.w / p.w.max(axis=1, keepdims=True)
        found = kmedoids(p.dist**2, w, p.candidates, k - 1, None, max_swaps)
        return {"greedy": as_mask(np.asarray(found.medoids), p.w.shape[1])}

    cfg = dataclasses.replace(
        get_check("local_search_ratio").config(), instances=60, small_instances=0
    )
    assert get_check("local_search_ratio").run(cfg, seed=0).passed  # the real heuristic passes
    monkeypatch.setattr(local_search, "local_optima", squared)
    res = get_check("local_search_ratio").run(cfg, seed=0)
    failed = {v["statement"] for v in res.details["violations"]}
    assert not res.passed and "greedy: fraction optimal >= 0.8" in failed
    monkeypatch.setattr(local_search, "local_optima", original)


def test_assess_takes_the_worst_slack_over_every_statement():
    """Statement a holds with slack 0.5, statement b fails with -2 on its second instance: the
    worst slack is -2 (not a's 0.5), each statement keeps its own, and the violation names b."""
    worst, by_statement, bad = assess(
        [Statement("a", np.array([0.5, 1.0])), Statement("b", np.array([3.0, -2.0]))], seed=9
    )
    assert worst == -2.0 and by_statement == {"a": 0.5, "b": -2.0}
    assert bad == [{"seed": 9, "instance": 1, "slack": -2.0, "statement": "b"}]


def test_reference_quantities_known_answers():
    """Points 0, 1, 3 on a line, rewards 0, 2, 3 (mean 5/3): w = exp(5/3 - r) =
    (5.294, 0.7165, 0.2636). S = {0}: Cost = 0.7165 * 1 + 0.2636 * 3 = 1.5073. Best swap: S = {1}
    gives 5.294 * 1 + 0.2636 * 2 = 5.8212, S = {2}: 5.294 * 3 + 0.7165 * 2 = 17.31. The optimum of
    one medoid is {0}."""
    x = np.array([[[0.0], [1.0], [3.0]]])
    dist = reference.distances(x)
    assert dist[0].tolist() == [[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]]
    w = reference.weights(np.array([[0.0, 2.0, 3.0]]), np.ones((1, 3), dtype=bool))
    np.testing.assert_allclose(w[0], np.exp(5 / 3 - np.array([0.0, 2.0, 3.0])))
    s = np.array([[True, False, False]])
    c = reference.cost(dist, w, s)
    np.testing.assert_allclose(c, w[0, 1] + 3 * w[0, 2])
    np.testing.assert_allclose(
        reference.best_swap_cost(dist, w, s, np.ones((1, 3), dtype=bool)), w[0, 0] + 2 * w[0, 2]
    )
    chosen, best = reference.optimum_by_enumeration(dist[0], w[0], np.ones(3, dtype=bool), 1)
    assert chosen.tolist() == [True, False, False] and best == pytest.approx(c[0])


def test_every_strategy_has_a_definition_and_a_wrong_one_fails(monkeypatch):
    """Check 6 covers every registered strategy, and a definition that disagrees with the
    implementation (Bottom-k defined as the k - 1 highest rewards) is reported FAIL."""
    assert {definitions.strategy_of(key) for key in definitions.DEFINITIONS} == set(
        strategy_names()
    )
    res = get_check("selection_definitions").run(tiny("selection_definitions"), seed=3)
    assert res.passed and all(
        v == 0 for v in res.details["fraction_differing_from_definition"].values()
    )
    wrong = definitions.Definition(lambda pools, k, seed: definitions.ref_top_k(pools, k, seed))
    monkeypatch.setitem(definitions.DEFINITIONS, "ampo_bottomk", wrong)
    res = get_check("selection_definitions").run(tiny("selection_definitions"), seed=3)
    assert not res.passed
    assert res.details["worst_slack_by_statement"]["ampo_bottomk: equals its definition"] < 0


def test_cli_writes_reports(tmp_path, capsys):
    """`python -m theory check NAME --instances N --out DIR` prints PASS/FAIL and writes JSON."""
    rc = main(["check", "mpo_partition_reliability", "--instances", "500", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0 and "[PASS] mpo_partition_reliability" in out
    bounds = json.loads((tmp_path / "bounds.json").read_text())
    assert bounds["checks"] == {"mpo_partition_reliability": "PASS"} and bounds["versions"]
    one = json.loads((tmp_path / "mpo_partition_reliability.json").read_text())
    assert one["instances"] == 500 * 9 and one["config"]["instances"] == 500


def test_policy_config_validates():
    with pytest.raises(ValueError):
        policy.PolicyConfig(bandwidth=0.0)
