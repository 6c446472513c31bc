"""Small array helpers written once against the array API standard (numpy and torch alike).

Every selection rule in this package is written with these and the standard namespace returned by
`array_api_compat.array_namespace`, so one source runs on numpy (CPU) and torch (CPU or GPU).
"""

from __future__ import annotations

import warnings

import numpy as np
from array_api_compat import array_namespace, device, is_torch_array, to_device

__all__ = [
    "array_namespace",
    "device",
    "gather",
    "gather_rows",
    "is_torch_array",
    "masked_argsort",
    "matmul",
    "one_hot",
    "to_numpy",
]


def matmul(a, b):
    """Batched matrix product a @ b.

    numpy's stacked matmul runs one small GEMM after another on one thread; for numpy input the
    product goes through torch's batched GEMM on the same memory (torch is a dependency), which
    uses every core, and comes back as numpy; read-only arrays (memory maps) are only read.
    """
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        import torch

        with warnings.catch_warnings():  # read-only input (a memory map): torch only reads it
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
    return a @ b


def one_hot(index, n: int):
    """Boolean (B, n) with True at `index` (B,) of each row."""
    xp = array_namespace(index)
    cols = xp.arange(n, device=device(index))
    return cols[None, :] == index[:, None]


def gather(x, index):
    """x (B, n), index (B, m) -> (B, m): x[b, index[b, j]]."""
    xp = array_namespace(x)
    return xp.take_along_axis(x, index, axis=1)


def gather_rows(matrix, index):
    """matrix (B, n, n), index (B,) -> (B, n): the row `index[b]` of each matrix."""
    xp = array_namespace(matrix)
    b, _, n = matrix.shape
    idx = xp.broadcast_to(index[:, None, None], (b, 1, n))
    return xp.take_along_axis(matrix, idx, axis=1)[:, 0, :]


def masked_argsort(values, mask, descending: bool = False):
    """Stable argsort of each row of values (B, n) with masked-out entries (mask False) last."""
    xp = array_namespace(values)
    fill = -xp.inf if descending else xp.inf
    keyed = xp.where(mask, values, xp.full_like(values, fill))
    return xp.argsort(keyed, axis=1, descending=descending, stable=True)


def to_numpy(x) -> np.ndarray:
    """Host numpy copy of any array API array (numpy, torch, or others through DLPack)."""
    if isinstance(x, np.ndarray):
        return x
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    host = array_namespace(x).__array_namespace_info__().default_device()
    return np.from_dlpack(to_device(x, host))
