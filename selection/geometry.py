"""Pairwise geometry of each pool, computed once per batch and shared by every distance rule.

All distance-based strategies need only the (B, N, N) matrix of squared Euclidean distances: the
d-dimensional work is one batched Gram product G = E E^T per chunk of pools,

    D2_ij = G_ii + G_jj - 2 G_ij,

after which clustering, medoids, farthest-first and DPP kernels cost O(N^2) per pool, independent
of d. The cancellation error of that identity is relative to the pool's mean squared norm (its
"magnitude"), not to its spread around its own mean; when the magnitude exceeds MAX_OFFSET times
the spread (embeddings far from the origin relative to their spread, e.g. after a translation),
the chunk is recomputed from per-pool centred embeddings, so results stay invariant to
translating the embeddings. Distances come back in the embeddings' working precision (float64
for float64 input, float32 otherwise).
"""

from __future__ import annotations

from .arrays import array_namespace, device, matmul
from .validate import SelectionInputError, _first_true

# Squared distances at or below DUPLICATE_RTOL * spread count as duplicates, and a spread at or
# below DUPLICATE_RTOL * magnitude as zero variance: float32 arithmetic leaves relative errors of
# order sqrt(d) * 1.2e-7 of the magnitude, at most MAX_OFFSET times that of the spread.
DUPLICATE_RTOL = {4: 1e-4, 8: 1e-10}
MAX_OFFSET = {4: 10.0, 8: 1e3}


def work_dtype(embeddings):
    """float64 for float64 embeddings, float32 otherwise (half precision is upcast)."""
    xp = array_namespace(embeddings)
    return xp.float64 if embeddings.dtype == xp.float64 else xp.float32


def _distances_from_gram(gram, mask):
    """D2 (B, N, N), spread (B,) and magnitude (B,) from Gram matrices of zero-padded rows."""
    xp = array_namespace(gram)
    size = gram.shape[1]
    eye = xp.eye(size, dtype=gram.dtype, device=device(gram))
    sq = xp.sum(gram * eye[None, :, :], axis=2)  # (B, N) squared norms
    m = xp.astype(mask, gram.dtype)
    n = xp.sum(m, axis=1)  # (B,)
    magnitude = xp.sum(sq, axis=1) / n  # mean squared norm
    offset = xp.sum(m[:, :, None] * gram * m[:, None, :], axis=(1, 2)) / (n * n)  # ||mean||^2
    spread = xp.clip(magnitude - offset, min=0.0)  # mean squared norm around the pool's mean
    d2 = sq[:, :, None] + sq[:, None, :] - 2.0 * gram
    pair = mask[:, :, None] & mask[:, None, :] & (eye == 0.0)  # (B, N, N)
    d2 = xp.where(pair, xp.clip(d2, min=0.0), xp.zeros_like(d2))
    return d2, spread, magnitude, sq


def squared_distances(embeddings, mask):
    """Squared Euclidean distances (B, N, N), per pool (B,) the spread (mean squared norm around
    the pool's mean) and the magnitude (mean squared norm), and the squared norms (B, N) (not
    finite exactly where an embedding is not, barring float overflow).

    embeddings: (B, N, d) any float dtype (half precision is upcast to float32);
    mask: (B, N) bool, padding rows are ignored and get distance 0.
    """
    xp = array_namespace(embeddings)
    work = work_dtype(embeddings)
    e = xp.astype(embeddings, work, copy=False)  # (B, N, d)
    if not bool(xp.all(mask)):  # padding rows may hold anything, NaN included
        e = xp.where(mask[:, :, None], e, xp.zeros_like(e))
    d2, spread, magnitude, sq = _distances_from_gram(matmul(e, xp.matrix_transpose(e)), mask)
    nbytes = 8 if work == xp.float64 else 4
    if bool(xp.any(magnitude > MAX_OFFSET[nbytes] * spread)):
        n = xp.sum(xp.astype(mask, work), axis=1)  # (B,)
        mean = xp.sum(e, axis=1) / n[:, None]  # (B, d)
        c = xp.where(mask[:, :, None], e - mean[:, None, :], xp.zeros_like(e))  # centred
        d2, spread, _, _ = _distances_from_gram(matmul(c, xp.matrix_transpose(c)), mask)
    return d2, spread, magnitude, sq


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
