"""Greedy MAP inference of a determinantal point process, batched (Chen, Zhang & Zhou, NeurIPS 2018).

Greedily adds the item maximising log det(L_S) through an incremental Cholesky factorisation:
with c_i the partial Cholesky row of item i and d_i^2 = L_ii - ||c_i||^2 its conditional gain,
each step picks j = argmax d_i^2 and updates e_i = (L_ji - <c_j, c_i>) / d_j, d_i^2 -= e_i^2.
O(N m) per step for all pools at once. The factorisation runs in float64 whatever the kernel's
dtype: late gains are rounding-level, and in float32 their reciprocals overflow.
"""

from __future__ import annotations

from .arrays import array_namespace, device, gather, gather_rows, one_hot

# Conditional gains are clipped here so a numerically singular kernel never divides by zero.
MIN_GAIN = 1e-300


def greedy_map(kernel, candidates, m: int):
    """m items (B, m) of each pool greedily maximising log det(kernel[S, S]) among `candidates`.

    kernel: (B, N, N) positive semi-definite; candidates: (B, N) bool.
    """
    xp = array_namespace(kernel)
    n = kernel.shape[1]
    eye = xp.eye(n, dtype=kernel.dtype, device=device(kernel))
    gain = xp.astype(xp.sum(kernel * eye[None, :, :], axis=2), xp.float64)  # (B, N): L_ii
    chol = []  # list of (B, N) float64 columns of the partial Cholesky factor
    taken = xp.zeros(gain.shape, dtype=xp.bool, device=device(kernel))
    picked = []
    for _ in range(m):
        score = xp.where(candidates & ~taken, gain, xp.full_like(gain, -xp.inf))
        j = xp.argmax(score, axis=1)  # (B,)
        picked.append(j)
        taken = taken | one_hot(j, n)
        d_j = xp.sqrt(xp.clip(gather(gain, j[:, None])[:, 0], min=MIN_GAIN))  # (B,)
        e = xp.astype(gather_rows(kernel, j), xp.float64)  # (B, N)
        for col in chol:
            e = e - gather(col, j[:, None]) * col
        e = e / d_j[:, None]
        chol.append(e)
        gain = gain - e * e
    return xp.stack(picked, axis=1)
