"""Farthest-first traversal (Gonzalez, 1985), batched: the greedy 2-approximation of k-center."""

from __future__ import annotations

from .arrays import array_namespace, gather_rows, one_hot


def farthest_first(dist, candidates, first, m: int):
    """Pick m points per pool: `first`, then repeatedly the candidate farthest from those picked.

    dist: (B, N, N) distances; candidates: (B, N) bool; first: (B,) start index (need not be a
    candidate: it is picked, but only candidates follow). Ties go to the lowest index.
    Returns (B, m) indices in the order picked.
    """
    xp = array_namespace(dist)
    n = dist.shape[1]
    picked = [first]
    taken = one_hot(first, n)  # (B, N)
    nearest = gather_rows(dist, first)  # (B, N) distance to the closest picked point
    for _ in range(m - 1):
        score = xp.where(candidates & ~taken, nearest, xp.full_like(nearest, -xp.inf))
        nxt = xp.argmax(score, axis=1)  # (B,)
        picked.append(nxt)
        taken = taken | one_hot(nxt, n)
        nearest = xp.minimum(nearest, gather_rows(dist, nxt))
    return xp.stack(picked, axis=1)
