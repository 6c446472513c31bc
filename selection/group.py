"""Assemble a selected group in the canonical order: the positive first, negatives by reward."""

from __future__ import annotations

from .arrays import gather


def with_positive(pool, positive, negatives):
    """indices (B, k) = [positive, negatives sorted by ascending reward]; positive position (B,) = 0.

    positive: (B,) pool index; negatives: (B, k - 1) pool indices.
    """
    xp = pool.xp
    order = xp.argsort(gather(pool.rewards, negatives), axis=1, stable=True)
    negatives = gather(negatives, order)
    indices = xp.concat([positive[:, None], negatives], axis=1)
    return indices, xp.zeros(positive.shape, dtype=xp.int64, device=pool.device)


def lowest(pool, members, m: int):
    """(B, m) indices of the m lowest-reward responses among `members` (B, N) bool."""
    xp = pool.xp
    keyed = xp.where(members, pool.rewards, xp.full_like(pool.rewards, xp.inf))
    return xp.argsort(keyed, axis=1, stable=True)[:, :m]
