"""`ampo_coreset`: AMPO-Coreset (PAPER.md section 2).

The best response is the positive. The remaining pool is clustered into k - 1 clusters by k-means
in embedding space, and each cluster contributes its lowest-reward response as a negative, so the
negatives cover the distinct semantic regions of the pool while staying as bad as possible
within each. Whether the paper clusters the pool with or without the positive is not stated
([U] in PAPER.md): `remove_positive` chooses, default True.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arrays import one_hot
from ..group import lowest, with_positive
from ..kmeans import kmeans
from ..registry import register
from ..validate import check_choice, check_int

INITS = ("kmeans++", "maximin")


@dataclass(frozen=True)
class CoresetOptions:
    remove_positive: bool = True  # cluster the pool without the positive [U]; default True
    init: str = (
        "kmeans++"  # "kmeans++" (random, greedy with local trials) or "maximin" (farthest-first)
    )
    n_init: int = 1  # k-means++ restarts; the lowest-inertia run is kept per prompt
    max_iter: int = 300  # Lloyd iterations at most

    def __post_init__(self):
        check_choice(self.init, "init", INITS)
        check_int(self.n_init, "n_init", 1)
        check_int(self.max_iter, "max_iter", 1)


@register(
    "ampo_coreset",
    "AMPO-Coreset: best + the lowest-reward response of each of k-1 k-means clusters",
    options=CoresetOptions,
    needs_embeddings=True,
    uses_rng=True,
)
def ampo_coreset(pool, k, options):
    xp = pool.xp
    c = k - 1
    n = pool.shape[1]
    members = pool.without_best() if options.remove_positive else pool.mask
    result = kmeans(
        pool.sqdist,
        members,
        c,
        init=options.init,
        uniform=pool.uniform,
        start=lowest(pool, members, 1)[:, 0],
        n_init=options.n_init,
        max_iter=options.max_iter,
    )
    clusters = xp.arange(c, device=pool.device)
    member_of = result.labels[:, None, :] == clusters[None, :, None]  # (B, c, N)
    member_of = member_of & ~one_hot(pool.best, n)[:, None, :]
    rewards = xp.broadcast_to(pool.rewards[:, None, :], member_of.shape)
    keyed = xp.where(member_of, rewards, xp.full_like(rewards, xp.inf))
    reps = xp.argmin(keyed, axis=2)  # (B, c) lowest-reward member of each cluster
    # Only with remove_positive=False: a cluster holding the positive alone has no negative to
    # give; it takes the lowest-reward response not chosen yet instead.
    lonely = ~xp.any(member_of, axis=2)  # (B, c)
    if bool(xp.any(lonely)):
        pool_index = xp.arange(n, device=pool.device)
        chosen = xp.any((reps[:, :, None] == pool_index) & ~lonely[:, :, None], axis=1)  # (B, N)
        spare = lowest(pool, pool.without_best() & ~chosen, 1)  # (B, 1)
        reps = xp.where(lonely, xp.broadcast_to(spare, reps.shape), reps)
    return with_positive(pool, pool.best, reps)
