"""`ampo_bottomk`: AMPO-Bottom-k (PAPER.md section 2) — the best response as positive and the
k - 1 lowest-reward responses as negatives."""

from __future__ import annotations

from ..group import lowest, with_positive
from ..registry import register


@register("ampo_bottomk", "AMPO-Bottom-k: best + the k-1 lowest-reward responses")
def ampo_bottomk(pool, k, options):
    return with_positive(pool, pool.best, lowest(pool, pool.without_best(), k - 1))
