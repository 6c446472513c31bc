"""Check 1: the Lipschitz coverage inequality behind Theorem 6.1 (PAPER.md section 3).

Formal statement [U, this package's formalisation]. Let r be L-Lipschitz on the embedding space,
|r(e) - r(e')| <= L ||e - e'||, S a non-empty set of selected responses, C a set of clients with
weights w_i >= 0, and sigma(i) = argmin_{j in S} A_ij the selected point nearest to client i. Then

    sum_{i in C} w_i |r_i - r_sigma(i)|  <=  L * Cost_C(S),   Cost_C(S) = sum_{i in C} w_i A_{i sigma(i)},

since each term obeys |r_i - r_sigma(i)| <= L A_{i sigma(i)}. The same holds with L replaced by the
pool's empirical constant L_hat = max_{i != j} |r_i - r_j| / A_ij (the pairs (i, sigma(i)) are pool
pairs), which measures the bound's tightness: L_hat <= L.

It is checked for every registered selection rule in two readings:
- "negatives": S = the rule's negatives, C = the pool minus the rule's positive (what the coverage
  strategies cover by default, remove_positive=True), w = coverage_weights over C;
- "full": S = all k selected responses, C = the whole pool, w = coverage_weights over the pool.
Landscapes: every reward family of theory.landscapes.REWARDS (bump rewards with every kernel) in
low and high dimension, the instances split evenly between these variants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selection import coverage_cost, coverage_weights, strategy_names
from theory.landscapes import KERNELS, REWARDS

from .instances import LandscapeSpec, make_landscapes, strategy_selection
from .registry import register, result, violations

NAME = "lipschitz_coverage"


@dataclass(frozen=True)
class LipschitzConfig:
    instances: int = 8000  # landscapes in all, split evenly over the variants
    k: int = 8  # group size (best_worst uses its own k = 2)
    n_points: int = 32
    dims: tuple[int, ...] = (2, 16)

    def __post_init__(self):
        if self.instances < len(variants(self)):
            raise ValueError(f"need at least one instance per variant ({len(variants(self))})")


def variants(cfg: LipschitzConfig) -> list[LandscapeSpec]:
    """Every reward family (bumps with every kernel) x every dimension."""
    specs = []
    for dim in cfg.dims:
        for reward in sorted(REWARDS):
            kernels = sorted(KERNELS) if reward == "bump" else ["gaussian"]
            specs += [
                LandscapeSpec(n_points=cfg.n_points, dim=dim, reward=reward, kernel=kern)
                for kern in kernels
            ]
    return specs


def coverage_sides(distances, rewards, weights, selected):
    """(lhs, cost) = (sum_i w_i |r_i - r_sigma(i)|, sum_i w_i A_{i sigma(i)}): -> (M,), (M,).

    distances (M,N,N), rewards (M,N), weights (M,N) (0 = not a client), selected (M,N) bool.
    """
    covered = np.where(selected[:, None, :], distances, np.inf)  # (M, N, N)
    sigma = np.argmin(covered, axis=-1)  # (M, N) nearest selected point
    gap = np.abs(rewards - np.take_along_axis(rewards, sigma, axis=1))  # (M, N)
    lhs = np.sum(weights * gap, axis=-1)
    return lhs, coverage_cost(distances, weights, selected)


def relative_slack(lhs, rhs):
    """1 - lhs / rhs: the fraction of the bound left unused (< 0 = violated).

    An instance with rhs = 0 and lhs = 0 (a constant reward on the pool) satisfies the bound
    trivially; its slack is +inf so that it does not mask the informative instances.
    """
    safe = np.where(rhs > 0, rhs, 1.0)
    return np.where(rhs > 0, 1.0 - lhs / safe, np.where(lhs > 0, -np.inf, np.inf))


@register(
    NAME,
    "1",
    claim="Theorem 6.1's Lipschitz step: with r L-Lipschitz, the weighted reward gap between each "
    "response and its nearest selected one is at most L times the OptSelect coverage cost.",
    formalisation="For every selection rule, sum_{i in C} w_i |r_i - r_sigma(i)| <= L Cost_C(S), "
    "sigma(i) = nearest point of S, w = coverage_weights over C; readings 'negatives' (S = "
    "negatives, C = pool minus positive) and 'full' (S = all k, C = pool); L = the reward's "
    "proven constant and, for tightness, the pool's empirical constant L_hat <= L.",
    config=LipschitzConfig,
)
def check_lipschitz_coverage(cfg: LipschitzConfig, seed: int):
    """Check 1 (see the module docstring). Slack = 1 - lhs / (L Cost), relative."""
    specs = variants(cfg)
    per_variant = cfg.instances // len(specs)
    worst, bad, table, summary = np.inf, [], {}, []
    for v, spec in enumerate(specs):
        land = make_landscapes(spec, per_variant, seed + v)
        summary.append(
            {"variant": v, "seed": seed + v, "instances": per_variant, **vars(spec)}
            | {
                "constant_reward_instances": int(np.sum(np.ptp(land.rewards, axis=1) == 0)),
                "mean_L_hat_over_L": float(np.mean(land.empirical_lipschitz / land.lipschitz)),
            }
        )
        for name in strategy_names():
            chosen = strategy_selection(land, name, cfg.k, seed)
            clients = np.ones(land.rewards.shape, dtype=bool)
            clients[np.arange(per_variant), chosen.positive] = False
            full = chosen.negatives.copy()
            full[np.arange(per_variant), chosen.positive] = True
            readings = {
                "negatives": (coverage_weights(land.rewards, clients), chosen.negatives),
                "full": (coverage_weights(land.rewards), full),
            }
            for reading, (w, sel) in readings.items():
                lhs, cost = coverage_sides(land.distances, land.rewards, w, sel)
                for const, lip in (("L", land.lipschitz), ("L_hat", land.empirical_lipschitz)):
                    rhs = lip * cost
                    slack = relative_slack(lhs, rhs)
                    worst = min(worst, float(slack.min()))
                    label = {"variant": v, "strategy": name, "reading": reading, "constant": const}
                    bad += violations(rhs - lhs, rhs, seed + v, **label)
                    key = f"{name}/{reading}/{const}"
                    table.setdefault(key, []).append(lhs / np.where(rhs > 0, rhs, 1.0))
    tightness = {
        key: {"mean": float(np.mean(np.concatenate(v))), "max": float(np.max(np.concatenate(v)))}
        for key, v in sorted(table.items())
    }
    return result(
        NAME,
        per_variant * len(specs),
        worst,
        not bad,
        variants=summary,
        tightness_lhs_over_rhs=tightness,
        violations=bad,
    )
