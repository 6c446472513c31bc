"""Pairwise geometry of each pool, computed once per batch and shared by every distance rule.

All distance-based strategies need only the (B, N, N) matrix of squared Euclidean distances: the
d-dimensional work is one batched Gram product G = E E^T per chunk of pools,

    D2_ij = G_ii + G_jj - 2 G_ij,

after which clustering, medoids, farthest-first and DPP kernels cost O(N^2) per pool, independent
of d.

Scale. Distances come back in units of the pool's own scale, a power of two 2**exponent near its
largest embedding norm (its largest centred norm, if recentred), so every rule is invariant to
scaling a pool by any c > 0: dividing by a power of two is exact, and every rule compares
distances only with each other (options holding an absolute length, the DPP bandwidth, are
converted with `Geometry.squared_in_units`). The Gram
product runs on the embeddings as given while the pool's largest squared norm lies in
[2**-SAFE_EXPONENT, 2**SAFE_EXPONENT] (no product overflows; none that matters is subnormal); a
chunk holding a pool outside that range (e.g. embeddings scaled by 1e-200 or 1e160) is
recomputed from embeddings divided per pool by a power of two near their largest |e|.

Translation. The cancellation error of the identity is relative to the pool's mean squared norm
(its "magnitude"), not to its spread around its own mean; when the magnitude exceeds MAX_OFFSET
times the spread (embeddings far from the origin relative to their spread, e.g. after a
translation), the chunk is recomputed from per-pool centred embeddings, so results stay
invariant to translating the embeddings. (Centred coordinates, when not 0, are at least one
rounding unit of the largest |e|, so their products stay in the normal range.)

Distances are computed in the embeddings' working precision: float64 for float64 and integer
embeddings, float32 for other floating dtypes (half precision is upcast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import array_namespace, device, matmul, to_numpy

# float32 arithmetic leaves relative errors of order sqrt(d) * 1.2e-7 of the magnitude; MAX_OFFSET
# bounds the magnitude / spread ratio so that they stay below selection.duplicates.DUPLICATE_RTOL
# of the spread.
MAX_OFFSET = {4: 10.0, 8: 1e3}
# The largest squared norm of a pool may lie in [2**-SAFE_EXPONENT, 2**SAFE_EXPONENT] for the Gram
# product of the raw embeddings (float32: 2**+-126 normal range; float64: 2**+-1022).
SAFE_EXPONENT = {4: 60, 8: 600}


@dataclass(frozen=True)
class Geometry:
    """The pairwise geometry of B pools, lengths in units of 2**exponent per pool."""

    sqdist: object  # (B, N, N) squared distances / 4**exponent; 0 on the diagonal and padding
    exponent: np.ndarray  # (B,) int64 on the host: the unit of length of each pool is 2**exponent
    spread: object  # (B,) mean squared distance to the pool's mean, in units**2
    magnitude: object  # (B,) mean squared norm the Gram identity worked on, in units**2
    sq: object  # (B, N) squared norms of the raw embeddings, non-finite wherever an embedding is

    def squared_in_units(self, length: float, dtype=None):
        """(B,) (length / 2**exponent)**2 on the distances' device, in `dtype` (default: the
        distances' dtype), clipped to [smallest normal, max / 4] of that dtype."""
        xp = array_namespace(self.sqdist)
        dtype = self.sqdist.dtype if dtype is None else dtype
        info = xp.finfo(dtype)
        with np.errstate(over="ignore", under="ignore"):
            unit = np.ldexp(float(length), -self.exponent)  # (B,) float64
            # headroom: the DPP kernel divides by 2 h^2
            squared = np.clip(unit * unit, float(info.smallest_normal), float(info.max) / 4)
        return xp.asarray(squared, dtype=dtype, device=device(self.sqdist))


def work_dtype(embeddings):
    """float64 for float64 and integer embeddings, float32 for other floating dtypes."""
    xp = array_namespace(embeddings)
    if embeddings.dtype == xp.float64 or xp.isdtype(embeddings.dtype, "integral"):
        return xp.float64
    return xp.float32


