"""Batched weighted k-medoids: greedy build, then single-swap local search (PAM; Kaufman & Rousseeuw).

Minimises the AMPO-OptSelect objective Cost(S) = sum_i w_i min_{j in S} A_ij (selection.objective)
over sets S of m medoids drawn from the candidates, optionally with medoids fixed in S. The swap
phase applies, per pool and iteration, the single swap (medoid out, candidate in) that lowers the
cost most, until no swap lowers it: a local optimum for single swaps, which Arya et al. (2004)
show is within a factor 5 of the optimum (Theorem 6.2 of the AMPO paper; checked in theory/).

The change of cost of swapping medoid s for candidate h decomposes (FastPAM1, Schubert &
Rousseeuw, 2019) with d1_i, d2_i the distances of client i to its nearest and second-nearest
medoid and n1(i) the nearest one:

    delta(s, h) = sum_i w_i (min(A_ih, d1_i) - d1_i)
                + sum_{i: n1(i) = s} w_i (min(A_ih, d2_i) - min(A_ih, d1_i)),

so one iteration costs O(N^2 m) per pool for all (s, h) pairs at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .arrays import array_namespace, device, gather_rows, matmul, one_hot

# A swap must lower the cost by more than SWAP_RTOL machine epsilons of it (guards against
# cycling on rounding noise).
SWAP_RTOL = 64


@dataclass(frozen=True)
class KMedoidsResult:
    medoids: object  # (B, m_fixed + m) int64: fixed medoids first, then the chosen ones
    cost: object  # (B,) weighted coverage cost
    n_swaps: object  # (B,) swaps applied per pool


def greedy_build(dist, weights, candidates, m: int, fixed=None):
    """Add m medoids one at a time, each the candidate lowering the cost most (PAM's BUILD).

    dist: (B, N, N); weights: (B, N) >= 0 (0 = not a client); candidates: (B, N) bool;
    fixed: (B, f) medoids already in S, or None. Returns (B, m) indices.
    """
    xp = array_namespace(dist)
    b, n, _ = dist.shape
    nearest = xp.full((b, n), xp.inf, dtype=dist.dtype, device=device(dist))
    taken = xp.zeros((b, n), dtype=xp.bool, device=device(dist))
    if fixed is not None:
        for f in range(fixed.shape[1]):
            nearest = xp.minimum(nearest, gather_rows(dist, fixed[:, f]))
            taken = taken | one_hot(fixed[:, f], n)
    chosen = []
    for _ in range(m):
        covered = xp.minimum(nearest[:, :, None], dist)  # (B, N_client, N_cand)
        cost = xp.sum(weights[:, :, None] * covered, axis=1)  # (B, N_cand)
        cost = xp.where(candidates & ~taken, cost, xp.full_like(cost, xp.inf))
        j = xp.argmin(cost, axis=1)  # (B,)
        chosen.append(j)
        taken = taken | one_hot(j, n)
        nearest = xp.minimum(nearest, gather_rows(dist, j))
    return xp.stack(chosen, axis=1)


def _nearest_two(dist, medoids):
    """For each client: nearest medoid distance d1, its slot n1, second-nearest distance d2."""
    xp = array_namespace(dist)
    b, n, _ = dist.shape
    m = medoids.shape[1]
    to_med = xp.take_along_axis(dist, xp.broadcast_to(medoids[:, None, :], (b, n, m)), axis=2)
    order = xp.argsort(to_med, axis=2, stable=True)  # (B, N, m)
    d_sorted = xp.take_along_axis(to_med, order, axis=2)
    d1 = d_sorted[:, :, 0]
    d2 = d_sorted[:, :, 1] if m > 1 else xp.full_like(d1, xp.inf)
    return d1, order[:, :, 0], d2


def _best_swaps(dist, weights, candidates, medoids, n_fixed: int):
    """Per pool, the best single swap: (slot (B,), candidate (B,), cost change (B,), cost (B,))."""
    xp = array_namespace(dist)
    b, n, _ = dist.shape
    m = medoids.shape[1]
    slots = xp.arange(m, device=device(dist))
    d1, n1, d2 = _nearest_two(dist, medoids)  # (B, N) each
    cost = xp.sum(weights * d1, axis=1)  # (B,)
    close1 = xp.minimum(dist, d1[:, :, None])  # (B, N_client, N_cand): min(A_ih, d1_i)
    close2 = xp.minimum(dist, d2[:, :, None])
    add = xp.sum(weights[:, :, None] * (close1 - d1[:, :, None]), axis=1)  # (B, N_cand)
    loss = weights[:, :, None] * (close2 - close1)  # (B, N_client, N_cand)
    owner = xp.astype(n1[:, :, None] == slots[None, None, :], dist.dtype)  # (B, N, m)
    delta = add[:, None, :] + matmul(xp.matrix_transpose(owner), loss)  # (B, m, N_cand)
    taken = xp.any(medoids[:, :, None] == xp.arange(n, device=device(dist)), axis=1)  # (B, N)
    allowed = (candidates & ~taken)[:, None, :] & (slots >= n_fixed)[None, :, None]
    delta = xp.where(allowed, delta, xp.full_like(delta, xp.inf))
    flat = xp.reshape(delta, (b, m * n))
    best = xp.argmin(flat, axis=1)  # (B,)
    gain = xp.take_along_axis(flat, best[:, None], axis=1)[:, 0]
    return best // n, best % n, gain, cost


def swap_search(dist, weights, candidates, medoids, n_fixed: int = 0, max_swaps: int = 100):
    """Best-improvement single-swap local search from `medoids` (B, m); the first n_fixed stay.

    Pools leave the working set as soon as no swap improves them, so later iterations only
    touch the pools still moving; the finished pieces are put back in row order at the end.
    """
    xp = array_namespace(dist)
    full_dist, full_weights = dist, weights
    m = medoids.shape[1]
    rtol = SWAP_RTOL * float(xp.finfo(dist.dtype).eps)
    slots = xp.arange(m, device=device(dist))
    rows = xp.arange(dist.shape[0], device=device(dist))  # original row of each working pool
    swaps = xp.zeros(rows.shape, dtype=xp.int64, device=device(dist))
    done_rows, done_medoids, done_swaps = [], [], []
    for step in range(max_swaps + 1):
        slot, into, gain, cost = _best_swaps(dist, weights, candidates, medoids, n_fixed)
        improve = gain < -rtol * cost  # (B_work,)
        if step == max_swaps:
            improve = xp.zeros_like(improve)
        if not bool(xp.all(improve)):  # retire the pools that are at a local optimum
            stay = xp.nonzero(improve)[0]
            still = xp.nonzero(~improve)[0]
            done_rows.append(xp.take(rows, still, axis=0))
            done_medoids.append(xp.take(medoids, still, axis=0))
            done_swaps.append(xp.take(swaps, still, axis=0))
            dist, weights, candidates = (
                xp.take(a, stay, axis=0) for a in (dist, weights, candidates)
            )
            rows, medoids, swaps = (xp.take(a, stay, axis=0) for a in (rows, medoids, swaps))
            slot, into = xp.take(slot, stay, axis=0), xp.take(into, stay, axis=0)
        if rows.shape[0] == 0:
            break
        replace = slots[None, :] == slot[:, None]  # (B_work, m)
        medoids = xp.where(replace, xp.broadcast_to(into[:, None], medoids.shape), medoids)
        swaps = swaps + 1
    order = xp.argsort(xp.concat(done_rows))
    medoids = xp.take(xp.concat(done_medoids, axis=0), order, axis=0)
    d1, _, _ = _nearest_two(full_dist, medoids)
    cost = xp.sum(full_weights * d1, axis=1)
    return KMedoidsResult(medoids, cost, xp.take(xp.concat(done_swaps), order, axis=0))


def kmedoids(dist, weights, candidates, m: int, fixed=None, max_swaps: int = 100):
    """Weighted k-medoids: greedy build of m medoids (after `fixed` (B, f)), then swap search."""
    xp = array_namespace(dist)
    chosen = greedy_build(dist, weights, candidates, m, fixed)
    n_fixed = 0 if fixed is None else fixed.shape[1]
    start = chosen if fixed is None else xp.concat([fixed, chosen], axis=1)
    return swap_search(dist, weights, candidates, start, n_fixed, max_swaps)
