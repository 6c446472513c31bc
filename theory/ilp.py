"""The exact optimum of AMPO-OptSelect: the weighted p-median integer program (cvxpy adapter).

PAPER.md section 2: OptSelect chooses S, |S| = k, minimising Cost(S) = sum_i w_i min_{j in S} A_ij,
"by mixed-integer programming or local search" [S]. The standard exact formulation [U, standard
p-median], with y_j = 1 when j is a medoid and z_ij = 1 when client i is assigned to medoid j:

    min  sum_ij w_i A_ij z_ij
    s.t. sum_j z_ij = 1 (all clients i);  z_ij <= y_j (all i, j);  sum_j y_j = k;  y, z binary.

Options: `candidates` (N,) restricts which j may be medoids (y_j = 0 elsewhere) and `forced` pins
medoids in (y_j = 1; they count towards k). A client i with w_i = 0 does not count (its row of z is
dropped), exactly as in `selection.objective.coverage_cost`. "The pool minus the positive" is thus
`candidates` without the positive and its weight set to 0; "the positive plus k negatives" is
`forced=[positive]` with k + 1 medoids.

Solvers. The MILP goes to the first installed of `MILP_SOLVERS` (HiGHS first: open source, shipped
as `highspy`, and it reports its dual bound; then SciPy's `milp`, the same HiGHS engine reached
through SciPy; then SCIP, CBC, GLPK_MI). With none installed a RuntimeError says what to install.
Each is asked for a relative gap of `MIP_REL_GAP`, i.e. a proven optimum up to rounding.
`lp_lower_bound` solves the LP relaxation (y, z in [0, 1]) with the first installed of `LP_SOLVERS`;
`brute_force_pmedian` enumerates every subset and is the oracle for small N.

This is the only module that imports cvxpy.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from selection.objective import coverage_cost

MILP_SOLVERS = ("HIGHS", "SCIPY", "SCIP", "CBC", "GLPK_MI")
LP_SOLVERS = ("HIGHS", "SCIPY", "CLARABEL", "GLPK", "ECOS")
MIP_REL_GAP = 1e-9
_BRUTE_FORCE_MAX_SUBSETS = 2_000_000
_BRUTE_FORCE_CHUNK = 2048


def _milp_options(solver: str, time_limit: float | None) -> dict:
    """Solver-specific keyword arguments: quiet, relative gap MIP_REL_GAP, optional time limit."""
    t = time_limit
    if solver == "HIGHS":
        opts = {"output_flag": False, "mip_rel_gap": MIP_REL_GAP, "mip_abs_gap": 0.0}
        return opts | ({"time_limit": float(t)} if t is not None else {})
    if solver == "SCIPY":
        opts = {"disp": False, "mip_rel_gap": MIP_REL_GAP}
        return {"scipy_options": opts | ({"time_limit": float(t)} if t is not None else {})}
    if solver == "SCIP":
        opts = {"limits/gap": MIP_REL_GAP} | ({"limits/time": float(t)} if t is not None else {})
        return {"scip_params": opts}
    if solver == "CBC":
        opts = {"allowableFractionGap": MIP_REL_GAP}
        return opts | ({"maximumSeconds": math.ceil(t)} if t is not None else {})
    if solver == "GLPK_MI":
        return {"mip_gap": MIP_REL_GAP} | ({"tm_lim": int(1000 * t)} if t is not None else {})
    return {}


@dataclass(frozen=True, eq=False)
class PMedianSolution:
    """The MILP's answer. `cost` is `coverage_cost` of `selected`; `objective` the solver's value.

    gap = (objective - lower bound) / |objective| (0 when both are 0), with the lower bound taken
    from the solver's branch and bound when it reports one (gap_source "solver": HIGHS, SCIPY),
    else from `lp_lower_bound` (gap_source "lp_relaxation", a weaker bound, so a larger gap).
    """

    selected: np.ndarray  # (k,) int64, sorted
    cost: float
    objective: float
    status: str  # cvxpy status: "optimal", or "user_limit" after a time limit with an incumbent
    gap: float
    gap_source: str
    solver: str
    solve_time: float  # seconds in cvxpy's solve(): compilation + solver


# ---------------------------------------------------------------------------------------------
# Input checks shared by the three solvers


def _as_mask(x, n: int, name: str) -> np.ndarray:
    """A bool mask (N,) or integer indices -> bool mask (N,)."""
    x = np.asarray(x)
    if x.dtype == np.bool_:
        if x.shape != (n,):
            raise ValueError(f"{name} mask must have shape ({n},), got {x.shape}")
        return x.copy()
    if x.ndim != 1 or (x.size and not np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be a ({n},) bool mask or a 1-d array of indices")
    if x.size and (x.min() < 0 or x.max() >= n or np.unique(x).size != x.size):
        raise ValueError(f"{name} indices must be distinct and in [0, {n}), got {x.tolist()}")
    mask = np.zeros(n, dtype=bool)
    mask[x.astype(np.int64)] = True
    return mask


def _check_inputs(distances, weights, k, candidates, forced):
    """Validate and return (A (N,N), w (N,), k, candidates (N,) bool, forced (N,) bool)."""
    a = np.asarray(distances, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"distances must be a square (N, N) matrix, got shape {a.shape}")
    n = a.shape[0]
    if not np.all(np.isfinite(a)):
        raise ValueError("distances must be finite (no NaN or inf)")
    if np.any(a < 0):
        raise ValueError("distances must be non-negative")
    tol = 1e-9 * max(1.0, float(a.max()))
    if np.max(np.abs(a - a.T)) > tol:
        raise ValueError(
            f"distances must be symmetric (max |A - A^T| = {np.max(np.abs(a - a.T)):.3g})"
        )
    if np.max(np.abs(np.diag(a))) > tol:
        raise ValueError("distances must have a zero diagonal (A_ii = 0)")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) to match distances, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (no NaN or inf)")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    k = int(k)
    cand = np.ones(n, dtype=bool) if candidates is None else _as_mask(candidates, n, "candidates")
    pin = np.zeros(n, dtype=bool) if forced is None else _as_mask(forced, n, "forced")
    if not 1 <= k <= n:
        raise ValueError(f"k must satisfy 1 <= k <= N = {n}, got k = {k}")
    if k > cand.sum():
        raise ValueError(f"k = {k} medoids requested but only {int(cand.sum())} candidates allowed")
    if np.any(pin & ~cand):
        raise ValueError("forced medoids must be candidates")
    if pin.sum() > k:
        raise ValueError(f"{int(pin.sum())} forced medoids exceed k = {k}")
    return a, w, k, cand, pin


# ---------------------------------------------------------------------------------------------
# The program and its relaxation


def _build(a, w, k, cand, pin, relax: bool):
    """The p-median program over candidate columns and positive-weight client rows.

    Returns (problem, y, candidate indices (C,)).
    """
    cols = np.flatnonzero(cand)  # (C,)
    rows = np.flatnonzero(w > 0)  # (R,)
    y = cp.Variable(cols.size, boolean=not relax)  # (C,)
    cons = [cp.sum(y) == k]
    if relax:
        cons += [y >= 0, y <= 1]
    if pin.any():
        cons.append(y[np.flatnonzero(pin[cols])] == 1)
    objective = 0.0
    if rows.size:
        z = cp.Variable((rows.size, cols.size), boolean=not relax)  # (R, C)
        cons += [
            cp.sum(z, axis=1) == 1,
            z <= np.ones((rows.size, 1)) @ cp.reshape(y, (1, cols.size), order="C"),
        ]
        if relax:
            cons.append(z >= 0)
        c = w[rows, None] * a[np.ix_(rows, cols)]  # (R, C) w_i A_ij
        objective = cp.sum(cp.multiply(c, z))
    return cp.Problem(cp.Minimize(objective), cons), y, cols


def _pick_solver(solver: str | None, order: tuple[str, ...], kind: str) -> str:
    installed = cp.installed_solvers()
    if solver is not None:
        if solver not in installed:
            raise ValueError(f"solver {solver!r} is not installed; installed: {installed}")
        return solver
    for name in order:
        if name in installed:
            return name
    raise RuntimeError(
        f"no {kind} solver is installed for cvxpy (tried {', '.join(order)}); "
        "install HiGHS with `pip install highspy` (or SCIP: `pip install pyscipopt`)"
    )


def _solver_lower_bound(problem: cp.Problem) -> float | None:
    """The branch-and-bound dual bound when the solver reports one (HIGHS, SCIPY)."""
    stats = problem.solver_stats.extra_stats
    bound = getattr(stats, "mip_dual_bound", None)  # highspy.HighsInfo
    if bound is None and isinstance(stats, dict):
        bound = stats.get("mip_dual_bound")  # scipy.optimize.milp
    return None if bound is None or not math.isfinite(bound) else float(bound)


def _relative_gap(upper: float, lower: float) -> float:
    if upper == lower:
        return 0.0
    return max(0.0, upper - lower) / max(abs(upper), np.finfo(float).tiny)


def solve_pmedian(
    distances,
    weights,
    k: int,
    *,
    candidates=None,
    forced=None,
    solver: str | None = None,
    time_limit: float | None = None,
) -> PMedianSolution:
    """Solve the weighted p-median MILP exactly (see the module docstring).

    distances (N,N) symmetric, non-negative, zero diagonal; weights (N,) >= 0 (0 = not a client);
    candidates/forced: (N,) bool masks or index arrays. Raises ValueError on ill-posed inputs and
    RuntimeError when the solver returns no integer solution.
    """
    a, w, k, cand, pin = _check_inputs(distances, weights, k, candidates, forced)
    name = _pick_solver(solver, MILP_SOLVERS, "mixed-integer (MILP)")
    problem, y, cols = _build(a, w, k, cand, pin, relax=False)
    start = time.perf_counter()
    problem.solve(solver=name, **_milp_options(name, time_limit))
    solve_time = time.perf_counter() - start
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.USER_LIMIT) or y.value is None:
        raise RuntimeError(f"{name} returned no integer solution (status {problem.status!r})")

    selected = np.sort(cols[y.value > 0.5]).astype(np.int64)  # (k,)
    if selected.size != k:
        raise RuntimeError(f"{name} returned {selected.size} medoids instead of k = {k}")
    mask = np.zeros(a.shape[0], dtype=bool)
    mask[selected] = True
    objective = float(problem.value)
    lower = _solver_lower_bound(problem)
    source = "solver"
    if lower is None:
        lower, source = lp_lower_bound(a, w, k, candidates=cand, forced=pin), "lp_relaxation"
    return PMedianSolution(
        selected=selected,
        cost=float(coverage_cost(a, w, mask)),
        objective=objective,
        status=problem.status,
        gap=_relative_gap(objective, lower),
        gap_source=source,
        solver=name,
        solve_time=solve_time,
    )


def lp_lower_bound(
    distances, weights, k: int, *, candidates=None, forced=None, solver: str | None = None
) -> float:
    """Optimum of the LP relaxation (y, z in [0, 1]), a lower bound of the MILP optimum.

    Same arguments as `solve_pmedian`. Solved by the first installed of `LP_SOLVERS` (simplex
    solvers give the LP optimum to rounding; interior-point ones to their tolerance).
    """
    a, w, k, cand, pin = _check_inputs(distances, weights, k, candidates, forced)
    name = _pick_solver(solver, LP_SOLVERS, "linear-programming (LP)")
    problem, _, _ = _build(a, w, k, cand, pin, relax=True)
    problem.solve(solver=name)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"{name} failed on the LP relaxation (status {problem.status!r})")
    return float(problem.value)


def brute_force_pmedian(
    distances, weights, k: int, *, candidates=None, forced=None
) -> tuple[np.ndarray, float]:
    """Exact optimum by enumerating every admissible S: -> (selected (k,) sorted, cost).

    Subsets are enumerated in lexicographic order and the first minimiser is returned; costs are
    `coverage_cost`, evaluated in chunks. Refuses more than 2e6 subsets (ValueError).
    """
    a, w, k, cand, pin = _check_inputs(distances, weights, k, candidates, forced)
    free = np.flatnonzero(cand & ~pin)  # (F,)
    n_free = k - int(pin.sum())
    n_subsets = math.comb(free.size, n_free)
    if n_subsets > _BRUTE_FORCE_MAX_SUBSETS:
        raise ValueError(
            f"brute force over {n_subsets} subsets refused (max {_BRUTE_FORCE_MAX_SUBSETS})"
        )
    combos = itertools.combinations(free.tolist(), n_free)
    best_cost, best = math.inf, None
    while chunk := list(itertools.islice(combos, _BRUTE_FORCE_CHUNK)):
        masks = np.tile(pin, (len(chunk), 1))  # (B, N)
        if n_free:
            idx = np.asarray(chunk, dtype=np.int64)  # (B, n_free)
            np.put_along_axis(masks, idx, True, axis=1)
        costs = coverage_cost(a, w, masks)  # (B,)
        i = int(np.argmin(costs))
        if costs[i] < best_cost:
            best_cost, best = float(costs[i]), masks[i]
    return np.flatnonzero(best).astype(np.int64), best_cost
