"""The selection API: one call selects k responses per prompt, for a whole dataset at once.

    sel = select("ampo_coreset", rewards, embeddings, k=8, seed=0)
    sel.indices    # (B, k) pool positions of the selected responses, the positive first
    sel.positive   # (B,) position of the positive within the k
    sel.collapsed  # (B,) responses of each pool collapsed as duplicates of others

rewards (B, N) and embeddings (B, N, d) are numpy arrays (memory-mapped ones too) or torch tensors
on any device; the result comes back in the same library and on the same device. Ragged pools use
the padded layout with mask (B, N) (False = padding). Prompts are processed in chunks of
`chunk_size` rows, so a dataset larger than memory streams through from a memory-mapped file.
Distance-based strategies see each pool in units of its own scale (selection.geometry) and with
duplicate responses collapsed to one copy (selection.duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm

from .arrays import device, gather, is_torch_array
from .duplicates import COLLAPSE, MODES
from .pool import Pool
from .registry import get_strategy
from .validate import (
    SelectionInputError,
    check_array,
    check_arrays,
    check_choice,
    check_int,
    check_k,
    check_keys,
    check_progress,
    check_seed,
    check_shapes,
)


@dataclass(frozen=True)
class Selection:
    """The output of `select`: per prompt, k pool indices and the position of the positive."""

    indices: object  # (B, k) int64
    positive: object  # (B,) int64, position within the k
    collapsed: object  # (B,) int64 responses masked out as duplicates (0 for reward-only rules)
    strategy: str
    k: int

    @property
    def positive_index(self):
        """(B,) pool index of each prompt's positive."""
        return gather(self.indices, self.positive[:, None])[:, 0]


def _rows(xp, x, start: int, stop: int):
    """Rows start:stop of x as an array (a memory map's rows are read; tensors are detached:
    selection is not differentiable)."""
    part = x[start:stop, ...]
    return xp.asarray(part.detach() if is_torch_array(part) else part)


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
    duplicates: str = COLLAPSE,
    **options,
) -> Selection:
    """Select k responses per prompt with a registered strategy.

    strategy: a key of selection.STRATEGIES; rewards: (B, N); embeddings: (B, N, d), required by
    the distance-based strategies and ignored by the others; mask: (B, N) bool or None.
    seed (an int >= 0), keys (B ints): the random draws of prompt b depend only on
    (seed, keys[b]) (keys default to the row numbers), never on the batch or the chunking.
    duplicates: "collapse" (identical or near-identical responses count once, the one with the
    highest reward kept; see selection.duplicates) or "error"; reward-only strategies ignore it.
    options: the strategy's options (see `get_strategy(name).options`), checked by kind.
    Bad input raises a ValueError (SelectionInputError) naming prompt and field.
    """
    entry = get_strategy(strategy)
    k = check_k(k, entry.group_size, strategy)
    opts = entry.make_options(**options)
    seed = check_seed(seed)
    chunk_size = check_int(chunk_size, "chunk_size", 1)
    progress = check_progress(progress)
    duplicates = check_choice(duplicates, "duplicates", MODES)
    geometry = embeddings if entry.needs_embeddings else None
    if entry.needs_embeddings and embeddings is None:
        raise SelectionInputError(
            f"strategy {strategy!r} needs embeddings (B, N, d), got None", field="embeddings"
        )
    xp = check_arrays(rewards, geometry, mask)
    check_shapes(rewards, geometry, mask)
    n_rows = rewards.shape[0]
    keys = check_keys(keys, n_rows)
    starts = range(0, n_rows, chunk_size)
    show = progress if progress is not None else len(starts) > 1
    indices, positive, collapsed = [], [], []
    for start in tqdm(starts, desc=f"select {strategy}", unit="chunk", disable=not show):
        stop = min(start + chunk_size, n_rows)
        pool = Pool.build(
            _rows(xp, rewards, start, stop),
            None if geometry is None else _rows(xp, geometry, start, stop),
            None if mask is None else _rows(xp, mask, start, stop),
            k,
            keys=keys[start:stop],
            seed=seed,
            row_offset=start,
            duplicates=duplicates,
        )
        idx, pos = entry.fn(pool, k, opts)
        indices.append(idx)
        positive.append(pos)
        collapsed.append(pool.collapsed)
    if not indices:  # an empty batch
        empty = xp.zeros((0, k), dtype=xp.int64, device=device(rewards))
        return Selection(empty, empty[:, 0], empty[:, 0], strategy, k)
    return Selection(xp.concat(indices), xp.concat(positive), xp.concat(collapsed), strategy, k)


def select_one(strategy: str, rewards, embeddings=None, k: int = 8, *, seed=0, key=0, **options):
    """Select from one pool: rewards (N,), embeddings (N, d) -> (indices (k,), positive int).

    Gives exactly row b of `select(...)` when called with key=b (the batch's default keys).
    """
    xp = check_array(rewards, "rewards")
    if rewards.ndim != 1:
        raise SelectionInputError(
            f"rewards must have shape (N,), got {tuple(rewards.shape)}", field="rewards"
        )
    if embeddings is not None:
        check_array(embeddings, "embeddings")
        if embeddings.ndim != 2:
            raise SelectionInputError(
                f"embeddings must have shape (N, d), got {tuple(embeddings.shape)}",
                field="embeddings",
            )
    key = check_int(key, "key", -(2**63), 2**63 - 1, what="that fits in int64")
    emb = None if embeddings is None else embeddings[None, ...]
    sel = select(
        strategy, rewards[None, ...], emb, k, seed=seed, keys=[key], progress=False, **options
    )
    return sel.indices[0, ...], int(xp.asarray(sel.positive)[0])
