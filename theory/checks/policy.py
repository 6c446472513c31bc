"""Check 2: Theorem 6.1 under the policy models of theory/policy_model.py, per landscape family.

PAPER.md section 3 paraphrases Theorem 6.1 as "minimising the weighted coverage cost is equivalent
to maximising expected reward". Under this package's policy models [U] (training on the negatives
S moves p'_i ∝ p0_i exp(-eta s_i(S)); `additive`, `nearest` and `coverage_ball` suppressions) no
such equivalence is a theorem: the update also suppresses above-average responses near a negative,
and under `additive` repeated negatives keep adding suppression. Notation: p0 uniform on the pool
(the pool is a sample of the policy), C = the pool minus the positive (OptSelect's clients and
candidates), w = the AMPO weights over C, d_i(S) = distance from i to its nearest negative,
Cost_w(S) = sum_C w_i d_i(S), c = the model's coverage constant (L_K / h; 1 / h for the balls),
rbar = E_p0[r], u_i = p0_i (rbar - r_i)_+ (below-average mass), v_i = p0_i (r_i - rbar)_+, n(S) =
|S| for `additive` and 1 otherwise, Kbar = K (1[t <= 1] for the balls), G(S) = d/deta E_{p'}[r] at
eta = 0. Proved statements, checked on every pool, rule, model, family and bandwidth:

(T1) coverage lemma: sum_C w_i s_i(S) >= sum_C w_i - c Cost_w(S);
(T2) G(S) >= sum_i u_i (1 - c d_i(S))_+ - sum_i v_i n(S) Kbar(d_i(S) / h): a benefit that grows
     with the u-weighted coverage, minus a collateral term that vanishes when every above-average
     point lies beyond the kernel's reach of every negative (`policy_model.gain_lower_bound`);
(T2_rho) the former statement G(S) >= sum_i u_i - c rho Cost_w(S) - sum_i v_i s_i(S), rho =
     max_C u_i / w_i (true, but its right-hand side is negative on most pools: vacuous);
(T2_cap) G(S) <= n(S) sum_i u_i (for the saturating models, the below-average mass caps the gain);
(T3) the ILP's negatives are k - 1 points of C, and Cost_w(ILP) <= Cost_w(S) for every rule whose
     negatives are k - 1 points of C;
(U) p' is a distribution, p'_i / p0_i is non-increasing in s_i, p'_i >= p0_i exp(-eta s_i);
(D) G(S) equals the one-sided finite difference of E_{p'}[r] in eta at 0 (to FD_TOL);
(R) the package's distances, weights, Cost_w, kernel and coverage constants, suppressions, updates,
     G and the T1/T2 bounds equal the reference values of `policy_reference` (independent numpy);
     slack = tolerance - max relative difference.
The statements use the reference values on their bound side. Measured, not pass/fail
(`policy_findings`): the gain E_{p'}[r] - E_p0[r] after a step eta per rule x model x family with
95% CIs, the coverage rules against Bottom-k (paired), how often each rule is best, how often each
bound's right-hand side is positive, and the mean gains at every bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selection import coverage_cost
from theory.landscapes import KERNELS as PACKAGE_KERNELS
from theory.landscapes import get_kernel
from theory.policy_model import (
    POLICY_MODELS,
    expected_reward_after_update,
    first_order_gain,
    gain_lower_bound,
    get_policy_model,
    policy_after_update,
    suppression,
    suppression_lower_bound,
)

from . import policy_findings as found
from . import policy_reference as ref
from .instances import (
    EXACT,
    FAMILIES,
    ampo_weights,
    fixed_k_strategies,
    get_family,
    make_landscapes,
    selections,
)
from .registry import register, result, violations

NAME = "policy_expected_reward"
DISCREPANCY_TOL = 1e-9  # |package - reference| / (1 + |reference|)
FD_TOL = 1e-6  # |G - finite difference| / (1 + |G|), step fd_step: error O(step^2 max|s|^3 |r|)
VIOLATIONS_PER_STATEMENT = 3  # reported; each names its seed and instance


@dataclass(frozen=True)
class PolicyConfig:
    instances: int = 200  # pools per landscape family (one exact ILP solve each)
    k: int = 8  # group size: 1 positive + k - 1 negatives
    families: tuple[str, ...] = tuple(FAMILIES)  # keys of theory.checks.instances.FAMILIES
    models: tuple[str, ...] = tuple(POLICY_MODELS)  # keys of theory.policy_model.POLICY_MODELS
    kernel: str = "gaussian"  # K of the kernel models (islands have RMS radius 0.5 to 1)
    bandwidth: float = 1.0  # h of the findings' table
    eta: float = 1.0  # finite step of the measured E_{p'}[r]
    fd_step: float = 1e-5  # step of the finite difference (D)
    bandwidth_sweep: tuple[float, ...] = (0.5, 2.0)  # more h: statements checked, gains measured
    baseline: str = "ampo_bottomk"
    coverage_rules: tuple[str, ...] = ("ampo_optselect", EXACT, "ampo_coreset")

    def __post_init__(self):
        for name in self.families:
            get_family(name)
        for name in self.models:
            get_policy_model(name)
            if name not in ref.MODELS:
                raise ValueError(f"models: check 2 has no reference suppression for {name!r}")
        get_kernel(self.kernel)
        if self.kernel not in ref.KERNELS:
            raise ValueError(f"kernel: check 2 has no reference profile for {self.kernel!r}")
        rules = {*fixed_k_strategies(), EXACT}
        if not {self.baseline, *self.coverage_rules} <= rules:
            raise ValueError(f"baseline and coverage_rules must be among {sorted(rules)}")
        if not all(h > 0 for h in (self.bandwidth, *self.bandwidth_sweep)):
            raise ValueError("bandwidth and bandwidth_sweep must be > 0")
        if not (self.eta >= 0 and self.fd_step > 0 and self.k >= 2 and self.instances >= 1):
            raise ValueError("need eta >= 0, fd_step > 0, k >= 2 and instances >= 1")
        if not (self.families and self.models):
            raise ValueError("families and models must not be empty")


class Ledger:
    """Every statement's slacks: the worst relative slack and the violations per statement, and
    the largest package-vs-reference difference per quantity."""

    def __init__(self, seed: int):
        self.seed, self.worst, self.bad, self.max_diff = seed, {}, {}, {}

    def add(self, statement: str, slack, scale, **labels):
        """slack (M,) = rhs - lhs of `statement` at the scale (M,) of its sides."""
        slack = np.atleast_1d(np.asarray(slack, np.float64))
        scale = np.broadcast_to(np.abs(np.asarray(scale, np.float64)), slack.shape)
        rel = float(np.min(slack / np.maximum(scale, 1e-300)))
        self.worst[statement] = min(self.worst.get(statement, np.inf), rel)
        seen = self.bad.setdefault(statement, [])
        if len(seen) < VIOLATIONS_PER_STATEMENT:
            found = violations(slack, scale, self.seed, statement=statement, **labels)
            seen += found[: VIOLATIONS_PER_STATEMENT - len(seen)]

    @property
    def violations(self) -> list[dict]:
        return [v for found in self.bad.values() for v in found]

    def agree(self, quantity: str, package, reference, tol: float = DISCREPANCY_TOL, **labels):
        """(R): the package's values equal the reference's, per instance (leading axis)."""
        package, reference = np.asarray(package, np.float64), np.asarray(reference, np.float64)
        diff = np.abs(package - reference) / (1.0 + np.abs(reference))
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN never agrees
        per_instance = diff.reshape(len(diff), -1).max(axis=1) if diff.ndim else diff[None]
        self.max_diff[quantity] = max(self.max_diff.get(quantity, 0.0), float(per_instance.max()))
        self.add(f"R:{quantity}", tol - per_instance, 1.0, **labels)

    def sides(self, statement: str, lhs, rhs, **labels):
        """lhs <= rhs on every instance, slack relative to |lhs| + |rhs|."""
        self.add(statement, rhs - lhs, np.abs(lhs) + np.abs(rhs), **labels)


@dataclass(frozen=True, eq=False)
class Pools:
    """One family's pools with every rule's negatives and the reference geometry."""

    family: str
    rewards: np.ndarray  # (M, N)
    distances: np.ndarray  # (M, N, N) the package's
    ref_distances: np.ndarray  # (M, N, N) recomputed from the points
    weights: np.ndarray  # (M, N) reference AMPO weights over C, 0 on the positive
    negatives: dict  # rule -> (M, N) bool
    ref_cost: dict  # rule -> (M,) reference Cost_w


def _subset_of(selected, clients, size: int) -> np.ndarray:
    """(M,) bool: the selected set holds `size` points, all of them clients."""
    return np.all(~selected | clients, axis=1) & (selected.sum(1) == size)


def build_pools(cfg: PolicyConfig, family: str, seed: int, ledger: Ledger) -> Pools:
    """Draw the pools, select with every rule, check distances, weights, costs and T3."""
    spec = get_family(family)
    land = make_landscapes(spec, cfg.instances, seed)
    r = land.rewards
    chosen = selections(spec, cfg.instances, seed, cfg.k, fixed_k_strategies(), exact=True)
    a_ref = ref.distances(land.points)
    ledger.agree("distances", land.distances, a_ref, family=family)
    clients = np.ones(r.shape, dtype=bool)
    clients[np.arange(len(r)), np.argmax(r, axis=1)] = False  # C = pool minus the positive
    w, w_package = ref.ampo_weights(r, clients), ampo_weights(land)
    ledger.agree("weights", w_package, w, family=family)
    negatives = {rule: pick.negatives for rule, pick in chosen.items()}
    cost = {rule: ref.cost(w, ref.nearest(a_ref, s)) for rule, s in negatives.items()}
    for rule, s in negatives.items():
        package_cost = coverage_cost(land.distances, w_package, s)
        ledger.agree("coverage_cost", package_cost, cost[rule], family=family, rule=rule)
    in_c = {rule: _subset_of(s, clients, cfg.k - 1) for rule, s in negatives.items()}
    ledger.add("T3:ilp_in_candidates", np.where(in_c[EXACT], 0.0, -1.0), 1.0, family=family)
    for rule in negatives:
        if rule != EXACT and in_c[rule].any():  # the ILP minimises over the (k-1)-subsets of C
            slack = np.where(in_c[rule], cost[rule] - cost[EXACT], np.inf)
            ledger.add("T3:ilp_cost", slack, cost[rule], family=family, rule=rule)
    return Pools(family, r, land.distances, a_ref, w, negatives, cost)


@dataclass(frozen=True, eq=False)
class RuleValues:
    """One rule under one model, per pool (M,)."""

    gain: np.ndarray  # E_{p'}[r] - E_p0[r] after a step eta
    first_order: np.ndarray  # G(S)
    t2: np.ndarray  # right-hand side of T2
    t2_rho: np.ndarray  # right-hand side of T2_rho


def evaluate_rule(cfg: PolicyConfig, pools: Pools, model: str, h: float, rule: str, ledger: Ledger):
    """Every statement of one (rule, model, bandwidth) on a family's pools: -> RuleValues."""
    r, a, w, sel = pools.rewards, pools.distances, pools.weights, pools.negatives[rule]
    kern, labels = cfg.kernel, {"family": pools.family, "model": model, "h": h, "rule": rule}
    p0 = np.full(r.shape, 1.0 / r.shape[1])
    gap = np.sum(p0 * r, axis=1, keepdims=True) - r  # rbar - r_i
    u, v = p0 * np.maximum(gap, 0.0), p0 * np.maximum(-gap, 0.0)
    d = ref.nearest(pools.ref_distances, sel)
    c = ref.coverage_constant(model, kern, h)
    s_ref = ref.suppression(model, pools.ref_distances, sel, kern, h)
    s = suppression(a, sel, kern, h, model)
    ledger.agree("suppression", s, s_ref, **labels)
    ledger.agree("coverage_constant", get_policy_model(model).coverage_constant(kern, h), c)
    # (U) the update and what it does to the mass
    p = policy_after_update(a, sel, p0, cfg.eta, kern, h, model)
    ledger.agree("update", p, ref.update(p0, s_ref, cfg.eta), **labels)
    ledger.add("U:distribution", 1e-12 - np.abs(p.sum(1) - 1), 1.0, **labels)
    ledger.add("U:non_negative", p.min(1), 1.0, **labels)
    ratio = np.take_along_axis(p / p0, np.argsort(s_ref, axis=1, kind="stable"), axis=1)
    ledger.add("U:mass_moves_away", np.min(ratio[:, :-1] - ratio[:, 1:], 1), ratio.max(1), **labels)
    floor = p0 * np.exp(-cfg.eta * s_ref)  # Z <= 1
    ledger.add("U:Z_at_most_1", np.min(p - floor, 1), p.max(1), **labels)
    # (D) first-order gain = derivative of E_{p'}[r] at eta = 0
    g = first_order_gain(r, a, sel, p0, kern, h, model)
    ledger.agree("first_order_gain", g, np.sum(u * s_ref - v * s_ref, axis=1), **labels)
    f = [
        expected_reward_after_update(r, a, sel, p0, e * cfg.fd_step, kern, h, model)
        for e in (0, 1, 2)
    ]
    fd = (-3 * f[0] + 4 * f[1] - f[2]) / (2 * cfg.fd_step)
    ledger.add("D:finite_difference", FD_TOL * (1 + np.abs(g)) - np.abs(g - fd), 1.0, **labels)
    # (T1), (T2), (T2_rho), (T2_cap) with the reference values on the bound side
    cost = pools.ref_cost[rule]
    t1 = w.sum(1) - c * cost
    ledger.sides("T1:coverage_lemma", t1, np.sum(w * s, axis=1), **labels)
    ledger.agree("T1_bound", suppression_lower_bound(a, w, sel, kern, h, model), t1, **labels)
    reach = ref.envelope(model, d, sel.sum(1).astype(np.float64), kern, h)
    t2 = np.sum(u * np.maximum(1 - c * d, 0.0), axis=1) - np.sum(v * reach, axis=1)
    ledger.sides("T2:gain_bound", t2, g, **labels)
    ledger.agree("T2_bound", gain_lower_bound(r, a, sel, p0, kern, h, model), t2, **labels)
    rho = np.max(np.divide(u, w, out=np.zeros_like(u), where=w > 0), axis=1)
    t2_rho = u.sum(1) - c * rho * cost - np.sum(v * s_ref, axis=1)
    ledger.sides("T2_rho:gain_bound", t2_rho, g, **labels)
    ceiling = ref.envelope(model, np.zeros_like(d), sel.sum(1), kern, h)[:, 0]  # n(S) Kbar(0)
    ledger.sides("T2_cap:gain_at_most_n_times_below_average_mass", g, ceiling * u.sum(1), **labels)
    return RuleValues(np.sum(p * r, axis=1) - r.mean(1), g, t2, t2_rho)


