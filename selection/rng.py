"""Counter-based random numbers: a prompt's draws depend on (seed, key, stream), never on the batch.

Each prompt carries an integer key (its row, or a stable hash of its prompt_id). The uniform draws
for that prompt are a hash of (seed, key, stream, counter) through SplitMix64 (Steele et al., 2014),
so a prompt selects the same responses whether it is processed alone, in a batch, in another chunk
or on another device, and numpy and torch backends see identical numbers (they are made on the host
and copied to the array's device).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser applied elementwise to uint64 (wrapping arithmetic)."""
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _as_uint64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).view(np.uint64)


def uniform(seed: int, keys: np.ndarray, stream: int, n: int) -> np.ndarray:
    """Uniform draws in (0, 1], float64 of shape (len(keys), n).

    Draw j of prompt b is a function of (seed, keys[b], stream, j) only.
    """
    with np.errstate(over="ignore"):
        h = _splitmix64(_as_uint64([seed]))  # (1,)
        h = _splitmix64(h ^ _as_uint64(keys))  # (B,)
        h = _splitmix64(h ^ _as_uint64([stream]))  # (B,)
        counters = _as_uint64(np.arange(n))
        h = _splitmix64(h[:, None] ^ _splitmix64(counters)[None, :])  # (B, n)
    return ((h >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
