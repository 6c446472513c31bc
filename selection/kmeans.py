"""Batched k-means (Lloyd's algorithm) on precomputed squared distances, with k-means++ seeding.

For a cluster C with members j, the squared distance from point i to its centroid is

    ||e_i - mu_C||^2 = (1/|C|) sum_{j in C} D2_ij - (1/(2|C|^2)) sum_{j,l in C} D2_jl,

so Lloyd's iterations run on the (B, N, N) matrix D2 alone, exactly as k-means in the embedding
space would (the same assignments from the same initial centres as scikit-learn's `KMeans` with
algorithm="lloyd"), at O(N^2 c) per iteration instead of O(N c d).

Seeding is greedy k-means++ (Arthur & Vassilvitskii, 2007) with 2 + floor(ln c) local trials per
centre, as scikit-learn does, or deterministic maximin (farthest-first from the lowest-reward point).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .arrays import array_namespace, device, gather, gather_rows, matmul
from .farthest import farthest_first

# Random streams of one prompt used by the seeding: stream = restart * STREAMS_PER_RESTART + step.
STREAMS_PER_RESTART = 1024


@dataclass(frozen=True)
class KMeansResult:
    labels: object  # (B, N) int64 cluster of each point, -1 on non-members
    centers: object  # (B, c) int64 index of each initial centre (the seeding)
    inertia: object  # (B,) sum of squared distances to the assigned centroid
    n_iter: int


def categorical(weights, u):
    """Inverse-CDF draw: weights (B, N) >= 0 with positive row sums, u (B, L) in (0, 1] -> (B, L).

    Index i is drawn with probability weights_i / sum(weights); zero-weight entries never are.
    """
    xp = array_namespace(weights)
    cdf = xp.cumulative_sum(weights, axis=1)  # (B, N)
    x = u * cdf[:, -1:]  # (B, L) in (0, total]
    idx = xp.sum(xp.astype(cdf[:, None, :] < x[:, :, None], xp.int64), axis=2)  # (B, L)
    return xp.clip(idx, max=weights.shape[1] - 1)


def kmeanspp(d2, members, c: int, uniform, restart: int = 0):
    """Greedy k-means++ seeding: (B, c) indices of initial centres among `members` (B, N) bool.

    uniform(stream, n) -> (B, n) draws in (0, 1]. The first centre is uniform over the members;
    each next one is the best (lowest potential) of L candidates drawn with probability
    proportional to the squared distance to the closest centre so far.
    """
    xp = array_namespace(d2)
    n_trials = 2 + int(math.log(c))
    base = restart * STREAMS_PER_RESTART
    weights = xp.astype(members, d2.dtype)
    first = categorical(weights, uniform(base, 1))[:, 0]  # (B,)
    centers = [first]
    closest = gather_rows(d2, first) * weights  # (B, N)
    for step in range(1, c):
        cand = categorical(closest, uniform(base + step, n_trials))  # (B, L)
        b, _, n = d2.shape
        rows = xp.take_along_axis(
            d2, xp.broadcast_to(cand[:, :, None], (b, n_trials, n)), axis=1
        )  # (B, L, N)
        trial = xp.minimum(closest[:, None, :], rows * weights[:, None, :])  # (B, L, N)
        potential = xp.sum(trial, axis=2)  # (B, L)
        pick = xp.argmin(potential, axis=1)  # (B,)
        centers.append(gather(cand, pick[:, None])[:, 0])
        closest = gather_rows(trial, pick)
    return xp.stack(centers, axis=1)


def maximin(d2, members, c: int, start):
    """Deterministic seeding: farthest-first traversal among `members` from `start` (B,)."""
    xp = array_namespace(d2)
    return farthest_first(xp.sqrt(d2), members, start, c)


def _centroid_sqdist(d2, labels, members, c: int):
    """(B, N, c) squared distance of every point to every cluster centroid; inf for empty clusters."""
    xp = array_namespace(d2)
    z = xp.astype(
        members[:, :, None] & (labels[:, :, None] == xp.arange(c, device=device(d2))), d2.dtype
    )
    count = xp.sum(z, axis=1)  # (B, c)
    s = matmul(d2, z)  # (B, N, c): sum_{j in C} D2_ij
    within = xp.sum(z * s, axis=1)  # (B, c): sum_{j,l in C} D2_jl
    safe = xp.where(count > 0, count, xp.ones_like(count))
    dist = s / safe[:, None, :] - (within / (2.0 * safe * safe))[:, None, :]
    dist = xp.clip(dist, min=0.0)
    return xp.where((count > 0)[:, None, :], dist, xp.full_like(dist, xp.inf)), count


def _counts(labels, members, c: int):
    """(B, c) number of members in each cluster."""
    xp = array_namespace(labels)
    hit = members[:, :, None] & (labels[:, :, None] == xp.arange(c, device=device(labels)))
    return xp.sum(xp.astype(hit, xp.int64), axis=1)


def _fill_empty(d2, labels, members, c: int):
    """Move the members farthest from their centroids into the empty clusters, one each (the
    relocation scikit-learn's Lloyd iterations apply), all pools at once."""
    xp = array_namespace(d2)
    n = d2.shape[1]
    if bool(xp.all(_counts(labels, members, c) > 0)):
        return labels
    dist, count = _centroid_sqdist(d2, labels, members, c)
    own = xp.take_along_axis(dist, xp.clip(labels, min=0)[:, :, None], axis=2)[:, :, 0]  # (B, N)
    own = xp.where(members, own, xp.full_like(own, -xp.inf))
    farthest = xp.argsort(own, axis=1, descending=True, stable=True)  # (B, N)
    empty = count == 0  # (B, c)
    rank = xp.cumulative_sum(xp.astype(empty, xp.int64), axis=1) - 1  # r-th empty cluster
    chosen = gather(farthest, xp.clip(rank, min=0))  # (B, c) the point each empty cluster gets
    moved = (chosen[:, :, None] == xp.arange(n, device=device(d2))) & empty[:, :, None]
    target = xp.argmax(xp.astype(moved, xp.int64), axis=1)  # (B, N)
    return xp.where(xp.any(moved, axis=1), target, labels)


def lloyd(d2, members, centers, max_iter: int = 300):
    """Lloyd's iterations from initial centres (B, c) until no assignment changes.

    Returns (labels (B, N) with -1 on non-members, inertia (B,), iterations run).
    """
    xp = array_namespace(d2)
    b, n, _ = d2.shape
    c = centers.shape[1]
    init = xp.take_along_axis(d2, xp.broadcast_to(centers[:, None, :], (b, n, c)), axis=2)
    labels = xp.argmin(init, axis=2)  # (B, N)
    labels = xp.where(members, labels, xp.full_like(labels, -1))
    labels = _fill_empty(d2, labels, members, c)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        dist, _ = _centroid_sqdist(d2, labels, members, c)
        new = xp.where(members, xp.argmin(dist, axis=2), xp.full_like(labels, -1))
        new = _fill_empty(d2, new, members, c)
        if bool(xp.all(new == labels)):
            break
        labels = new
    dist, _ = _centroid_sqdist(d2, labels, members, c)
    own = xp.take_along_axis(dist, xp.clip(labels, min=0)[:, :, None], axis=2)[:, :, 0]
    inertia = xp.sum(xp.where(members, own, xp.zeros_like(own)), axis=1)
    return labels, inertia, n_iter


def kmeans(d2, members, c: int, *, init, uniform=None, start=None, n_init=1, max_iter=300):
    """Batched k-means of the `members` (B, N) of each pool into c clusters.

    init: "kmeans++" (needs uniform) or "maximin" (needs start (B,)); with n_init > 1 restarts
    (k-means++ only) the run of lowest inertia is kept per pool.
    """
    xp = array_namespace(d2)
    best = None
    for restart in range(n_init if init == "kmeans++" else 1):
        if init == "kmeans++":
            centers = kmeanspp(d2, members, c, uniform, restart)
        else:
            centers = maximin(d2, members, c, start)
        labels, inertia, n_iter = lloyd(d2, members, centers, max_iter)
        run = KMeansResult(labels, centers, inertia, n_iter)
        if best is None:
            best = run
            continue
        better = inertia < best.inertia  # (B,)
        best = KMeansResult(
            xp.where(better[:, None], labels, best.labels),
            xp.where(better[:, None], centers, best.centers),
            xp.where(better, inertia, best.inertia),
            max(n_iter, best.n_iter),
        )
    return best
