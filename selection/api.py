"""The selection API: one call selects k responses per prompt, for a whole dataset at once.

    sel = select("ampo_coreset", rewards, embeddings, k=8, seed=0)
    sel.indices   # (B, k) pool positions of the selected responses, the positive first
    sel.positive  # (B,) position of the positive within the k

rewards (B, N) and embeddings (B, N, d) are numpy arrays (memory-mapped ones too) or torch tensors
on any device; the result comes back in the same library and on the same device. Ragged pools use
the padded layout with mask (B, N) (False = padding). Prompts are processed in chunks of
`chunk_size` rows, so a dataset larger than memory streams through from a memory-mapped file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .arrays import array_namespace, device, gather
from .pool import Pool
from .registry import get_strategy
from .validate import SelectionInputError, check_k, check_shapes


@dataclass(frozen=True)
class Selection:
    """The output of `select`: per prompt, k pool indices and the position of the positive."""

    indices: object  # (B, k) int64
    positive: object  # (B,) int64, position within the k
    strategy: str
    k: int

    @property
    def positive_index(self):
        """(B,) pool index of each prompt's positive."""
        return gather(self.indices, self.positive[:, None])[:, 0]


def _namespace(rewards, embeddings, mask):
    arrays = [a for a in (rewards, embeddings, mask) if a is not None]
    try:
        return array_namespace(*arrays)
    except TypeError as err:
        raise SelectionInputError(
            "rewards, embeddings and mask must come from one array library (all numpy or all "
            f"torch): {err}",
            field="rewards",
        ) from None


def _keys(keys, n_rows: int) -> np.ndarray:
    if keys is None:
        return np.arange(n_rows, dtype=np.int64)
    keys = np.asarray(keys)
    if keys.shape != (n_rows,) or not np.issubdtype(keys.dtype, np.integer):
        raise SelectionInputError(f"keys must be {n_rows} integers, got {keys.shape}", field="keys")
    return keys.astype(np.int64)


def select(
    strategy: str,
    rewards,
    embeddings=None,
    k: int = 8,
    *,
    mask=None,
    seed: int = 0,
    keys=None,
    chunk_size: int = 4096,
    progress: bool | None = None,
    **options,
) -> Selection:
    """Select k responses per prompt with a registered strategy.

    strategy: a key of selection.STRATEGIES; rewards: (B, N); embeddings: (B, N, d), required by
    the distance-based strategies and ignored by the others; mask: (B, N) bool or None.
    seed, keys: the random draws of prompt b depend only on (seed, keys[b]) (keys default to the
    row numbers), never on the batch or the chunking. options: the strategy's options
    (see `get_strategy(name).options`). Bad input raises a ValueError naming prompt and field.
    """
    entry = get_strategy(strategy)
    check_k(k, entry.group_size, strategy)
    opts = entry.make_options(**options)
    geometry = embeddings if entry.needs_embeddings else None
    if entry.needs_embeddings and embeddings is None:
        raise SelectionInputError(
            f"strategy {strategy!r} needs embeddings (B, N, d), got None", field="embeddings"
        )
    xp = _namespace(rewards, geometry, mask)
    check_shapes(rewards, geometry, mask)
    n_rows = rewards.shape[0]
    keys = _keys(keys, n_rows)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    starts = range(0, n_rows, chunk_size)
    show = progress if progress is not None else len(starts) > 1
    indices, positive = [], []
    for start in tqdm(starts, desc=f"select {strategy}", unit="chunk", disable=not show):
        stop = min(start + chunk_size, n_rows)
        pool = Pool.build(
            xp.asarray(rewards[start:stop, ...]),
            None if geometry is None else xp.asarray(geometry[start:stop, ...]),
            None if mask is None else xp.asarray(mask[start:stop, ...]),
            k,
            keys=keys[start:stop],
            seed=seed,
            row_offset=start,
        )
        idx, pos = entry.fn(pool, k, opts)
        indices.append(idx)
        positive.append(pos)
    if not indices:  # an empty batch
        empty = xp.zeros((0, k), dtype=xp.int64, device=device(rewards))
        return Selection(empty, empty[:, 0], strategy, k)
    return Selection(xp.concat(indices), xp.concat(positive), strategy, k)


def select_one(strategy: str, rewards, embeddings=None, k: int = 8, *, seed=0, key=0, **options):
    """Select from one pool: rewards (N,), embeddings (N, d) -> (indices (k,), positive int).

    Gives exactly row b of `select(...)` when called with key=b (the batch's default keys).
    """
    xp = array_namespace(rewards)
    if rewards.ndim != 1:
        raise SelectionInputError(f"rewards must have shape (N,), got {tuple(rewards.shape)}")
    emb = None if embeddings is None else embeddings[None, ...]
    sel = select(
        strategy, rewards[None, ...], emb, k, seed=seed, keys=[key], progress=False, **options
    )
    return sel.indices[0, ...], int(xp.asarray(sel.positive)[0])
