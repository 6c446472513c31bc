"""Tests of theory/ilp.py: the exact p-median program of AMPO-OptSelect against oracles."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import theory.ilp as ilp
from selection.objective import coverage_cost
from theory.ilp import brute_force_pmedian, lp_lower_bound, solve_pmedian
from theory.landscapes import pairwise_distances

SETTINGS = settings(
    derandomize=True, max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
REL = 1e-6


@st.composite
def instances(draw, max_n=10, max_k=4):
    """A random p-median instance: (A (N,N), w (N,), k, candidates (N,) bool, forced (N,) bool).

    Half of the instances put the points on a small integer grid with integer weights, so that
    ties between optimal sets are common; the others are continuous (ties have probability 0).
    """
    n = draw(st.integers(2, max_n))
    k = draw(st.integers(1, min(max_k, n)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        points = rng.integers(0, 4, size=(n, 2)).astype(float)
        w = rng.integers(0, 3, size=n).astype(float)
    else:
        points = rng.standard_normal((n, draw(st.integers(1, 3))))
        w = rng.exponential(size=n)
    cand = np.ones(n, dtype=bool)
    if draw(st.booleans()):  # a candidate mask with at least k candidates
        cand = rng.random(n) < 0.7
        cand[rng.choice(n, size=k, replace=False)] = True
    forced = np.zeros(n, dtype=bool)
    if draw(st.booleans()):  # pin up to k - 1 candidates
        n_forced = int(rng.integers(0, k))
        forced[rng.choice(np.flatnonzero(cand), size=n_forced, replace=False)] = True
    return pairwise_distances(points), w, k, cand, forced


def _all_costs(a, w, k, cand, forced):
    """Cost of every admissible subset, by the most naive enumeration: {frozenset: cost}."""
    out = {}
    for s in itertools.combinations(np.flatnonzero(cand).tolist(), k):
        if set(np.flatnonzero(forced)) <= set(s):
            mask = np.zeros(len(w), dtype=bool)
            mask[list(s)] = True
            out[frozenset(s)] = float(coverage_cost(a, w, mask))
    return out


@SETTINGS
@given(instances())
def test_ilp_equals_brute_force(inst):
    """The MILP optimum equals the brute-force optimum; the sets agree when the optimum is unique.

    Guards: a wrong formulation (missing assignment or linking constraint, candidate or forced masks
    ignored, zero-weight clients mishandled), a loose MIP gap, and a brute force that skips subsets.
    """
    a, w, k, cand, forced = inst
    sol = solve_pmedian(a, w, k, candidates=cand, forced=forced)
    bf_sel, bf_cost = brute_force_pmedian(a, w, k, candidates=cand, forced=forced)
    costs = _all_costs(a, w, k, cand, forced)
    best = min(costs.values())
    assert bf_cost == pytest.approx(best, rel=1e-12, abs=1e-12)
    assert sol.cost == pytest.approx(bf_cost, rel=REL, abs=1e-9)
    assert sol.selected.shape == (k,) and np.all(np.diff(sol.selected) > 0)
    assert np.all(cand[sol.selected]) and np.all(np.isin(np.flatnonzero(forced), sol.selected))
    optimal = [s for s, c in costs.items() if c <= best + 1e-9 * max(1.0, best)]
    if len(optimal) == 1:
        assert set(sol.selected.tolist()) == set(optimal[0]) == set(bf_sel.tolist())
    assert sol.status == "optimal" and sol.gap <= 1e-6


@SETTINGS
@given(instances(max_n=12, max_k=5))
def test_lp_bound_below_ilp_and_objective_is_coverage_cost(inst):
    """LP relaxation <= MILP optimum, and the solver's objective equals `coverage_cost` of S.

    Guards: a relaxation that is not a relaxation (e.g. a missing or extra constraint), and an
    assignment z that does not send each client to its nearest selected medoid.
    """
    a, w, k, cand, forced = inst
    sol = solve_pmedian(a, w, k, candidates=cand, forced=forced)
    lower = lp_lower_bound(a, w, k, candidates=cand, forced=forced)
    mask = np.zeros(len(w), dtype=bool)
    mask[sol.selected] = True
    assert sol.objective == pytest.approx(float(coverage_cost(a, w, mask)), rel=REL, abs=1e-9)
    assert lower <= sol.cost + 1e-7 * max(1.0, sol.cost)
    assert lower >= -1e-9


def test_lp_relaxation_has_a_gap_on_a_known_instance():
    """A 4-cycle 0-1-2-3-0 plus an isolated point 4 (graph metric: 1 on edges, 2 elsewhere), k = 2.

    MILP: every pair costs 4, e.g. {4, 0}: clients 1 and 3 at 1, client 2 at 2 (1 + 1 + 2 = 4);
    {0, 2}: clients 1, 3 at 1 and client 4 at 2 (= 4); {0, 1}: 1 + 1 + 2 = 4.
    LP: y_4 = 2/3 and y_j = 1/3 on the cycle (sum 2). A cycle client takes 1/3 from itself and 2/3
    from its two neighbours at distance 1 (cost 2/3); client 4 takes 2/3 from itself and 1/3 at
    distance 2 (cost 2/3): 5 * 2/3 = 10/3, and no fractional point does better.
    Guards: a "relaxation" that silently keeps the boolean variables (then LP == MILP always).
    """
    a = 2.0 * (1.0 - np.eye(5))
    for i, j in ((0, 1), (1, 2), (2, 3), (3, 0)):
        a[i, j] = a[j, i] = 1.0
    w = np.ones(5)
    assert solve_pmedian(a, w, 2).cost == pytest.approx(4.0, rel=1e-9)
    assert brute_force_pmedian(a, w, 2)[1] == pytest.approx(4.0, rel=1e-12)
    assert lp_lower_bound(a, w, 2) == pytest.approx(10.0 / 3.0, rel=1e-7)


# Points on a line at 0, 1, 2, 10, 11, 12 (indices 0..5); point 5 weighs 5, the others 1.
LINE = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
LINE_A = np.abs(LINE[:, None] - LINE[None, :])
LINE_W = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 5.0])


@pytest.mark.parametrize(
    ("candidates", "forced", "expected", "cost"),
    [
        # {1, 5}: 0->1 costs 1, 2->1 costs 1, 10->12 costs 2, 11->12 costs 1: 1+1+2+1 = 5.
        # Runner-up {1, 4}: 1+1+1 + 5*1 = 8; {0, 5}: 1+2+2+1 = 6; {2, 5}: 2+1+2+1 = 6.
        (None, None, [1, 5], 5.0),
        # Medoid 5 excluded: {1, 4} costs 1+1+1 + 5*|12-11| = 8; {2, 4}: 2+1+1+5 = 9.
        (np.array([1, 1, 1, 1, 1, 0], bool), None, [1, 4], 8.0),
        # Medoid 0 pinned: {0, 5} costs 1+2+2+1 = 6; {0, 4}: 1+2+1+5 = 9.
        (None, [0], [0, 5], 6.0),
    ],
)
def test_known_answer_on_a_line(candidates, forced, expected, cost):
    """Hand-worked weighted 2-median on a line (arithmetic in the parameters' comments).

    Guards: ignoring the weights (unweighted optimum would be {1, 4}), the candidate mask, or
    the forced medoids; the brute force and the LP bound are checked on the same instance.
    """
    sol = solve_pmedian(LINE_A, LINE_W, 2, candidates=candidates, forced=forced)
    assert sol.selected.tolist() == expected
    assert sol.cost == pytest.approx(cost, rel=1e-9)
    bf_sel, bf_cost = brute_force_pmedian(LINE_A, LINE_W, 2, candidates=candidates, forced=forced)
    assert bf_sel.tolist() == expected and bf_cost == pytest.approx(cost, rel=1e-12)
    assert lp_lower_bound(LINE_A, LINE_W, 2, candidates=candidates, forced=forced) <= cost + 1e-7


def test_zero_weight_clients_do_not_count():
    """Setting the positive's weight to 0 and removing it from candidates = the pool without it.

    Guards: a zero-weight client still constraining or paying in the program.
    """
    rng = np.random.default_rng(3)
    a = pairwise_distances(rng.standard_normal((9, 2)))
    w = rng.exponential(size=9)
    w0, cand = w.copy(), np.ones(9, dtype=bool)
    w0[4], cand[4] = 0.0, False
    full = solve_pmedian(a, w0, 3, candidates=cand)
    keep = np.flatnonzero(cand)
    sub = solve_pmedian(a[np.ix_(keep, keep)], w[keep], 3)
    assert full.cost == pytest.approx(sub.cost, rel=REL)
    assert full.selected.tolist() == keep[sub.selected].tolist()


def test_solution_fields_and_second_solver_agrees():
    """HIGHS and SCIPY (both installed) give the same optimum, each with a solver-reported gap.

    Guards: option mapping errors in the fallback path and a gap read from the wrong field.
    """
    rng = np.random.default_rng(7)
    a = pairwise_distances(rng.standard_normal((20, 3)))
    w = rng.exponential(size=20)
    first = solve_pmedian(a, w, 5, solver="HIGHS", time_limit=30)
    second = solve_pmedian(a, w, 5, solver="SCIPY", time_limit=30)
    assert first.cost == pytest.approx(second.cost, rel=REL)
    for sol, name in ((first, "HIGHS"), (second, "SCIPY")):
        assert sol.solver == name and sol.gap_source == "solver" and 0 <= sol.gap <= 1e-6
        assert sol.selected.dtype == np.int64 and sol.solve_time > 0


def test_gap_falls_back_to_the_lp_bound(monkeypatch):
    """Without a solver-reported dual bound the gap comes from the LP relaxation, and says so.

    Guards: a crash or a silently zero gap for solvers whose statistics carry no bound.
    """
    monkeypatch.setattr(ilp, "_solver_lower_bound", lambda problem: None)
    a, w = LINE_A, LINE_W
    sol = solve_pmedian(a, w, 2)
    lower = lp_lower_bound(a, w, 2)
    assert sol.gap_source == "lp_relaxation"
    assert sol.gap == pytest.approx(max(0.0, sol.objective - lower) / sol.objective, abs=1e-9)


def test_no_milp_solver_gives_a_clear_error(monkeypatch):
    """With no MILP solver installed, a RuntimeError names the package to install.

    Guards: an opaque cvxpy error (or a silent LP solve) when HiGHS is missing.
    """
    monkeypatch.setattr(ilp.cp, "installed_solvers", lambda: ["CLARABEL"])
    with pytest.raises(RuntimeError, match="highspy"):
        solve_pmedian(LINE_A, LINE_W, 2)
    with pytest.raises(ValueError, match="not installed"):
        solve_pmedian(LINE_A, LINE_W, 2, solver="HIGHS")


def _bad(**change):
    args = {"distances": LINE_A, "weights": LINE_W, "k": 2}
    return args | change


ASYMMETRIC = LINE_A.copy()
ASYMMETRIC[0, 1] += 0.5


@pytest.mark.parametrize("fn", [solve_pmedian, lp_lower_bound, brute_force_pmedian])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_bad(k=7), "1 <= k <= N"),
        (_bad(k=0), "1 <= k <= N"),
        (_bad(k=2.0), "integer"),
        (_bad(weights=np.array([1.0, np.nan, 1, 1, 1, 1])), "finite"),
        (_bad(weights=np.array([1.0, -1.0, 1, 1, 1, 1])), "non-negative"),
        (_bad(weights=np.ones(5)), "shape"),
        (_bad(distances=LINE_A[:, :5]), "square"),
        (_bad(distances=ASYMMETRIC), "symmetric"),
        (_bad(distances=-LINE_A), "non-negative"),
        (_bad(distances=LINE_A + 1.0), "zero diagonal"),
        (_bad(distances=np.where(LINE_A > 5, np.nan, LINE_A)), "finite"),
        ({**_bad(k=3), "candidates": np.array([1, 1, 0, 0, 0, 0], bool)}, "only 2 candidates"),
        ({**_bad(), "forced": [0, 1, 2]}, "exceed k"),
        ({**_bad(), "forced": [9]}, "in \\[0, 6\\)"),
        ({**_bad(), "candidates": np.array([0, 1, 1, 1, 1, 1], bool), "forced": [0]}, "candidates"),
    ],
)
def test_ill_posed_inputs_raise(fn, args, message):
    """Every ill-posed input raises ValueError with a message naming the problem.

    Guards: a solver silently optimising a meaningless program (NaN weights, k > N, ...).
    """
    args = dict(args)
    with pytest.raises(ValueError, match=message):
        fn(args.pop("distances"), args.pop("weights"), args.pop("k"), **args)
