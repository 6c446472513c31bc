"""`best_worst`: the DPO/SimPO on-policy pair, the highest- and the lowest-reward response."""

from __future__ import annotations

from ..group import lowest, with_positive
from ..registry import register


@register("best_worst", "the best and the worst response (DPO-style pair)", group_size=2)
def best_worst(pool, k, options):
    return with_positive(pool, pool.best, lowest(pool, pool.without_best(), 1))