def kernel_statements(ledger: Ledger) -> None:
    """(R) every kernel's profile and Lipschitz constant against the reference table."""
    t = np.linspace(0.0, 5.0, 501)
    for name, (profile, lipschitz) in ref.KERNELS.items():
        kernel = PACKAGE_KERNELS[name]
        ledger.agree("kernel_profile", kernel.profile(t)[None], profile(t)[None], kernel=name)
        ledger.agree("kernel_lipschitz", kernel.lipschitz, lipschitz, kernel=name)


def evaluate(cfg: PolicyConfig, seed: int, ledger: Ledger) -> dict:
    """{(family, h): {model: {rule: RuleValues}}} for h = cfg.bandwidth and the sweep."""
    out = {}
    for family in cfg.families:
        pools = build_pools(cfg, family, seed, ledger)
        for h in dict.fromkeys((cfg.bandwidth, *cfg.bandwidth_sweep)):
            out[family, h] = {
                model: {
                    rule: evaluate_rule(cfg, pools, model, h, rule, ledger)
                    for rule in pools.negatives
                }
                for model in cfg.models
            }
    return out


def findings(cfg: PolicyConfig, values: dict) -> dict:
    """The measurements at h = cfg.bandwidth and, per bandwidth, the mean gains (not pass/fail)."""
    table, comparisons, best, summary, by_bandwidth = {}, {}, {}, [], {}
    for (family, h), per_model in values.items():
        for model, per_rule in per_model.items():
            names = list(per_rule)
            gains = np.stack([per_rule[n].gain for n in names], axis=1)  # (M, R)
            base = per_rule[cfg.baseline].gain
            by_bandwidth.setdefault(str(h), {}).setdefault(family, {})[model] = {
                "mean_gain": {n: float(per_rule[n].gain.mean()) for n in names},
                "fraction_best": found.winners(gains, names),
                "fraction_better_than_baseline": {
                    n: float(np.mean(per_rule[n].gain > base)) for n in cfg.coverage_rules
                },
            }
            if h != cfg.bandwidth:
                continue
            cells = {
                n: {
                    "gain": found.mean_ci(v.gain),
                    "mean_first_order_gain": float(v.first_order.mean()),
                    "mean_T2_rhs": float(v.t2.mean()),
                    "fraction_T2_rhs_positive": float(np.mean(v.t2 > 0)),
                    "mean_T2_rho_rhs": float(v.t2_rho.mean()),
                    "fraction_T2_rho_rhs_positive": float(np.mean(v.t2_rho > 0)),
                }
                for n, v in per_rule.items()
            }
            diffs = {
                f"{n} - {cfg.baseline}": found.paired(per_rule[n].gain, base)
                for n in cfg.coverage_rules
            }
            table.setdefault(family, {})[model] = cells
            comparisons.setdefault(family, {})[model] = diffs
            best.setdefault(family, {})[model] = found.winners(gains, names)
            gain_cells = {n: c["gain"] for n, c in cells.items()}
            summary.append(found.sentence(family, model, gain_cells, diffs, cfg.baseline))
    return {
        "summary": summary,
        "table": table,
        "paired_differences": comparisons,
        "fraction_best": best,
        "mean_gain_by_bandwidth": by_bandwidth,
    }


