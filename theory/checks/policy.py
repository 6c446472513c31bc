"""Check 2: Theorem 6.1 under the kernel-suppression policy model (theory/policy_model.py).

PAPER.md section 3 paraphrases Theorem 6.1 as "minimising the weighted coverage cost is equivalent to
maximising expected reward". Under this package's policy model [U] (training on the negatives S
lowers logit i by eta s_i(S), s_i(S) = sum_{j in S} K(A_ij / h), then renormalises), an equivalence
is not a theorem: the update also suppresses above-average responses near a negative. The sound
statements, with p0 the policy on the pool (uniform: the pool is a sample of the policy), C the
pool minus the positive, w the AMPO weights over C and Cost_w(S) the OptSelect cost, are:

(T1) coverage lemma: W(S) := sum_{i in C} w_i s_i(S) >= sum_{i in C} w_i - (L_K / h) Cost_w(S) =: B(S);
(T2) first-order expected-reward gain: with rbar = E_p0[r], u_i = p0_i (rbar - r_i)_+ (below-average
     mass), v_i = p0_i (r_i - rbar)_+ (above-average mass), rho = max_{i in C} u_i / w_i,
         G(S) := d/deta E_{p'}[r] |_{eta=0} = sum_i (u_i - v_i) s_i(S)
              >= sum_i u_i - (L_K / h) rho Cost_w(S) - sum_i v_i s_i(S),
     i.e. the gain is at least a benefit term decreasing in Cost_w(S) minus the collateral
     suppression of above-average mass (proof: T1 with weights u, and u_i d_i <= rho w_i d_i);
(T3) the ILP optimum S* minimises Cost_w over all (k - 1)-subsets of C, so it attains the largest
     B(S) and the largest benefit term among all selection rules: Cost_w(S*) <= Cost_w(S_rule).
All three are checked on every instance (they must never fail). Separately, as *measurements* and
not pass/fail: the expected reward E_{p'}[r] after a finite step eta, the ranking of the rules by
it and by Cost_w, their Spearman correlation per instance, and which rule attains the best value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.stats import rankdata

from selection import coverage_cost
from theory.landscapes import get_kernel
from theory.policy_model import (
    expected_reward_after_update,
    first_order_gain,
    suppression,
    suppression_lower_bound,
)

from .instances import (
    EXACT,
    LandscapeSpec,
    ampo_weights,
    fixed_k_strategies,
    make_landscapes,
    selections,
)
from .registry import register, result, violations

NAME = "policy_expected_reward"


@dataclass(frozen=True)
class PolicyConfig:
    instances: int = 300  # pools (one exact ILP solve each)
    k: int = 8  # group size: 1 positive + k - 1 negatives
    landscape: LandscapeSpec = field(default_factory=LandscapeSpec)
    kernel: str = "gaussian"  # K of the suppression s_i(S)
    bandwidth: float = 1.0  # h (the islands have RMS radius landscape.spread)
    eta: float = 1.0  # finite step for the measured E_{p'}[r]
    bandwidth_sweep: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)  # h for the ranking finding

    def __post_init__(self):
        get_kernel(self.kernel)
        if not (self.bandwidth > 0 and self.eta >= 0 and self.k >= 2 and self.instances >= 1):
            raise ValueError("need bandwidth > 0, eta >= 0, k >= 2 and instances >= 1")


@dataclass(frozen=True, eq=False)
class RuleValues:
    """Per rule, per instance (M,): the quantities of T1-T3 and the measured expected reward."""

    cost: np.ndarray  # Cost_w(S)
    suppression: np.ndarray  # W(S)
    bound: np.ndarray  # B(S)
    gain: np.ndarray  # G(S)
    gain_bound: np.ndarray  # right-hand side of T2
    expected_reward: np.ndarray  # E_{p'}[r] after a step eta


def evaluate(cfg: PolicyConfig, seed: int) -> tuple[dict, np.ndarray]:
    """{rule: RuleValues} for every fixed-k strategy and the ILP, and E_p0[r] (M,)."""
    k = cfg.k
    land = make_landscapes(cfg.landscape, cfg.instances, seed)
    a, r = land.distances, land.rewards
    m, n = r.shape
    w = ampo_weights(land)  # (M, N), 0 on the positive
    p0 = np.full((m, n), 1.0 / n)
    rbar = r.mean(axis=1, keepdims=True)  # (M, 1)
    u = p0 * np.maximum(rbar - r, 0.0)  # (M, N)
    v = p0 * np.maximum(r - rbar, 0.0)
    rho = np.max(np.divide(u, w, out=np.zeros_like(u), where=w > 0), axis=1)  # (M,)
    lk_h = get_kernel(cfg.kernel).lipschitz / cfg.bandwidth
    out = {}
    for name, chosen in selections(
        cfg.landscape, cfg.instances, seed, k, fixed_k_strategies(), exact=True
    ).items():
        s_mask = chosen.negatives
        s = suppression(a, s_mask, cfg.kernel, cfg.bandwidth)  # (M, N)
        cost = coverage_cost(a, w, s_mask)
        out[name] = RuleValues(
            cost=cost,
            suppression=np.sum(w * s, axis=1),
            bound=suppression_lower_bound(a, w, s_mask, cfg.kernel, cfg.bandwidth),
            gain=first_order_gain(r, a, s_mask, p0, cfg.kernel, cfg.bandwidth),
            gain_bound=u.sum(1) - lk_h * rho * cost - np.sum(v * s, axis=1),
            expected_reward=expected_reward_after_update(
                r, a, s_mask, p0, cfg.eta, cfg.kernel, cfg.bandwidth
            ),
        )
    return out, r.mean(axis=1)


def ranking_findings(values: dict) -> dict:
    """How the rules rank by expected reward and by cost (measurements, not pass/fail)."""
    names = list(values)
    er = np.stack([values[n].expected_reward for n in names], axis=1)  # (M, R)
    cost = np.stack([values[n].cost for n in names], axis=1)
    rank_er = rankdata(-er, axis=1)  # 1 = highest expected reward
    rank_cost = rankdata(cost, axis=1)  # 1 = lowest cost
    d = rank_er - rank_cost
    r_ = er.shape[1]
    spearman = 1.0 - 6.0 * np.sum(d * d, axis=1) / (r_ * (r_ * r_ - 1))  # ties: approximate
    best_er = np.argmax(er, axis=1)
    return {
        "rules": names,
        "mean_rank_by_expected_reward": dict(zip(names, rank_er.mean(0).tolist(), strict=True)),
        "mean_rank_by_cost": dict(zip(names, rank_cost.mean(0).tolist(), strict=True)),
        "fraction_best_expected_reward": {
            n: float(np.mean(best_er == i)) for i, n in enumerate(names)
        },
        "spearman_low_cost_vs_high_expected_reward": {
            "mean": float(spearman.mean()),
            "se": float(spearman.std(ddof=1) / np.sqrt(len(spearman))) if len(spearman) > 1 else 0,
            "fraction_positive": float(np.mean(spearman > 0)),
        },
        "exact_ilp_attains_best_expected_reward": float(np.mean(best_er == names.index(EXACT))),
    }


@register(
    NAME,
    "2",
    claim="Theorem 6.1: minimising the weighted coverage cost maximises expected reward (under a "
    "Lipschitz assumption and a model of how training on negatives moves probability mass).",
    formalisation="Kernel-suppression model p'_i ∝ p0_i exp(-eta s_i(S)), p0 uniform: (T1) W(S) = "
    "sum_C w_i s_i(S) >= sum_C w_i - (L_K/h) Cost_w(S); (T2) first-order gain G(S) >= sum_i u_i - "
    "(L_K/h) rho Cost_w(S) - sum_i v_i s_i(S), u/v = below/above-average mass, rho = max u_i/w_i; "
    "(T3) Cost_w(ILP) <= Cost_w(rule) for every rule, so the ILP attains the best bound. The "
    "ranking of rules by E_{p'}[r] vs by cost is measured, not asserted.",
    config=PolicyConfig,
)
def check_policy_expected_reward(cfg: PolicyConfig, seed: int):
    """Check 2 (see the module docstring). Slacks are relative to |lhs| + |rhs| (T1, T2) and to
    the rule's Cost_w (T3)."""
    values, e0 = evaluate(cfg, seed)
    exact = values[EXACT]
    worst, bad, per_rule, worst_by = np.inf, [], {}, {}
    for name, val in values.items():
        scales = {
            "T1": np.abs(val.suppression) + np.abs(val.bound),
            "T2": np.abs(val.gain) + np.abs(val.gain_bound),
            "T3": val.cost,
        }
        slacks = {
            "T1": val.suppression - val.bound,
            "T2": val.gain - val.gain_bound,
            "T3": val.cost - exact.cost,
        }
        if name == EXACT:  # T3 compares each rule with the ILP, not the ILP with itself
            del slacks["T3"]
        for part, slack in slacks.items():
            scale = np.maximum(np.abs(scales[part]), 1e-300)
            rel = float(np.min(slack / scale))
            worst = min(worst, rel)
            worst_by[part] = min(worst_by.get(part, np.inf), rel)
            bad += violations(slack, scale, seed, strategy=name, statement=part)
        per_rule[name] = {
            "mean_cost": float(val.cost.mean()),
            "mean_bound_T1": float(val.bound.mean()),
            "mean_weighted_suppression": float(val.suppression.mean()),
            "mean_first_order_gain": float(val.gain.mean()),
            "mean_gain_bound_T2": float(val.gain_bound.mean()),
            "mean_expected_reward_gain": float(np.mean(val.expected_reward - e0)),
            "se_expected_reward_gain": float(np.std(val.expected_reward - e0, ddof=1))
            / np.sqrt(len(e0)),
        }
    best_bound = max(per_rule, key=lambda n: per_rule[n]["mean_bound_T1"])
    sweep = {}
    for h in cfg.bandwidth_sweep:  # measured: does a wider kernel favour coverage?
        vals, base = evaluate(replace(cfg, bandwidth=h), seed)
        found = ranking_findings(vals)
        sweep[str(h)] = {
            "spearman_mean": found["spearman_low_cost_vs_high_expected_reward"]["mean"],
            "best_rule_by_mean_expected_reward": max(
                vals, key=lambda n: float(np.mean(vals[n].expected_reward))
            ),
            "mean_expected_reward_gain": {
                n: float(np.mean(v.expected_reward - base)) for n, v in vals.items()
            },
        }
    return result(
        NAME,
        cfg.instances,
        worst,
        not bad,
        worst_relative_slack_by_statement=worst_by,
        per_rule=per_rule,
        rule_with_best_mean_bound=best_bound,
        ranking=ranking_findings(values),
        bandwidth_sweep=sweep,
        violations=bad,
    )
