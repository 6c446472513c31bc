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
low and high dimension, and the mistake-cluster family (near-duplicate worst answers), the
instances split evenly between these variants.

Independence: sigma, the weights, the cost and L_hat are computed here from
`theory/checks/reference.py` (explicit differences, w_i = exp(rbar - r_i)), not by the package's
`coverage_weights` / `coverage_cost` / `pairwise_distances`; the package's `empirical_lipschitz` is
compared with that reference. The proven constants themselves are checked for tightness: on
single-bump rewards r(x) = h K(||x - c|| / s) the bound L = L_K |h| / s is attained, so the largest
finite-difference slope of r along a ray from c must lie in [(1 - TIGHT_RTOL) L, L] (a wrong L_K in
`theory.landscapes.KERNELS` or a wrong constant formula fails it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selection import strategy_names
from theory.landscapes import KERNELS, REWARDS, make_bump_reward

from . import reference as ref
from .instances import FAMILIES, LandscapeSpec, MistakeSpec, make_landscapes, strategy_selection
from .registry import Statement, assess, register, result

NAME = "lipschitz_coverage"
TIGHT_RTOL = 1e-3  # the sampled maximal slope reaches L to within this
TIGHT_STEPS = 20_001  # grid of the ray t in [0, 3 s]


@dataclass(frozen=True)
class LipschitzConfig:
    instances: int = 8000  # landscapes in all, split evenly over the variants
    k: int = 8  # group size (best_worst uses its own k = 2)
    n_points: int = 32
    dims: tuple[int, ...] = (2, 16)

    def __post_init__(self):
        if self.instances < len(variants(self)):
            raise ValueError(f"need at least one instance per variant ({len(variants(self))})")


def variants(cfg: LipschitzConfig) -> list[LandscapeSpec | MistakeSpec]:
    """Every reward family (bumps with every kernel) x every dimension, and the mistake-cluster
    family (`theory.checks.instances.FAMILIES`) at its own size."""
    specs: list[LandscapeSpec | MistakeSpec] = [FAMILIES["mistake_cluster"]]
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
    return lhs, ref.cost(distances, weights, selected)


def reference_lipschitz(dist, rewards):
    """max_{i != j, A_ij > 0} |r_i - r_j| / A_ij from reference distances: -> (M,)."""
    gap = np.abs(rewards[:, :, None] - rewards[:, None, :])
    ratio = np.where(dist > 0, gap / np.where(dist > 0, dist, 1.0), 0.0)
    return ratio.max(axis=(1, 2))


def max_slope_on_a_ray(kernel: str, instances: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(largest finite-difference slope of r along a ray from the bump's centre, proven L), (M,)
    each, for random single-bump rewards r(x) = h K(||x - c|| / s) in d = 3."""
    rng = np.random.default_rng(seed)
    anchors = rng.standard_normal((instances, 1, 3))
    bump = make_bump_reward(anchors, 1, length_scale=1.0, kernel=kernel, seed=rng)
    direction = rng.standard_normal((instances, 1, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    t = np.linspace(0.0, 3.0, TIGHT_STEPS)[None, :, None] * bump.widths[:, :, None]  # (M, T, 1)
    r = bump(bump.centers + t * direction)  # (M, T)
    slope = np.abs(np.diff(r, axis=1)) / np.diff(t[..., 0], axis=1)
    return slope.max(axis=1), bump.lipschitz


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
    "proven constant and, for tightness, the pool's empirical constant L_hat <= L; weights, distances "
    "and L_hat from an independent reference; the proven L attained (within 0.1%) on single bumps.",
    config=LipschitzConfig,
)
def check_lipschitz_coverage(cfg: LipschitzConfig, seed: int):
    """Check 1 (see the module docstring). Slack = 1 - lhs / (L Cost), relative."""
    specs = variants(cfg)
    per_variant = cfg.instances // len(specs)
    statements, table, summary = [], {}, []
    for v, spec in enumerate(specs):
        land = make_landscapes(spec, per_variant, seed + v)
        dist = ref.distances(land.points)
        l_hat = reference_lipschitz(dist, land.rewards)
        gap = ref.relative_discrepancy(land.empirical_lipschitz, l_hat)
        statements.append(Statement("empirical_lipschitz = reference", 0.0 - gap))
        summary.append(
            {"variant": v, "seed": seed + v, "instances": per_variant, **vars(spec)}
            | {
                "constant_reward_instances": int(np.sum(np.ptp(land.rewards, axis=1) == 0)),
                "mean_L_hat_over_L": float(np.mean(l_hat / land.lipschitz)),
            }
        )
        everyone = np.ones(land.rewards.shape, dtype=bool)
        for name in strategy_names():
            chosen = strategy_selection(land, name, cfg.k, seed)
            clients = everyone.copy()
            clients[np.arange(per_variant), chosen.positive] = False
            full = chosen.negatives.copy()
            full[np.arange(per_variant), chosen.positive] = True
            readings = {
                "negatives": (ref.weights(land.rewards, clients), chosen.negatives),
                "full": (ref.weights(land.rewards, everyone), full),
            }
            for reading, (w, sel) in readings.items():
                lhs, cost = coverage_sides(dist, land.rewards, w, sel)
                for const, lip in (("L", land.lipschitz), ("L_hat", l_hat)):
                    rhs = lip * cost
                    key = f"{name}/{reading}/{const}"
                    statements.append(
                        Statement(f"sum w |r - r_sigma| <= {const} Cost", relative_slack(lhs, rhs))
                    )
                    table.setdefault(key, []).append(lhs / np.where(rhs > 0, rhs, 1.0))
    tight = {}
    for k, kernel in enumerate(sorted(KERNELS)):
        slope, lip = max_slope_on_a_ray(kernel, 64, seed + 100 + k)
        statements += [
            Statement(f"slope <= L ({kernel} bump)", 1.0 - slope / lip),
            Statement(
                f"slope >= (1 - {TIGHT_RTOL:g}) L ({kernel} bump)", slope / lip - 1 + TIGHT_RTOL
            ),
        ]
        tight[kernel] = {
            "min_slope_over_L": float((slope / lip).min()),
            "max": float((slope / lip).max()),
        }
    worst, by_statement, bad = assess(statements, seed)
    tightness = {
        key: {"mean": float(np.mean(np.concatenate(v))), "max": float(np.max(np.concatenate(v)))}
        for key, v in sorted(table.items())
    }
    return result(
        NAME,
        per_variant * len(specs),
        worst,
        not bad,
        worst_slack_by_statement=by_statement,
        variants=summary,
        tightness_lhs_over_rhs=tightness,
        proven_constant_attained=tight,
        violations=bad,
    )
