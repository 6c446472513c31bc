"""`top_k`: the k highest-reward responses; the best of them (the pool's best) is the positive."""

from __future__ import annotations

from ..arrays import masked_argsort
from ..group import with_positive
from ..registry import register


@register("top_k", "the k highest-reward responses (baseline)")
def top_k(pool, k, options):
    order = masked_argsort(pool.rewards, pool.mask, descending=True)  # (B, N)
    return with_positive(pool, order[:, 0], order[:, 1:k])
