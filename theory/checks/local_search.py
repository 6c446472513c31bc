"""Check 3: Theorem 6.2, single-swap local search is a 5-approximation of the OptSelect optimum.

Formal statement (Arya et al. 2004 for weighted k-median with p = 1 swaps: 3 + 2/p = 5) [U,
attribution]: if S is a local optimum of single swaps for Cost_w over the candidates C (no swap of a
medoid for a candidate lowers the cost), then Cost_w(S) <= 5 Cost_w(S*), S* the optimum. Instances:
AMPO-OptSelect's problem on random island pools (clients and candidates = pool minus the positive,
k - 1 medoids, w = coverage_weights); S* from the exact ILP (theory/ilp.py, shared with check 2).
Local optima are reached from two starts:
- "greedy": the registered `ampo_optselect` strategy as the pipeline runs it (greedy build, then
  best-improvement swaps, at most its default max_swaps);
- "random": uniformly random medoids, then swaps until no swap improves (a harder test of the bound).
Slack = 5 - Cost(S) / Cost(S*). Also checked: Cost(S) >= Cost(S*) (the ILP is optimal). The
empirical ratio distribution is reported (quantiles, fraction exactly optimal, histogram).
A run that stops at its swap limit is not a local optimum; such instances are counted and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from selection import coverage_cost, get_strategy

from .instances import (
    EXACT,
    LandscapeSpec,
    ampo_weights,
    local_search,
    make_landscapes,
    selections,
)
from .registry import register, result, violations

NAME = "local_search_ratio"
APPROXIMATION = 5.0  # 3 + 2/p with p = 1 swap
HIST_BINS = np.array(
    [0.0, 1.0 + 1e-9, 1.01, 1.02, 1.05, 1.1, 1.2, 1.5, 2.0, 5.0, 1e6]
)  # bin 0: optimal


@dataclass(frozen=True)
class LocalSearchConfig:
    instances: int = 300  # pools (one exact ILP solve each, shared with check 2)
    k: int = 8  # 1 positive + k - 1 medoids
    landscape: LandscapeSpec = field(default_factory=LandscapeSpec)
    max_swaps: int = 1000  # for the random start

    def __post_init__(self):
        if self.k < 2 or self.instances < 1 or self.max_swaps < 1:
            raise ValueError("need k >= 2, instances >= 1, max_swaps >= 1")


def ratios(cfg: LocalSearchConfig, seed: int) -> dict:
    """{start: (ratio (M,), converged (M,) bool)} of local-search cost over the ILP optimum."""
    land = make_landscapes(cfg.landscape, cfg.instances, seed)
    w = ampo_weights(land)
    chosen = selections(cfg.landscape, cfg.instances, seed, cfg.k, ["ampo_optselect"], exact=True)
    optimum = coverage_cost(land.distances, w, chosen[EXACT].negatives)  # (M,)
    greedy = coverage_cost(land.distances, w, chosen["ampo_optselect"].negatives)
    # The strategy's own swap limit; rerun to know whether it stopped before a local optimum.
    limit = get_strategy("ampo_optselect").options().max_swaps
    rerun = local_search(land, cfg.k, "greedy", seed, max_swaps=limit)
    rand = local_search(land, cfg.k, "random", seed, max_swaps=cfg.max_swaps)
    safe = np.where(optimum > 0, optimum, 1.0)
    return {
        "greedy": (greedy / safe, np.asarray(rerun.n_swaps) < limit),
        "random": (np.asarray(rand.cost) / safe, np.asarray(rand.n_swaps) < cfg.max_swaps),
    }


def distribution(ratio: np.ndarray) -> dict:
    q = np.quantile(ratio, [0.0, 0.5, 0.9, 0.99, 1.0])
    counts, _ = np.histogram(ratio, bins=HIST_BINS)
    names = ("min", "median", "p90", "p99", "max")
    return {key: float(val) for key, val in zip(names, q, strict=True)} | {
        "mean": float(ratio.mean()),
        "fraction_optimal": float(np.mean(ratio <= 1.0 + 1e-9)),
        "histogram": {"edges": HIST_BINS.tolist(), "counts": counts.tolist()},
    }


@register(
    NAME,
    "3",
    claim="Theorem 6.2: local search reaches a 5-approximation of the OptSelect optimum in "
    "polynomial time.",
    formalisation="For every single-swap local optimum S of Cost_w over the pool minus the positive "
    "(k - 1 medoids): Cost_w(S) <= 5 Cost_w(S*), S* the exact ILP optimum; local optima from the "
    "registered ampo_optselect (greedy build + swaps) and from random starts; also Cost_w(S) >= "
    "Cost_w(S*).",
    config=LocalSearchConfig,
)
def check_local_search_ratio(cfg: LocalSearchConfig, seed: int):
    """Check 3 (see the module docstring). Slack = 5 - ratio."""
    worst, bad, found = np.inf, [], {}
    for start, (ratio, converged) in ratios(cfg, seed).items():
        # The theorem covers local optima only; a run cut at its swap limit is reported apart.
        slack = np.where(converged, APPROXIMATION - ratio, np.inf)
        worst = min(worst, float(slack.min()))
        bad += violations(slack, APPROXIMATION, seed, start=start, statement="ratio <= 5")
        bad += violations(ratio - 1.0, 1.0, seed, start=start, statement="ILP optimal")
        found[start] = distribution(ratio) | {"not_converged": int(np.sum(~converged))}
    return result(NAME, cfg.instances, worst, not bad, ratio=found, violations=bad)
