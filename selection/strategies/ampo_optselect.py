"""`ampo_optselect`: AMPO-OptSelect (PAPER.md section 2), the local-search heuristic.

The best response is the positive; the k - 1 negatives are the medoids S minimising the weighted
coverage cost Cost(S) = sum_i w_i min_{j in S} A_ij with w_i = exp((rbar - r_i) / tau)
(selection.objective), found by greedy build and single-swap local search (selection.kmedoids),
a 5-approximation of the optimum (Theorem 6.2). The exact integer program is theory.ilp.

remove_positive=True (default, [U]): clients and candidates are the pool without the positive.
remove_positive=False: every response is a client and the positive is a fixed medoid, so the
negatives cover what the positive does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..group import with_positive
from ..kmedoids import kmedoids
from ..objective import coverage_weights
from ..registry import register
from ..validate import check_int, check_positive


@dataclass(frozen=True)
class OptSelectOptions:
    temperature: float = 1.0  # tau of w_i = exp((rbar - r_i) / tau); 1 is the paper's rule
    remove_positive: bool = True  # cover the pool without the positive [U]
    max_swaps: int = 100  # local-search iterations at most

    def __post_init__(self):
        check_positive(self.temperature, "temperature")
        check_int(self.max_swaps, "max_swaps", 0)


@register(
    "ampo_optselect",
    "AMPO-OptSelect: best + k-1 weighted k-medoids (greedy build + swap local search)",
    options=OptSelectOptions,
    needs_embeddings=True,
)
def ampo_optselect(pool, k, options):
    candidates = pool.without_best()
    clients = candidates if options.remove_positive else pool.mask
    fixed = None if options.remove_positive else pool.best[:, None]
    weights = coverage_weights(pool.rewards, clients, options.temperature)  # (B, N)
    weights = pool.xp.astype(weights, pool.dist.dtype)
    result = kmedoids(pool.dist, weights, candidates, k - 1, fixed, options.max_swaps)
    negatives = result.medoids if fixed is None else result.medoids[:, 1:]
    return with_positive(pool, pool.best, negatives)
