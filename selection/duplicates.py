"""Duplicate responses of a pool: found from its geometry, then collapsed to one copy or reported.

On-policy sampling returns the same answer many times. Two valid responses i, j of a pool are
duplicates when their squared distance is within rounding of zero relative to the pool's spread,

    D2_ij <= DUPLICATE_RTOL * spread,

and every pair is when the whole pool is flat (spread <= DUPLICATE_RTOL * magnitude: the embeddings
differ only by rounding noise of their norms).

duplicates="collapse" (the default of `select`): identical or near-identical responses count
once. The responses are visited in order of descending reward (ties: lower index first) and a
response is dropped (masked out before the strategy runs) when it duplicates one already kept.
So the best response, the positive, is always kept; of a group of copies the one with the
highest reward (then the lowest index) survives; no two kept responses are duplicates. The
relation is not transitive: of a chain a ~ b ~ c with a, c apart, a and c may both be kept.
duplicates="error": the first duplicate pair (or flat pool) raises a SelectionInputError.
"""

from __future__ import annotations

from .arrays import array_namespace, device, masked_argsort
from .validate import SelectionInputError, _first_true

COLLAPSE = "collapse"
ERROR = "error"
MODES = (COLLAPSE, ERROR)

# Squared distances at or below DUPLICATE_RTOL * spread count as duplicates, and a spread at or
# below DUPLICATE_RTOL * magnitude as zero variance: float32 arithmetic leaves relative errors of
# order sqrt(d) * 1.2e-7 of the magnitude, at most geometry.MAX_OFFSET times that of the spread.
DUPLICATE_RTOL = {4: 1e-4, 8: 1e-10}


def duplicate_pairs(geometry, mask):
    """(flat (B,), pairs (B, N, N)): flat pools, and the symmetric duplicate relation among the
    valid responses (False on the diagonal and on padding)."""
    d2 = geometry.sqdist
    xp = array_namespace(d2)
    rtol = DUPLICATE_RTOL[8 if d2.dtype == xp.float64 else 4]
    flat = geometry.spread <= rtol * geometry.magnitude  # (B,)
    size = d2.shape[1]
    idx = xp.arange(size, device=device(d2))
    other = idx[:, None] != idx[None, :]  # (N, N)
    pair = mask[:, :, None] & mask[:, None, :] & other
    close = d2 <= rtol * geometry.spread[:, None, None]
    return flat, pair & (close | flat[:, None, None])


def keep_distinct(pairs, rewards, mask):
    """(B, N) bool: the responses kept when duplicates collapse (module docstring).

    pairs: (B, N, N) duplicate relation; rewards: (B, N); mask: (B, N) valid responses.
    Batched over B, one step per rank.
    """
    xp = array_namespace(pairs)
    b, n, _ = pairs.shape
    order = masked_argsort(rewards, mask, descending=True)  # (B, N) rank -> index
    rows = xp.take_along_axis(pairs, xp.broadcast_to(order[:, :, None], (b, n, n)), axis=1)
    ranked = xp.take_along_axis(rows, xp.broadcast_to(order[:, None, :], (b, n, n)), axis=2)
    valid = xp.take_along_axis(mask, order, axis=1)  # (B, N) in rank order
    ranks = xp.arange(n, device=device(pairs))
    kept = xp.zeros((b, n), dtype=xp.bool, device=device(pairs))  # in rank order
    for rank in range(n):
        copy = xp.any(kept & ranked[:, rank, :], axis=1)  # (B,) duplicates a kept response
        keep = valid[:, rank] & ~copy
        kept = kept | ((ranks == rank)[None, :] & keep[:, None])
    inverse = xp.argsort(order, axis=1)  # index -> rank
    return xp.take_along_axis(kept, inverse, axis=1)


def report(flat, pairs, mask, row_offset: int = 0) -> None:
    """duplicates="error": raise on the first flat pool, else on the first duplicate pair."""
    xp = array_namespace(pairs)
    if bool(xp.any(flat)):
        (b,) = _first_true(flat)
        n = int(xp.sum(xp.astype(mask[b, ...], xp.int64)))
        raise SelectionInputError(
            f"all {n} embeddings are identical (zero variance); "
            "a distance-based strategy cannot tell the responses apart "
            f"(duplicates={COLLAPSE!r} keeps one of them)",
            prompt=b + row_offset,
            field="embeddings",
        )
    size = pairs.shape[1]
    idx = xp.arange(size, device=device(pairs))
    upper = pairs & (idx[:, None] < idx[None, :])  # each pair once, i < j
    if bool(xp.any(upper)):
        b, i, j = _first_true(upper)
        raise SelectionInputError(
            f"responses {i} and {j} have identical embeddings (duplicate responses); "
            f"deduplicate the pool before selection, or pass duplicates={COLLAPSE!r}",
            prompt=b + row_offset,
            field="embeddings",
        )


def resolve_duplicates(geometry, rewards, mask, k: int, mode: str, row_offset: int = 0):
    """Apply the duplicates mode: (mask (B, N) without the dropped copies, collapsed (B,) int64).

    Raises when mode is "error" and a pool holds duplicates, or when collapsing leaves a pool
    with fewer than k distinct responses.
    """
    xp = array_namespace(rewards)
    flat, pairs = duplicate_pairs(geometry, mask)
    none = xp.zeros(rewards.shape[:1], dtype=xp.int64, device=device(rewards))
    if not bool(xp.any(pairs)):
        return mask, none
    if mode == ERROR:
        report(flat, pairs, mask, row_offset)
    kept = keep_distinct(pairs, rewards, mask)
    n_valid = xp.sum(xp.astype(mask, xp.int64), axis=1)  # (B,)
    n_kept = xp.sum(xp.astype(kept, xp.int64), axis=1)
    short = n_kept < k
    if bool(xp.any(short)):
        (b,) = _first_true(short)
        distinct, total = int(n_kept[b]), int(n_valid[b])
        raise SelectionInputError(
            f"k={k} exceeds the {distinct} distinct responses of the pool: {total - distinct} "
            f"of its {total} responses were collapsed as duplicates of others",
            prompt=b + row_offset,
            field="k",
        )
    return kept, n_valid - n_kept
