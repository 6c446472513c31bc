"""`kcenter`: farthest-first traversal seeded with the positive (Gonzalez's 2-approximation of
k-center). Not in the AMPO paper: the natural max-coverage competitor of AMPO-Coreset — each next
negative is the response farthest from everything already selected."""

from __future__ import annotations

from ..farthest import farthest_first
from ..group import with_positive
from ..registry import register


@register(
    "kcenter",
    "best + farthest-first traversal in embedding space (k-center, beyond the paper)",
    needs_embeddings=True,
)
def kcenter(pool, k, options):
    picked = farthest_first(pool.dist, pool.mask, pool.best, k)  # (B, k), picked[:, 0] = best
    return with_positive(pool, pool.best, picked[:, 1:])