@register(
    NAME,
    "2",
    claim="Theorem 6.1: minimising the weighted coverage cost maximises expected reward (under a "
    "Lipschitz assumption and a model of how training on negatives moves probability mass).",
    formalisation="Policy models p'_i ∝ p0_i exp(-eta s_i(S)), p0 uniform, s = additive sum_S "
    "K(A_ij/h), nearest max_S K(A_ij/h) or coverage_ball 1[min_S A_ij <= h]; c = L_K/h (1/h for "
    "balls), d_i = distance to the nearest negative, u/v = below/above-average mass. Proved and "
    "checked on every pool, rule, model, landscape family and bandwidth: (T1) sum_C w_i s_i >= "
    "sum_C w_i - c Cost_w(S); (T2) first-order gain G(S) >= sum_i u_i (1 - c d_i)_+ - sum_i v_i "
    "n(S) Kbar(d_i/h); (T2_rho) G(S) >= sum u - c rho Cost_w - sum v s (former form); (T2_cap) "
    "G(S) <= n(S) sum u; (T3) the ILP picks k-1 points of C and Cost_w(ILP) <= Cost_w(rule); (U) "
    "p' is a distribution moving mass away from suppressed points; (D) G = d/deta E_{p'}[r] at 0 "
    "(finite difference); (R) the package's distances, weights, costs, kernels, suppressions, "
    "updates and bounds equal independent reference values. The ranking of the rules by E_{p'}[r] "
    "is measured per model and family, not asserted.",
    config=PolicyConfig,
)
def check_policy_expected_reward(cfg: PolicyConfig, seed: int):
    """Check 2 (see the module docstring). worst_slack: the smallest relative slack over every
    statement, (R) included (slack = tolerance - relative difference)."""
    ledger = Ledger(seed)
    kernel_statements(ledger)
    values = evaluate(cfg, seed, ledger)
    return result(
        NAME,
        cfg.instances * len(cfg.families),
        min(ledger.worst.values()),
        not ledger.violations,
        worst_relative_slack_by_statement=ledger.worst,
        max_relative_difference_from_reference=ledger.max_diff,
        **findings(cfg, values),
        violations=ledger.violations,
    )
