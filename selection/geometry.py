"""Pairwise geometry of each pool, computed once per batch and shared by every distance rule.

All distance-based strategies need only the (B, N, N) matrix of squared Euclidean distances: the
d-dimensional work is one batched Gram product of the per-pool centred embeddings,

    D2_ij = ||c_i||^2 + ||c_j||^2 - 2 <c_i, c_j>,      c_i = e_i - mean_j e_j  (valid j),

after which clustering, medoids, farthest-first and DPP kernels cost O(N^2) per pool, independent
of d. Centring first keeps the cancellation error relative to the pool's spread, not to its
distance from the origin, so results are invariant to translating the embeddings.
"""

from __future__ import annotations

from .arrays import array_namespace, device
from .validate import SelectionInputError, _first_true

# Squared distances at or below DUPLICATE_RTOL * (mean centred squared norm) count as duplicates,
# and a spread at or below DUPLICATE_RTOL * (mean squared norm) as zero variance: float32
# arithmetic leaves relative errors of order sqrt(d) * 1.2e-7.
DUPLICATE_RTOL = {4: 1e-4, 8: 1e-10}


def work_dtype(embeddings):
    """float64 for float64 embeddings, float32 otherwise (half precision is upcast)."""
    xp = array_namespace(embeddings)
    return xp.float64 if embeddings.dtype == xp.float64 else xp.float32


def squared_distances(embeddings, mask):
    """Squared Euclidean distances (B, N, N) in float64, and per pool (B,) the spread (mean centred
    squared norm) and the magnitude (mean squared norm, spread + squared norm of the mean).

    embeddings: (B, N, d) any float dtype (half precision is upcast to float32 for the product);
    mask: (B, N) bool, padding rows are ignored and get distance 0.
    """
    xp = array_namespace(embeddings)
    work = work_dtype(embeddings)
    e = xp.astype(embeddings, work, copy=False)  # (B, N, d)
    full = bool(xp.all(mask))
    if not full:  # padding rows may hold anything, NaN included
        e = xp.where(mask[:, :, None], e, xp.zeros_like(e))
    n = xp.sum(xp.astype(mask, work), axis=1)  # (B,)
    mean = xp.sum(e, axis=1) / n[:, None]  # (B, d)
    c = e - mean[:, None, :]  # (B, N, d) centred
    if not full:
        c = xp.where(mask[:, :, None], c, xp.zeros_like(c))
    gram = xp.astype(c @ xp.matrix_transpose(c), xp.float64)  # (B, N, N)
    size = gram.shape[1]
    eye = xp.eye(size, dtype=xp.float64, device=device(gram))
    sq = xp.sum(gram * eye[None, :, :], axis=2)  # (B, N) centred squared norms
    d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * gram
    off_diag = eye == 0.0
    pair = mask[:, :, None] & mask[:, None, :] & off_diag  # (B, N, N)
    d2 = xp.where(pair, xp.clip(d2, min=0.0), xp.zeros_like(d2))
    spread = xp.sum(sq, axis=1) / xp.astype(n, xp.float64)  # (B,)
    magnitude = spread + xp.astype(xp.sum(mean * mean, axis=1), xp.float64)
    return d2, spread, magnitude


def check_geometry(d2, spread, magnitude, mask, work_bytes: int, row_offset: int = 0) -> None:
    """Reject pools whose embeddings have zero variance or contain duplicate responses."""
    xp = array_namespace(d2)
    rtol = DUPLICATE_RTOL[work_bytes]
    flat = spread <= rtol * magnitude  # (B,) the spread is rounding noise of the magnitude
    if bool(xp.any(flat)):
        (b,) = _first_true(flat)
        n = int(xp.sum(xp.astype(mask[b, ...], xp.int64)))
        raise SelectionInputError(
            f"all {n} embeddings are identical (zero variance); "
            "a distance-based strategy cannot tell the responses apart",
            prompt=b + row_offset,
            field="embeddings",
        )
    size = d2.shape[1]
    idx = xp.arange(size, device=device(d2))
    upper = idx[:, None] < idx[None, :]  # (N, N) pairs i < j
    pair = mask[:, :, None] & mask[:, None, :] & upper
    tol = rtol * spread[:, None, None]
    dup = pair & (d2 <= tol)
    if bool(xp.any(dup)):
        b, i, j = _first_true(dup)
        raise SelectionInputError(
            f"responses {i} and {j} have identical embeddings (duplicate responses); "
            "deduplicate the pool before selection",
            prompt=b + row_offset,
            field="embeddings",
        )
