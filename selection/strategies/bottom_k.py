"""`bottom_k`: the k lowest-reward responses; the best of *them* is the positive.

A baseline that, unlike AMPO-Bottom-k, does not keep the pool's best response: it measures what
training on low-quality groups alone does.
"""

from __future__ import annotations

from ..group import lowest, with_positive
from ..registry import register


@register(
    "bottom_k",
    "the k lowest-reward responses, the best of them as positive (baseline)",
    keeps_best=False,
)
def bottom_k(pool, k, options):
    chosen = lowest(pool, pool.mask, k)  # (B, k) ascending reward
    return with_positive(pool, chosen[:, k - 1], chosen[:, : k - 1])
