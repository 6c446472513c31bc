"""`random`: the best response as positive plus k - 1 negatives drawn uniformly without replacement."""

from __future__ import annotations

from ..group import with_positive
from ..registry import register


@register("random", "best response + k-1 uniformly random others (baseline)", uses_rng=True)
def random_k(pool, k, options):
    # A uniform random subset is the k - 1 smallest of i.i.d. uniform priorities.
    xp = pool.xp
    priority = pool.uniform(0, pool.shape[1])  # (B, N)
    keyed = xp.where(pool.without_best(), priority, xp.full_like(priority, xp.inf))
    negatives = xp.argsort(keyed, axis=1, stable=True)[:, : k - 1]
    return with_positive(pool, pool.best, negatives)