def _distances_from_gram(e, mask):
    """Through the Gram matrices of zero-padded rows e (B, N, d): D2 (B, N, N), spread (B,) and
    magnitude (B,) in units of 2**unit per pool, unit (B,) int64 host (a power of two near the
    largest norm), and the squared norms (B, N) and their maximum (B,) host, as computed.

    The unit is applied by scaling sq and 2 G by 4**-unit before forming D2: exact, and no pass
    over (B, N, N) beyond the identity itself.
    """
    xp = array_namespace(e)
    gram = matmul(e, xp.matrix_transpose(e))  # (B, N, N)
    size = gram.shape[1]
    eye = xp.eye(size, dtype=gram.dtype, device=device(gram))
    sq = xp.sum(gram * eye[None, :, :], axis=2)  # (B, N) squared norms
    peak = to_numpy(xp.max(sq, axis=1))  # (B,) host
    unit = _floor_log2(peak) // 2  # (B,)
    inv = xp.asarray(np.ldexp(1.0, -2 * unit), dtype=gram.dtype, device=device(gram))  # 4**-unit
    sq_u = sq * inv[:, None]
    m = xp.astype(mask, gram.dtype)
    n = xp.sum(m, axis=1)  # (B,)
    magnitude = xp.sum(sq_u, axis=1) / n  # mean squared norm
    offset = xp.sum(m[:, :, None] * gram * m[:, None, :], axis=(1, 2)) * inv / (n * n)  # ||mean||^2
    spread = xp.clip(magnitude - offset, min=0.0)  # mean squared norm around the pool's mean
    d2 = sq_u[:, :, None] + sq_u[:, None, :] - (2.0 * inv)[:, None, None] * gram
    pair = mask[:, :, None] & mask[:, None, :] & (eye == 0.0)  # (B, N, N)
    d2 = xp.where(pair, xp.clip(d2, min=0.0), xp.zeros_like(d2))
    return d2, spread, magnitude, unit, sq, peak


def _floor_log2(x) -> np.ndarray:
    """(B,) int64 floor(log2 x) of a (B,) array (exact, on the host); 0 where x is 0 or not finite."""
    host = to_numpy(x).astype(np.float64)
    host = np.where(np.isfinite(host) & (host > 0), host, 1.0)
    _, exp = np.frexp(host)  # host = mantissa * 2**exp, mantissa in [0.5, 1)
    return exp.astype(np.int64) - 1


def _largest_abs(e):
    """(B,) largest |e| of each pool of e (B, N, d), without an |e| temporary."""
    xp = array_namespace(e)
    return xp.maximum(xp.max(e, axis=(1, 2)), -xp.min(e, axis=(1, 2)))


def _divide_by_power_of_two(x, exponent):
    """x (B, ...) / 2**exponent[b] per pool: exact (barring underflow)."""
    xp = array_namespace(x)
    power = xp.asarray(np.ldexp(1.0, exponent), dtype=x.dtype, device=device(x))  # (B,)
    return x / xp.reshape(power, (-1,) + (1,) * (x.ndim - 1))


def squared_distances(embeddings, mask) -> Geometry:
    """The geometry of B pools: squared Euclidean distances (B, N, N), spread and magnitude
    (B,), all in units of each pool's scale 2**exponent (a power of two near its largest norm).

    embeddings: (B, N, d) real (integers work in float64, half precision in float32);
    mask: (B, N) bool, padding rows are ignored and get distance 0.
    """
    with np.errstate(all="ignore"):  # overflow is detected and redone; bad input reported later
        return _squared_distances(embeddings, mask)


def _squared_distances(embeddings, mask) -> Geometry:
    xp = array_namespace(embeddings)
    work = work_dtype(embeddings)
    nbytes = 8 if work == xp.float64 else 4
    e = xp.astype(embeddings, work, copy=False)  # (B, N, d)
    if not bool(xp.all(mask)):  # padding rows may hold anything, NaN included
        e = xp.where(mask[:, :, None], e, xp.zeros_like(e))
    d2, spread, magnitude, unit, raw_sq, peak = _distances_from_gram(e, mask)
    shift = np.zeros(e.shape[0], dtype=np.int64)  # e has been divided by 2**shift
    in_range = np.isfinite(peak) & (peak > 0)
    in_range &= np.abs(_floor_log2(peak)) <= SAFE_EXPONENT[nbytes]
    if not in_range.all():  # divide each pool by a power of two near its largest |e|
        shift = _floor_log2(_largest_abs(e))
        e = _divide_by_power_of_two(e, shift)
        d2, spread, magnitude, unit, _, _ = _distances_from_gram(e, mask)
    if bool(xp.any(magnitude > MAX_OFFSET[nbytes] * spread)):  # far from the origin: recentre
        n = xp.sum(xp.astype(mask, work), axis=1)  # (B,)
        mean = xp.sum(e, axis=1) / n[:, None]  # (B, d)
        c = xp.where(mask[:, :, None], e - mean[:, None, :], xp.zeros_like(e))  # centred
        # the unit now comes from the centred norms: magnitude follows it
        d2, spread, _, again, _, _ = _distances_from_gram(c, mask)
        magnitude = _divide_by_power_of_two(magnitude, 2 * (again - unit))
        unit = again
    return Geometry(d2, shift + unit, spread, magnitude, raw_sq)
